"""Every web.AppKey of the application (no module globals anywhere else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .catalog import Catalog
    from .gateway import Gateway
    from .media import MediaCache
    from .pool.pool import Pool
    from .proxies import ProxyManager
    from .runtime import ChangeWatcher, Drain, LiveSettings
    from .security import KeyAuthenticator
    from .stats import Recorder
    from .storage.base import Storage
    from .upstream.client import GrokClient

LIVE_SETTINGS: web.AppKey["LiveSettings"] = web.AppKey("live_settings")
STORAGE: web.AppKey["Storage"] = web.AppKey("storage")
WORKER_ID: web.AppKey[str] = web.AppKey("worker_id", str)
STARTED_AT: web.AppKey[float] = web.AppKey("started_at", float)
WATCHER: web.AppKey["ChangeWatcher"] = web.AppKey("change_watcher")
CATALOG: web.AppKey["Catalog"] = web.AppKey("catalog")
POOL: web.AppKey["Pool"] = web.AppKey("pool")
GROK_CLIENT: web.AppKey["GrokClient"] = web.AppKey("grok_client")
PROXIES: web.AppKey["ProxyManager"] = web.AppKey("proxies")
GATEWAY: web.AppKey["Gateway"] = web.AppKey("gateway")
MEDIA: web.AppKey["MediaCache"] = web.AppKey("media")
API_KEYS: web.AppKey["KeyAuthenticator"] = web.AppKey("api_keys")
RECORDER: web.AppKey["Recorder"] = web.AppKey("recorder")
DRAIN: web.AppKey["Drain"] = web.AppKey("drain")

# Per-request values.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
