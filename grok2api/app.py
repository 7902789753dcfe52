"""make_app(settings): assembles areas, middlewares and resources; does no I/O itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import web

from . import ops
from .keys import LIVE_SETTINGS, STARTED_AT, STORAGE, WORKER_ID
from .middleware import error_middleware, request_id_middleware
from .runtime import ChangeWatcher, LiveSettings, settings_listener
from .settings import Settings
from .storage import describe_storage, make_storage

log = logging.getLogger(__name__)

WATCHER: web.AppKey[ChangeWatcher] = web.AppKey("change_watcher", ChangeWatcher)


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open storage (applying migrations), then layer the admin-saved config over the file."""
    storage = app[STORAGE]
    server = app[LIVE_SETTINGS].current.server
    log.info("storage: %s", describe_storage(server.storage_type, server.storage_url))
    await storage.open()
    try:
        await app[LIVE_SETTINGS].apply_overrides(storage)
        yield
    finally:
        await storage.close()


async def watcher_ctx(app: web.Application) -> AsyncIterator[None]:
    """Poll the storage change counters so every worker applies admin changes within a second."""
    watcher = ChangeWatcher(app[STORAGE])
    watcher.subscribe(await settings_listener(app[LIVE_SETTINGS], app[STORAGE]))
    app[WATCHER] = watcher
    await watcher.prime()
    task = asyncio.create_task(watcher.run(), name="change-watcher")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def make_app(settings: Settings) -> web.Application:
    server = settings.server
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware],
        client_max_size=max(1, settings.security.max_body_size_mb) * 1024 * 1024
        if settings.security.max_body_size_mb else 1024**4,
    )
    app[LIVE_SETTINGS] = LiveSettings(settings)
    app[STORAGE] = make_storage(server.storage_type, server.storage_url, server.data_dir)
    app[WORKER_ID] = f"{os.getpid()}-{secrets.token_hex(3)}"
    app[STARTED_AT] = time.time()
    app.cleanup_ctx.append(storage_ctx)
    app.cleanup_ctx.append(watcher_ctx)
    app.router.add_routes(ops.routes)
    return app
