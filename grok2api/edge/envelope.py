"""Request id and error envelopes: OpenAI, Anthropic or admin shapes by path (applied by edge/chain.py)."""

from __future__ import annotations

import logging
import random
from typing import Any

from aiohttp import web

from ..errors import anthropic_error, openai_error
from ..keys import REQUEST_ID

log = logging.getLogger(__name__)


def is_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages")


def error_response(request: web.Request, status: int, message: str, type_: str,
                   code: str | None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """Render an error in the caller's own format."""
    path = request.path
    body: dict[str, Any]
    if is_anthropic(path):
        body = anthropic_error(status, message, request.get(REQUEST_ID, ""))
    else:
        body = openai_error(message, type_, code, param)
    resp = web.json_response(body, status=status, headers=headers)
    return resp


def request_id(request: web.Request) -> str:
    """The caller's X-Request-Id when it is short and printable, otherwise one of our own."""
    rid = request.headers.get("X-Request-Id", "")
    if not rid or len(rid) > 64 or not rid.isprintable():
        # Unique, not secret (a caller may send its own): the module generator, reseeded in forked workers.
        rid = f"{random.getrandbits(64):016x}"
    return rid


def http_error_response(request: web.Request, exc: web.HTTPException) -> web.Response | None:
    """aiohttp's own 4xx/5xx in the caller's envelope; None when it must go out as aiohttp made it
    (redirects and the like, the admin's pages and static files)."""
    if exc.status < 400 or request.path.startswith("/admin") or request.path.startswith("/static"):
        return None
    type_ = "invalid_request_error" if exc.status < 500 else "server_error"
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status)
    message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    return error_response(request, exc.status, message, type_, code, headers={
        k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")})


def internal_error_response(request: web.Request) -> web.Response:
    """An unexpected exception: logged with its traceback, answered as a 500 naming the request."""
    log.exception("unhandled error on %s %s (request %s)", request.method, request.path,
                  request.get(REQUEST_ID, "-"))
    return error_response(request, 500, "internal server error; see the server log for request "
                          + str(request.get(REQUEST_ID, "-")), "server_error", "internal_error")
