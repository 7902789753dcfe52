"""POST /v1/images/generations and /v1/images/edits: OpenAI image bodies -> gateway jobs.

Decisions:
- `model` defaults to the catalog's image model (`grok-imagine-1.0`, else the first image model;
  edits: `grok-imagine-1.0-edit`, else the first edit model).
- `n` is 1–10. Generations run as ceil(n / per_round) upstream rounds in parallel, each asking
  for at most `image.image_ws_max_per_request` (capped at 6) images; all rounds of all requests
  share one semaphore of `performance.media_max_concurrent` (sized when the app starts).
- `response_format` `url` | `b64_json` (`base64` accepted as an alias); the default is `b64_json`,
  as in the seed. URLs are `{app.app_url}/v1/files/image/{name}` from the local media cache.
- `size` (`WxH`) maps to the nearest supported aspect ratio by log distance, see SIZE_RATIOS;
  `aspect_ratio` may be sent directly. `auto`/absent -> 1:1.
- Moderated images are never silently dropped: if every image was moderated (or failed with
  nothing to show) the answer is 400 `content_policy_violation`; otherwise the rest are returned
  and the top-level `grok2api` object says how many were `moderated` / `failed` (also the headers
  `x-grok2api-moderated` / `x-grok2api-failed`), and each item's `revised_prompt` is the prompt.
- Streaming (`stream: true`) sends `image_generation.partial_image` events for progress (with
  `progress` percent and an empty `b64_json`: Imagine previews are not forwarded) and one
  `image_generation.completed` event per finished image (with `b64_json`, or `url` when
  `response_format=url`), then `data: [DONE]`. A moderated image becomes an
  `image_generation.moderated` event; a failure after the first byte an `error` event.
- Edits accept OpenAI multipart (`image` or repeated `image[]`, up to MAX_EDIT_IMAGES) and the
  seed's JSON form (`image` as a URL / data URL, or a list of them); `mask` is refused.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from ..edge.api_auth import check_model_allowed
from ..errors import ApiError, InvalidRequest, UpstreamFailed, UpstreamTimeout
from ..gateway.jobs import Attachment, CallContext, EditJob, ImageJob
from ..keys import API_KEY, CATALOG, GATEWAY, LIVE_SETTINGS, MEDIA, MEDIA_SLOTS, REQUEST_ID
from ..upstream.events import Event, ImageProgress, ImageReady
from . import sse
from .answer import no_client_retry, read_json
from .attachments import fetch_policy, load_attachments
from .chat import write_stream_error
from .chat_request import AttachmentRef

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_N = 10
MAX_EDIT_IMAGES = 3  # the seed and peers send at most a few inputs to imageToImage
# Supported ratios (what the Imagine WebSocket accepts and the seed documents), width / height.
SIZE_RATIOS: dict[str, float] = {
    "1:1": 1.0, "2:3": 2 / 3, "3:2": 3 / 2, "3:4": 3 / 4, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9,
}
# e.g. 1024x1024 -> 1:1, 1024x1536 -> 2:3, 1536x1024 -> 3:2, 1024x1792 / 720x1280 -> 9:16,
#      1792x1024 / 1280x720 -> 16:9, 1024x768 -> 4:3, 768x1024 -> 3:4, 512x512 / 256x256 -> 1:1.
IMAGE_MODEL, EDIT_MODEL = "grok-imagine-1.0", "grok-imagine-1.0-edit"


def provide(app: web.Application) -> None:
    """Put the media concurrency limiter under MEDIA_SLOTS (sized from the settings at build time)."""
    app[MEDIA_SLOTS] = asyncio.Semaphore(app[LIVE_SETTINGS].current.performance.media_max_concurrent)


def aspect_for_size(size: Any, default: str = "1:1") -> str:
    """`WxH` -> the nearest supported ratio; a ratio itself passes through when supported."""
    if size is None or size == "" or size == "auto":
        return default
    if not isinstance(size, str):
        raise InvalidRequest("`size` must be a string like 1024x1024.", param="size")
    text = size.strip().lower()
    if text in SIZE_RATIOS:
        return text
    try:
        w, h = (float(part) for part in text.split("x", 1))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise InvalidRequest(f"`size` {size!r} is not WIDTHxHEIGHT.", param="size") from None
    target = math.log(w / h)
    return min(SIZE_RATIOS, key=lambda k: abs(math.log(SIZE_RATIOS[k]) - target))


def default_model(request: web.Request, kind: str, preferred: str) -> str:
    catalog = request.app[CATALOG]
    if preferred in catalog:
        return preferred
    for route in catalog.all():
        if route.kind == kind:
            return route.id
    return preferred


def ctx_for(request: web.Request, stream: bool) -> CallContext:
    key = request.get(API_KEY)
    return CallContext(request_id=request.get(REQUEST_ID, ""), key_id=key.id if key else "",
                       key_name=key.name if key else "", client_ip=request.remote or "",
                       path=request.path, stream=stream)


def parse_n(value: Any) -> int:
    if value is None or value == "":
        return 1
    try:
        n = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and n != value):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidRequest("`n` must be an integer.", param="n") from None
    if not 1 <= n <= MAX_N:
        raise InvalidRequest(f"`n` must be between 1 and {MAX_N}.", param="n")
    return n


def parse_bool(value: Any, param: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise InvalidRequest(f"`{param}` must be a boolean.", param=param)


def parse_format(value: Any) -> str:
    if value is None or value == "":
        return "b64_json"
    if value == "base64":
        return "b64_json"
    if value not in ("url", "b64_json"):
        raise InvalidRequest("`response_format` must be `url` or `b64_json`.", param="response_format")
    return str(value)


def parse_prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("`prompt` is required.", param="prompt")
    return value


@dataclass(slots=True)
class Batch:
    """The images of one request as they arrive from one or more upstream rounds."""

    n: int
    images: dict[int, ImageReady] = field(default_factory=dict)
    moderated: int = 0
    errors: list[ApiError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return max(0, self.n - len(self.images) - self.moderated)


async def _round(events: Callable[[], AsyncIterator[Event]], offset: int, slots: asyncio.Semaphore,
                 out: asyncio.Queue[Any]) -> None:
    async with slots:
        try:
            async for event in events():
                if isinstance(event, (ImageReady, ImageProgress)):
                    event.slot += offset
                    await out.put(event)
        except ApiError as exc:
            await out.put(exc)
        except Exception:  # a bug in one round must not hide the other rounds' images
            log.exception("image round failed")
            await out.put(UpstreamFailed("internal error while generating an image", code="internal_error"))


def plan_rounds(n: int, per_round: int) -> list[tuple[int, int]]:
    """(offset, count) of each upstream round."""
    per_round = max(1, min(6, per_round))
    return [(start, min(per_round, n - start)) for start in range(0, n, per_round)]


class Producer:
    """Runs the rounds as tasks feeding one queue; `None` marks the end."""

    def __init__(self, rounds: list[Callable[[], AsyncIterator[Event]]], offsets: list[int],
                 slots: asyncio.Semaphore) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.tasks = [asyncio.create_task(_round(r, o, slots, self.queue)) for r, o in zip(rounds, offsets)]
        self._waiter = asyncio.create_task(self._finish())

    async def _finish(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.queue.put(None)

    async def close(self) -> None:
        for task in (*self.tasks, self._waiter):
            task.cancel()
        await asyncio.gather(*self.tasks, self._waiter, return_exceptions=True)


class Images:
    """One generation or edit request: its rounds and how its results are rendered."""

    def __init__(self, request: web.Request, model: str, prompt: str, n: int, response_format: str) -> None:
        self.request = request
        self.model = model
        self.prompt = prompt
        self.n = n
        self.response_format = response_format
        self.batch = Batch(n)
        settings = request.app[LIVE_SETTINGS].current
        self.base = settings.app.app_url.rstrip("/")
        self.idle = settings.timeout.stream_idle_timeout
        self.keepalive = settings.performance.sse_keepalive_sec
        self.created = int(time.time())
        self._partials = 0

    async def item(self, event: ImageReady) -> dict[str, Any]:
        media = self.request.app[MEDIA]
        name = event.local or (await media.store("image", event.data, event.mime) if event.data else "")
        if not name:
            raise UpstreamFailed("an image came back without content")
        if self.response_format == "url":
            return {"url": f"{self.base}/v1/files/image/{name}", "revised_prompt": self.prompt}
        data = await media.read("image", name)
        return {"b64_json": base64.b64encode(data).decode(), "revised_prompt": self.prompt}

    def _take(self, item: Any) -> None:
        if isinstance(item, ImageReady):
            if item.moderated:
                self.batch.moderated += 1
            else:
                self.batch.images[item.slot] = item
        elif isinstance(item, ApiError):
            self.batch.errors.append(item)

    def _outcome_error(self) -> ApiError | None:
        """Nothing to show: the reason, moderation first."""
        if self.batch.images:
            return None
        if self.batch.moderated:
            return InvalidRequest(
                f"Grok moderated all {self.batch.moderated} image(s) for this prompt.",
                code="content_policy_violation", param="prompt")
        if self.batch.errors:
            return no_client_retry(self.batch.errors[0])
        return UpstreamFailed("Grok returned no image.")

    def summary(self) -> dict[str, int]:
        return {"requested": self.n, "returned": len(self.batch.images), "moderated": self.batch.moderated,
                "failed": self.batch.failed}

    def _headers(self) -> dict[str, str]:
        return {"x-grok2api-moderated": str(self.batch.moderated), "x-grok2api-failed": str(self.batch.failed)}

    async def _next(self, producer: Producer, timeout: float) -> Any:
        return await asyncio.wait_for(producer.queue.get(), timeout)

    async def collect(self, producer: Producer) -> web.Response:
        while True:
            try:
                item = await self._next(producer, self.idle)
            except TimeoutError:
                raise UpstreamTimeout(f"no image from Grok for {self.idle:g} s") from None
            if item is None:
                break
            self._take(item)
        error = self._outcome_error()
        if error is not None:
            raise error
        data = [await self.item(self.batch.images[slot]) for slot in sorted(self.batch.images)]
        body: dict[str, Any] = {"created": self.created, "data": data,
                                "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                                          "input_tokens_details": {"text_tokens": 0, "image_tokens": 0}}}
        if self.batch.moderated or self.batch.failed:
            body["grok2api"] = self.summary()
        return web.json_response(body, dumps=sse.dumps, headers=self._headers())

    async def stream(self, producer: Producer, prefix: str) -> web.StreamResponse:
        """`prefix` is image_generation or image_edit."""
        # Hold the headers until the first finished image, the end, or one keepalive interval: fast
        # failures (no account, all moderated, upstream refused) then keep their real HTTP status.
        pending: list[Any] = []
        ended = False
        hold_until = time.monotonic() + min(self.keepalive, self.idle)
        while not ended:
            try:
                first = await self._next(producer, max(0.0, hold_until - time.monotonic()))
            except TimeoutError:
                break
            if first is None:
                ended = True
                break
            pending.append(first)
            if isinstance(first, ImageReady) and not first.moderated:
                break
        if ended:
            for item in pending:
                self._take(item)
            error = self._outcome_error()
            if error is not None:
                raise error
            self.batch = Batch(self.n)  # counted again as the frames are written
        response = await sse.open_stream(self.request, {"X-Request-Id": self.request.get(REQUEST_ID, "")})
        last = time.monotonic()
        deadline = last + self.idle
        sent_progress: dict[int, int] = {}
        try:
            while pending or not ended:
                if pending:
                    item = pending.pop(0)
                else:
                    try:
                        item = await self._next(producer, max(0.01, min(last + self.keepalive, deadline)
                                                             - time.monotonic()))
                    except TimeoutError:
                        if time.monotonic() >= deadline:
                            raise UpstreamTimeout(f"no image from Grok for {self.idle:g} s") from None
                        await response.write(sse.KEEPALIVE)
                        last = time.monotonic()
                        continue
                    if item is None:
                        break
                deadline = time.monotonic() + self.idle
                frame = await self._frame(item, prefix, sent_progress)
                if frame:
                    await response.write(frame)
                    last = time.monotonic()
            error = self._outcome_error()
            if error is not None:
                raise error
            await response.write(sse.DONE)
        except ConnectionResetError:
            return response
        except Exception as exc:  # noqa: BLE001 - after the first byte every failure becomes an error event
            await write_stream_error(response, [], exc, "images")
        return response

    async def _frame(self, item: Any, prefix: str, sent_progress: dict[int, int]) -> bytes:
        self._take(item)
        if isinstance(item, ImageProgress):
            if sent_progress.get(item.slot) == item.percent:
                return b""
            index = self._partials
            self._partials += 1
            sent_progress[item.slot] = item.percent
            return event_frame(f"{prefix}.partial_image", {
                "type": f"{prefix}.partial_image", "b64_json": "", "created_at": self.created,
                "image_index": item.slot, "partial_image_index": index,
                "progress": item.percent, "size": "auto", "quality": "auto", "background": "auto",
                "output_format": "jpeg"})
        if isinstance(item, ApiError):  # one round of several failed; the others go on
            return event_frame(f"{prefix}.failed", {
                # no "error" key: the SDK would raise on it and lose the images still coming
                "type": f"{prefix}.failed", "created_at": self.created, "message": item.message,
                "code": item.code})
        if isinstance(item, ImageReady):
            if item.moderated:
                return event_frame(f"{prefix}.moderated", {
                    "type": f"{prefix}.moderated", "image_index": item.slot, "created_at": self.created,
                    "message": "Grok moderated this image."})
            body = await self.item(item)
            return event_frame(f"{prefix}.completed", {
                "type": f"{prefix}.completed", "created_at": self.created, "image_index": item.slot,
                "size": "auto", "quality": "auto", "background": "auto", "output_format": "jpeg",
                "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                          "input_tokens_details": {"text_tokens": 0, "image_tokens": 0}},
                **body})
        return b""


def event_frame(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\n" + sse.data_frame(obj)


# -- generations -------------------------------------------------------------------
def parse_common(request: web.Request, body: dict[str, Any], kind: str,
                 fallback: str) -> tuple[str, str, int, str, bool]:
    """model, prompt, n, response_format and stream, shared by generations and edits."""
    model = body.get("model") or default_model(request, kind, fallback)
    if not isinstance(model, str):
        raise InvalidRequest("`model` must be a string.", param="model")
    return (model, parse_prompt(body.get("prompt")), parse_n(body.get("n")),
            parse_format(body.get("response_format")), parse_bool(body.get("stream"), "stream"))


@routes.post("/v1/images/generations")
async def generations(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if body.get("image"):  # the seed turns a generation with an image into an edit
        return await _edit(request, body, [])
    settings = request.app[LIVE_SETTINGS].current
    model, prompt, n, fmt, stream = parse_common(request, body, "image", IMAGE_MODEL)
    aspect = (aspect_for_size(body["aspect_ratio"], "1:1") if body.get("aspect_ratio")
              else aspect_for_size(body.get("size")))
    check_model_allowed(request.get(API_KEY), model)
    gateway = request.app[GATEWAY]
    ctx = ctx_for(request, stream)
    plan = plan_rounds(n, settings.image.image_ws_max_per_request)
    try:
        gateway.route(model, ("image",))
    except ApiError as exc:
        raise no_client_retry(exc) from None

    def round_of(count: int) -> Callable[[], AsyncIterator[Event]]:
        return lambda: gateway.images(ImageJob(model=model, prompt=prompt, n=count, aspect_ratio=aspect, ctx=ctx))

    images = Images(request, model, prompt, n, fmt)
    producer = Producer([round_of(c) for _, c in plan], [o for o, _ in plan], request.app[MEDIA_SLOTS])
    try:
        if stream:
            return await images.stream(producer, "image_generation")
        return await images.collect(producer)
    finally:
        await producer.close()


# -- edits ---------------------------------------------------------------------------
async def read_form(request: web.Request) -> tuple[dict[str, Any], list[tuple[str, Attachment]]]:
    """Multipart fields and files (files as (field name, Attachment)), size-bounded by client_max_size."""
    fields: dict[str, Any] = {}
    files: list[tuple[str, Attachment]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if part.filename is not None:
            data = await part.read(decode=True)
            mime = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
            files.append((name, Attachment(data=bytes(data), mime=mime, name=part.filename)))
        else:
            fields[name] = await part.text()
    return fields, files


def sniff_image(att: Attachment, param: str) -> Attachment:
    """Trust magic bytes over the part's content type (the SDK guesses it from the filename)."""
    head = att.data[:12]
    mime = ("image/png" if head.startswith(b"\x89PNG") else "image/jpeg" if head.startswith(b"\xff\xd8")
            else "image/webp" if head[:4] == b"RIFF" and head[8:12] == b"WEBP"
            else "image/gif" if head[:4] == b"GIF8" else "")
    if not att.data:
        raise InvalidRequest(f"`{param}` is empty.", param=param, code="invalid_attachment")
    if not mime:
        raise InvalidRequest(f"`{param}` is not a PNG, JPEG, WebP or GIF image.", param=param,
                             code="invalid_attachment")
    return Attachment(data=att.data, mime=mime, name=att.name or "image")


