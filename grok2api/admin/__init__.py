"""The admin: server-rendered HTMX pages under /admin and the JSON admin API under /api/v1/admin."""

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

__all__ = ["ADMIN_STATE", "setup_admin"]

_AREAS = (views_auth, views_tokens, api_tokens, views_keys, views_stats, views_egress, views_cache, views_config,
          views_imagine, views_voice)


def _url_for(apps: tuple[web.Application, ...]) -> Any:
    def url(route: str, /, query: dict[str, str] | None = None, **parts: str) -> str:
        for app in apps:
            if route in app.router:
                built = app.router[route].url_for(**{k: str(v) for k, v in parts.items()})
                return str(built.with_query(query) if query else built)
        raise KeyError(f"no admin route named {route!r}")

    return url


async def _admin_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    with contextlib.suppress(Exception):
        await app[ADMIN_STATE].batches.close()


def setup_admin(app: web.Application) -> None:
    """Add the admin to the application: sub-apps /admin and /api/v1/admin, /static, state."""
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

    async def admin_root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/admin/")

    app.router.add_get("/admin", admin_root, name="admin_root")
    app.add_subapp("/admin", pages)
    app.add_subapp("/api/v1/admin", api)
    if "static" not in app.router:
        app.router.add_static("/static", paths.static_dir(), name="static")
    app.cleanup_ctx.append(_admin_ctx)
