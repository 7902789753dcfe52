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

from . import demo
from .admin import setup_admin
from .api import chat as api_chat
from .api import files as api_files
from .api import images as api_images
from .api import messages as api_messages
from .api import models as api_models
from .api import responses as api_responses
from .api import videos as api_videos
from .catalog import load_catalog
from .config.live import ChangeWatcher, LiveSettings, settings_listener
from .config.settings import Settings
from .edge import api_auth, health, hygiene, limits
from .edge.envelope import error_middleware, request_id_middleware
from .gateway import wiring
from .gateway.drain import Drain
from .keys import CATALOG, DRAIN, LIVE_SETTINGS, MEDIA, STARTED_AT, STORAGE, WATCHER, WORKER_ID
from .media.cache import MediaCache, media_ctx
from .stats import metrics
from .storage import describe_storage, make_storage

log = logging.getLogger(__name__)


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
    watcher = app[WATCHER]
    watcher.subscribe(await settings_listener(app[LIVE_SETTINGS], app[STORAGE]))
    await watcher.prime()
    task = asyncio.create_task(watcher.run(), name="change-watcher")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def make_app(settings: Settings) -> web.Application:
    server = settings.server
    if server.demo:
        settings = demo.demo_settings(settings)
    body_mb = settings.security.max_body_size_mb
    app = web.Application(
        # Outermost first; api_auth.setup appends the API-key check innermost.
        middlewares=[request_id_middleware, metrics.metrics_middleware, hygiene.edge_middleware,
                     error_middleware, limits.rate_limit_middleware, hygiene.body_limit_middleware],
        client_max_size=body_mb * 1024 * 1024 if body_mb else 1024**4,
    )
    app[LIVE_SETTINGS] = LiveSettings(settings)
    app[STORAGE] = storage = make_storage(server.storage_type, server.storage_url, server.data_dir)
    app[WORKER_ID] = f"{os.getpid()}-{secrets.token_hex(3)}"
    app[STARTED_AT] = time.time()
    app[WATCHER] = ChangeWatcher(storage)
    app[DRAIN] = drain = Drain()

    async def begin_drain(_: web.Application) -> None:  # on_shutdown runs before aiohttp's drain wait
        drain.begin(server.drain_timeout)

    app.on_shutdown.append(begin_drain)
    app[CATALOG] = load_catalog(server.data_dir)
    app[MEDIA] = MediaCache(server.data_dir, lambda: app[LIVE_SETTINGS].current)
    app.cleanup_ctx.append(storage_ctx)
    app.cleanup_ctx.append(watcher_ctx)
    app.cleanup_ctx.append(media_ctx)
    api_auth.setup(app)
    wiring.install(app)
    limits.setup(app)
    hygiene.setup(app)
    metrics.setup(app)  # after wiring.install: it listens to the stats recorder
    if server.demo:
        demo.mount(app, settings)
    app.router.add_routes(health.routes)
    app.router.add_routes(api_chat.routes)
    app.router.add_routes(api_responses.routes)
    app.router.add_routes(api_messages.routes)
    app.router.add_routes(api_models.routes)
    app.router.add_routes(api_files.routes)
    api_images.setup(app)
    api_videos.setup(app)
    setup_admin(app)
    return app