def image_refs(value: Any) -> list[AttachmentRef]:
    """The seed's JSON `image`: a URL / data URL, or a list of them (or of {url} / {image_url})."""
    items = value if isinstance(value, list) else [value]
    refs = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            inner = item.get("image_url")
            item = item.get("url") or (inner.get("url") if isinstance(inner, dict) else inner)
        if not isinstance(item, str) or not item:
            raise InvalidRequest("`image` must be a URL or data URL, or a list of them.", param="image")
        refs.append(AttachmentRef(param=f"image[{i}]" if isinstance(value, list) else "image", url=item,
                                  kind="image"))
    return refs


@routes.post("/v1/images/edits")
async def edits(request: web.Request) -> web.StreamResponse:
    if request.content_type.startswith("multipart/"):
        fields, files = await read_form(request)
        if any(name == "mask" for name, _ in files) or fields.get("mask"):
            raise InvalidRequest("`mask` is not supported by Grok image edits.", param="mask")
        images = [sniff_image(att, name) for name, att in files if name in ("image", "image[]")]
        return await _edit(request, fields, images)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if body.get("mask"):
        raise InvalidRequest("`mask` is not supported by Grok image edits.", param="mask")
    return await _edit(request, body, [])


async def _edit(request: web.Request, body: dict[str, Any], images: list[Attachment]) -> web.StreamResponse:
    settings = request.app[LIVE_SETTINGS].current
    model, prompt, n, fmt, stream = parse_common(request, body, "edit", EDIT_MODEL)
    if not images and body.get("image"):
        images = [sniff_image(a, "image") for a in
                  await load_attachments(image_refs(body["image"]), fetch_policy(settings))]
    if not images:
        raise InvalidRequest("`image` is required.", param="image")
    if len(images) > MAX_EDIT_IMAGES:
        raise InvalidRequest(f"At most {MAX_EDIT_IMAGES} input images are supported.", param="image")
    check_model_allowed(request.get(API_KEY), model)
    gateway = request.app[GATEWAY]
    ctx = ctx_for(request, stream)
    try:
        gateway.route(model, ("edit", "image"))
    except ApiError as exc:
        raise no_client_retry(exc) from None
    job = EditJob(model=model, prompt=prompt, images=images, n=n, ctx=ctx)
    result = Images(request, model, prompt, n, fmt)
    producer = Producer([lambda: gateway.edit(job)], [0], request.app[MEDIA_SLOTS])
    try:
        if stream:
            return await result.stream(producer, "image_edit")
        return await result.collect(producer)
    finally:
        await producer.close()
