"""Imagine waterfall: images stream in over a WebSocket (SSE fallback) as they finish; zip download."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import secrets
import time
import zipfile
from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import WSMsgType, web

from ..edge.body import read_object, read_form
from ..edge.client_ip import client_ip
from ..errors import ApiError
from ..gateway.jobs import CallContext, ImageJob
from ..keys import REQUEST_ID
from ..upstream.events import ImageProgress, ImageReady
from . import render
from .middleware import same_origin
from .sse import sse_response
from .view_models import AdminInputError, optional_service, settings_of

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

MODEL = "grok-imagine-1.0"
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "9:16", "16:9")
COUNTS = (1, 2, 4, 6, 9, 12, 16)
MAX_COUNT = 16
MAX_ZIP_FILES = 200


def parse_start(data: dict[str, Any]) -> tuple[str, str, int]:
    prompt = str(data.get("prompt") or "").strip()
    if not prompt:
        raise AdminInputError("write a prompt first")
    if len(prompt) > 4000:
        raise AdminInputError("the prompt is longer than 4000 characters")
    aspect = str(data.get("aspect_ratio") or "1:1")
    if aspect not in ASPECT_RATIOS:
        raise AdminInputError(f"aspect ratio must be one of {', '.join(ASPECT_RATIOS)}")
    try:
        count = int(data.get("n") or data.get("image_count") or 4)
    except (TypeError, ValueError):
        raise AdminInputError("the image count must be a number") from None
    if not 1 <= count <= MAX_COUNT:
        raise AdminInputError(f"the image count must be between 1 and {MAX_COUNT}")
    return prompt, aspect, count


async def run_imagine(request: web.Request, prompt: str, aspect: str,
                      count: int) -> AsyncGenerator[dict[str, Any], None]:
    """Events for the page: status, progress, image (with its cached URL), error, done.
    Rounds of at most `image.image_ws_max_per_request` images, one after another."""
    gateway = optional_service(request, "GATEWAY")
    run_id = secrets.token_hex(6)
    started = time.monotonic()
    if gateway is None:
        yield {"type": "error", "message": "The gateway is not running in this server, so images cannot be made."}
        return
    pool = getattr(gateway, "pool", None)
    if pool is not None:
        await pool.sync()  # accounts imported a moment ago may not be in this worker's view yet
    per_round = settings_of(request).image.image_ws_max_per_request
    yield {"type": "status", "state": "running", "run_id": run_id, "total": count}
    s = settings_of(request)
    ctx = CallContext(request_id=request.get(REQUEST_ID, ""), key_name="admin-imagine",
                      client_ip=client_ip(request, s.security.trusted_proxy_ips), path=request.path)
    made = 0
    sequence = 0
    while made < count:
        n = min(per_round, count - made)
        job = ImageJob(model=MODEL, prompt=prompt, n=n, aspect_ratio=aspect, ctx=ctx)
        finished_slots: set[int] = set()
        try:
            async for event in gateway.images(job):
                if isinstance(event, ImageProgress):
                    yield {"type": "progress", "slot": made + event.slot, "percent": event.percent,
                           "stage": event.stage}
                elif isinstance(event, ImageReady):
                    finished_slots.add(event.slot)
                    sequence += 1
                    yield {"type": "image", "slot": made + event.slot, "sequence": sequence,
                           "moderated": event.moderated, "name": event.local,
                           "url": f"/v1/files/image/{event.local}" if event.local else "",
                           "elapsed_ms": int((time.monotonic() - started) * 1000)}
        except ApiError as exc:
            yield {"type": "error", "message": exc.message, "code": exc.code}
            return
        made += n
    yield {"type": "status", "state": "done", "run_id": run_id, "images": sequence,
           "elapsed_ms": int((time.monotonic() - started) * 1000)}


@routes.get("/imagine", name="admin.imagine")
async def imagine_page(request: web.Request) -> web.StreamResponse:
    return render.page(request, "admin/imagine.html", {
        "aspect_ratios": ASPECT_RATIOS, "counts": COUNTS,
        "available": optional_service(request, "GATEWAY") is not None,
        "transport": request.query.get("transport", "auto"),
    })


@api_routes.get("/imagine/ws", name="api.imagine_ws")
async def imagine_ws(request: web.Request) -> web.StreamResponse:
    """Client: {"type": "start", prompt, aspect_ratio, n} / {"type": "stop"}. Server: the events."""
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    task: asyncio.Task[None] | None = None

    async def pump(prompt: str, aspect: str, count: int) -> None:
        try:
            async for event in run_imagine(request, prompt, aspect, count):
                await ws.send_json(event)
        except (ConnectionResetError, RuntimeError):
            pass
        except Exception:
            log.exception("imagine run failed")
            with contextlib.suppress(Exception):
                await ws.send_json({"type": "error", "message": "the run failed on the server; see its log"})

    async def stop() -> None:
        nonlocal task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await ws.send_json({"type": "status", "state": "stopped"})
        task = None

    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                await ws.send_json({"type": "error", "message": "messages must be JSON"})
                continue
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "start":
                await stop()
                try:
                    prompt, aspect, count = parse_start(data)
                except AdminInputError as exc:
                    await ws.send_json({"type": "error", "message": str(exc)})
                    continue
                task = asyncio.create_task(pump(prompt, aspect, count), name="admin-imagine")
            elif kind == "stop":
                await stop()
            else:
                await ws.send_json({"type": "error", "message": "unknown message type"})
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return ws


@api_routes.get("/imagine/sse", name="api.imagine_sse")
async def imagine_sse(request: web.Request) -> web.StreamResponse:
    """The fallback: the same events as SSE `message`s; the client stops by closing the stream.
    A GET that starts generations: like the WebSocket, refused when a browser says it comes from
    another origin (an EventSource on someone else's page riding the admin's session)."""
    if not same_origin(request):
        raise ApiError("cross-origin request refused", status=403, code="bad_origin")
    prompt, aspect, count = parse_start(dict(request.query))
    stream = await sse_response(request)
    gen = run_imagine(request, prompt, aspect, count)
    try:
        async for event in gen:
            if not await stream.send("message", json.dumps(event)):
                break
    finally:
        await gen.aclose()
    await stream.send("end", "{}")
    await stream.close()
    return stream.response


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # JPEG/PNG do not compress further
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


async def zip_response(request: web.Request, names: list[str]) -> web.StreamResponse:
    cache = optional_service(request, "MEDIA")
    if cache is None:
        raise AdminInputError("The media cache is not running in this server.")
    names = list(dict.fromkeys(n for n in names if n))[:MAX_ZIP_FILES]
    if not names:
        raise AdminInputError("no finished images to download yet")
    files = []
    for i, name in enumerate(names, 1):
        if not cache.valid_name("image", name):
            raise AdminInputError(f"{name[:60]!r} is not a cached image name")
        try:
            files.append((f"imagine-{i:02d}.{name.rsplit('.', 1)[-1]}", await cache.read("image", name)))
        except FileNotFoundError:
            continue  # deleted from the cache meanwhile: zip the others
    if not files:
        raise AdminInputError("those images are no longer in the cache")
    body = await asyncio.to_thread(_zip, files)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return web.Response(body=body, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="imagine-{stamp}.zip"'})


@routes.post("/imagine/zip", name="admin.imagine_zip")
async def imagine_zip(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    return await zip_response(request, [str(n) for n in form.getall("names", [])])


@api_routes.post("/imagine/zip", name="api.imagine_zip")
async def api_imagine_zip(request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    names = body.get("names")
    if not isinstance(names, list):
        raise AdminInputError('send {"names": ["<cached image name>", ...]}')
    return await zip_response(request, [str(n) for n in names])
