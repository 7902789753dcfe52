"""Every web.AppKey of the application (no module globals anywhere else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .runtime import LiveSettings
    from .storage.base import Storage

LIVE_SETTINGS: web.AppKey["LiveSettings"] = web.AppKey("live_settings")
STORAGE: web.AppKey["Storage"] = web.AppKey("storage")
WORKER_ID: web.AppKey[str] = web.AppKey("worker_id", str)
STARTED_AT: web.AppKey[float] = web.AppKey("started_at", float)
