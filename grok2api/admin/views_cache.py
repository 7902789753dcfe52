"""Local media cache: counts and sizes, a lazy preview grid, delete one, clear a kind."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..edge.body import read_object
from ..media.cache import KINDS
from . import render
from .view_models import AdminInputError, fmt_bytes, fmt_time, optional_service

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

GRID_PAGE = 48


def media_cache(request: web.Request) -> Any:
    cache = optional_service(request, "MEDIA")
    if cache is None:
        raise AdminInputError("The media cache is not running in this server.")
    return cache


def _kind(value: str) -> str:
    if value not in KINDS:
        raise AdminInputError(f"unknown media kind {value!r}: use image or video")
    return value


async def _context(request: web.Request, kind: str, page: int) -> dict[str, Any]:
    cache = media_cache(request)
    stats = await cache.stats()
    files = await cache.list_files(kind)
    pages = max(1, -(-len(files) // GRID_PAGE))
    page = min(max(1, page), pages)
    shown = files[(page - 1) * GRID_PAGE: page * GRID_PAGE]
    return {"stats": {k: {"count": v["count"], "size": fmt_bytes(v["bytes"])} for k, v in stats.items()},
            "kind": kind, "files": [{"name": f.name, "size": fmt_bytes(f.size), "time": fmt_time(f.mtime)}
                                    for f in shown],
            "page": page, "pages": pages, "count": len(files)}


@routes.get("/cache", name="admin.cache")
async def cache_page(request: web.Request) -> web.StreamResponse:
    kind = _kind(request.query.get("kind", "image"))
    try:
        page = int(request.query.get("page", 1))
    except ValueError:
        page = 1
    if optional_service(request, "MEDIA") is None:
        return render.page(request, "admin/cache.html", {"unavailable": "The media cache is not running in "
                                                                         "this server.", "kind": kind})
    return render.page(request, "admin/cache.html", await _context(request, kind, page),
                       fragment="admin/_cache_grid.html")


@routes.post("/cache/{kind}/{name}/delete", name="admin.cache_delete")
async def cache_delete(request: web.Request) -> web.StreamResponse:
    kind = _kind(request.match_info["kind"])
    if not await media_cache(request).delete(kind, request.match_info["name"]):
        raise web.HTTPNotFound(text="That file is no longer in the cache.")
    return web.Response(text="", content_type="text/html", headers={"HX-Trigger": "cache-changed"})


@routes.post("/cache/{kind}/clear", name="admin.cache_clear")
async def cache_clear(request: web.Request) -> web.StreamResponse:
    kind = _kind(request.match_info["kind"])
    deleted = await media_cache(request).clear(kind)
    ctx = await _context(request, kind, 1)
    ctx["notice"] = f"Deleted {deleted} cached {kind} file(s)."
    return render.fragment(request, "admin/_cache_grid.html", ctx)


# -- JSON API --------------------------------------------------------------------
@api_routes.get("/cache", name="api.cache")
async def api_cache(request: web.Request) -> web.StreamResponse:
    stats = await media_cache(request).stats()
    return web.json_response({f"local_{k}": {"count": v["count"], "size_mb": round(v["bytes"] / 1048576, 2),
                                             "bytes": v["bytes"]} for k, v in stats.items()})


@api_routes.get("/cache/list", name="api.cache_list")
async def api_cache_list(request: web.Request) -> web.StreamResponse:
    kind = _kind(request.query.get("type", "image"))
    try:
        page = max(1, int(request.query.get("page", 1)))
        size = min(500, max(1, int(request.query.get("page_size", 50))))
    except ValueError:
        raise AdminInputError("page and page_size must be integers") from None
    files = await media_cache(request).list_files(kind)
    items = [{"name": f.name, "size_bytes": f.size, "mtime_ms": int(f.mtime * 1000),
              "view_url": f"/v1/files/{kind}/{f.name}"} for f in files[(page - 1) * size: page * size]]
    return web.json_response({"total": len(files), "page": page, "page_size": size, "items": items})


@api_routes.post("/cache/clear", name="api.cache_clear")
async def api_cache_clear(request: web.Request) -> web.StreamResponse:
    body = await read_object(request, empty_ok=True)
    kind = _kind(str(body.get("type", "")))
    deleted = await media_cache(request).clear(kind)
    return web.json_response({"status": "success", "result": {"count": deleted}})


@api_routes.post("/cache/item/delete", name="api.cache_item_delete")
async def api_cache_item_delete(request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    kind = _kind(str(body.get("type", "")))
    if not await media_cache(request).delete(kind, str(body.get("name", ""))):
        raise web.HTTPNotFound(text="no such cached file")
    return web.json_response({"status": "success"})
