"""The only code that knows grok.com: builders, parsers and a thin curl_cffi transport.

May import: jsonfast, ids.
fakegrok and upstream never import each other.
"""

from .chat import ChatRequest, flatten_messages
from .client import GrokClient
from .errors import ErrorKind, UpstreamError
from .limits import ProductQuota, RateLimits
from .options import UpstreamConfig
from .uploads import UploadedFile

__all__ = ["ChatRequest", "ErrorKind", "GrokClient", "ProductQuota", "RateLimits", "UpstreamConfig",
           "UpstreamError", "UploadedFile", "flatten_messages"]
