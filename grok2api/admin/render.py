"""Rendering: one helper decides full page or htmx fragment; error pages and fragments."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ..keys import CSRF_TOKEN, LIVE_SETTINGS, SESSION

NAV = (
    ("tokens", "Tokens"),
    ("keys", "Keys"),
    ("stats", "Stats"),
    ("egress", "Egress"),
    ("logs", "Logs"),
    ("cache", "Cache"),
    ("config", "Config"),
    ("imagine", "Imagine"),
    ("voice", "Voice"),
)


def is_htmx(request: web.Request) -> bool:
    """An htmx request that wants a fragment (a boosted navigation wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def base_context(request: web.Request) -> dict[str, Any]:
    session = request.get(SESSION)
    return {
        "session": session,
        "csrf_token": request.get(CSRF_TOKEN, ""),
        "nav": NAV,
        "active": (request.match_info.route.name or "").removeprefix("admin.").split("_")[0],
        "request": request,
        "settings": request.config_dict[LIVE_SETTINGS].current,
    }


def page(request: web.Request, template: str, context: dict[str, Any], *, fragment: str | None = None,
         status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Render `template` (a page extending base.html) or, for htmx, only `fragment` — the very
    file the page includes, so both always agree. Sends Vary: HX-Request for caches."""
    ctx = base_context(request) | context
    name = fragment if fragment and is_htmx(request) else template
    resp = aiohttp_jinja2.render_template(name, request, ctx, status=status)
    resp.headers["Vary"] = "HX-Request"
    if headers:
        resp.headers.update(headers)
    return resp


def fragment(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200,
             headers: dict[str, str] | None = None) -> web.Response:
    """A fragment on its own (answers to htmx actions)."""
    resp = aiohttp_jinja2.render_template(template, request, base_context(request) | context, status=status)
    resp.headers["Vary"] = "HX-Request"
    if headers:
        resp.headers.update(headers)
    return resp


def render_string(request: web.Request, template: str, context: dict[str, Any]) -> str:
    return aiohttp_jinja2.render_string(template, request, base_context(request) | context)


def error(request: web.Request, status: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """A readable error: a fragment shown in the page's message area for htmx, a page otherwise."""
    if is_htmx(request):
        return fragment(request, "admin/_error.html", {"status": status, "message": message}, status=status,
                        headers={**(headers or {}), "HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    resp = aiohttp_jinja2.render_template("admin/error.html", request,
                                          base_context(request) | {"status": status, "message": message},
                                          status=status)
    if headers:
        resp.headers.update(headers)
    return resp
