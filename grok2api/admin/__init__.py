"""The admin: server-rendered HTMX pages under /admin and the JSON admin API under /api/v1/admin.
Views parse input, call domain functions (access/, pool/ops.py, config/) and render; they never write
storage themselves. make_app mounts the sub-apps that provide() builds.

May import: access, pool, gateway.jobs, gateway.model_check, edge.client_ip, edge.body, egress.pool, media, config,
catalog, storage.base, upstream.errors, upstream.events, upstream.statsig_chain, doctor, errors, keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..config import paths
from ..keys import ADMIN_STATE, API_APP, PAGES_APP, STORAGE
from . import (
    api_tokens,
    views_auth,
    views_cache,
    views_config,
    views_doctor,
    views_egress,
    views_imagine,
    views_keys,
    views_stats,
    views_tokens,
    views_voice,
)
from .auth import CSRF_HEADER
from .middleware import api_middleware, pages_middleware
from .state import AdminState
from .view_models import dumps

__all__ = ["PAGES_PREFIX", "API_PREFIX", "admin_ctx", "provide", "routes"]

PAGES_PREFIX, API_PREFIX = "/admin", "/api/v1/admin"
# The main app's own admin routes: /admin -> /admin/, and the static files the pages use.
routes = web.RouteTableDef()

_AREAS = (views_auth, views_tokens, api_tokens, views_keys, views_stats, views_egress, views_cache, views_config,
          views_imagine, views_voice, views_doctor)


def _url_for(apps: tuple[web.Application, ...]) -> Any:
    def url(route: str, /, query: dict[str, str] | None = None, **parts: str) -> str:
        for app in apps:
            if route in app.router:
                built = app.router[route].url_for(**{k: str(v) for k, v in parts.items()})
                return str(built.with_query(query) if query else built)
        raise KeyError(f"no admin route named {route!r}")

    return url


async def admin_ctx(app: web.Application) -> AsyncIterator[None]:
    """Stops the admin's batch jobs (refresh, NSFW enable, delete) still running at shutdown."""
    yield
    with contextlib.suppress(Exception):
        await app[ADMIN_STATE].batches.close()


@routes.get("/admin", name="admin_root")
async def admin_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/admin/")


routes.static("/static", paths.static_dir(), name="static")


def provide(app: web.Application) -> None:
    """Put the admin's state and its two sub-apps (pages and JSON API, not yet mounted) under their AppKeys."""
    app[ADMIN_STATE] = AdminState(app[STORAGE])
    pages = web.Application(middlewares=[pages_middleware])
    api = web.Application(middlewares=[api_middleware])
    for area in _AREAS:
        pages.router.add_routes(area.routes)
        api.router.add_routes(area.api_routes)
    env = aiohttp_jinja2.setup(
        pages, loader=jinja2.FileSystemLoader(str(paths.templates_dir())),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined, default_helpers=False)
    env.globals.update(url=_url_for((pages, api)), static=lambda path: f"/static/{path}",
                       csrf_header=CSRF_HEADER, tojson=dumps)
    app[PAGES_APP] = pages
    app[API_APP] = api
