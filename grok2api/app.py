"""make_app(settings): assembles areas, middlewares and resources; does no I/O itself."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import web

from . import admin, demo
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
from .edge import api_auth, chain, health, rate_limit
from .gateway import wiring
from .gateway.drain import Drain, begin_drain
from .keys import (
    API_APP,
    CATALOG,
    DRAIN,
    FETCH_BUDGET,
    LIVE_SETTINGS,
    MEDIA,
    PAGES_APP,
    STARTED_AT,
    STORAGE,
    WATCHER,
    WORKER_ID,
)
from .media.budget import ByteBudget
from .media.cache import MediaCache, media_ctx
from .periodic import periodic
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
    async with periodic("change-watcher", watcher.poll_once, watcher.interval):
        yield


def provide(app: web.Application, settings: Settings) -> None:
    """Put the core objects under their AppKeys: live settings, storage (not yet open), the change
    watcher, the catalog, the media cache, the shutdown drain and this worker's identity."""
    server = settings.server
    app[LIVE_SETTINGS] = live = LiveSettings(settings)
    app[STORAGE] = storage = make_storage(server.storage_type, server.storage_url, server.data_dir)
    app[WORKER_ID] = f"{os.getpid()}-{secrets.token_hex(3)}"
    app[STARTED_AT] = time.time()
    app[WATCHER] = ChangeWatcher(storage)
    app[DRAIN] = Drain()
    app[CATALOG] = load_catalog(server.data_dir)
    app[MEDIA] = MediaCache(server.data_dir, lambda: live.current)
    # Read at start: the attachment bytes this worker's fetches may hold at once.
    app[FETCH_BUDGET] = ByteBudget(settings.security.attachments_memory_mb * 1024 * 1024)


def make_app(settings: Settings) -> web.Application:
    if settings.server.demo:
        settings = demo.demo_settings(settings)
    demo_mode = settings.server.demo
    body_mb = settings.security.max_body_size_mb
    app = web.Application(
        client_max_size=body_mb * 1024 * 1024 if body_mb else 1024**4,
    )
    # The whole edge is one middleware (edge/chain.py lists its steps): request id, metrics, CORS,
    # error envelopes, the per-IP limit, the body limit, the API key.
    app.middlewares.append(chain.edge_middleware(app))
    # Objects under their AppKeys, no I/O; later areas use what earlier ones put.
    provide(app, settings)
    api_auth.provide(app)
    # The admin limits itself (admin.middleware); the demo's fake serves the gateway's own upstream calls.
    rate_limit.provide(app, exempt=(admin.PAGES_PREFIX, admin.API_PREFIX, *([demo.PREFIX] if demo_mode else [])))
    wiring.provide(app)
    metrics.provide(app)  # after wiring: it listens to the stats recorder
    api_images.provide(app)
    api_videos.provide(app)
    admin.provide(app)
    app.on_response_prepare.append(chain.prepare_hook(app))
    app.on_shutdown.append(begin_drain)  # on_shutdown runs before aiohttp's drain wait
    # Opened in this order at start, closed in reverse at shutdown.
    app.cleanup_ctx.extend([
        storage_ctx,             # open storage, then apply the admin-saved config
        watcher_ctx,             # needs storage open: polls its change counters
        media_ctx,               # media cache cleanup
        api_auth.key_uses_ctx,   # API keys' use counters; flushed at shutdown while storage is open
        wiring.services_ctx,     # upstream sessions, pool, stats flush/prune, quota refresher
        rate_limit.limiter_ctx,  # the limiter's Redis connection
        *([demo.demo_ctx] if demo_mode else []),  # demo accounts: needs storage and the pool
        api_videos.jobs_ctx,     # running video jobs cancelled first at shutdown
        admin.admin_ctx,         # admin batch jobs cancelled first at shutdown
    ])
    for table in (health.routes, metrics.routes, api_chat.routes, api_responses.routes, api_messages.routes,
                  api_models.routes, api_files.routes, api_images.routes, api_videos.routes, admin.routes):
        app.router.add_routes(table)
    app.add_subapp(admin.PAGES_PREFIX, app[PAGES_APP])
    app.add_subapp(admin.API_PREFIX, app[API_APP])
    if demo_mode:
        app.add_subapp(demo.PREFIX + "/", demo.fake_app(settings))
    return app
