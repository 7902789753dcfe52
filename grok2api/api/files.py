"""GET /v1/files/{image,video}/{name}: cached media, no API key (the unguessable name is the secret)."""

from __future__ import annotations

from aiohttp import web

from ..errors import NotFound
from ..keys import MEDIA

routes = web.RouteTableDef()
# Names never change content, so clients and proxies may keep them for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"


async def _serve(request: web.Request, kind: str) -> web.StreamResponse:
    name = request.match_info["name"]
    media = request.app[MEDIA]
    path = media.path(kind, name)  # None for anything that is not a name the cache makes
    if path is None or not path.is_file():
        raise NotFound(f"No such {kind}.", code="file_not_found")
    return web.FileResponse(path, headers={
        "Content-Type": media.mime(kind, name),
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
    })


@routes.get("/v1/files/image/{name}")
async def image_file(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "image")


@routes.get("/v1/files/video/{name}")
async def video_file(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "video")
