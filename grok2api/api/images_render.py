"""Rendering an image request's results: the OpenAI JSON answer or its SSE events.

- URLs are `{app.app_url}/v1/files/image/{name}` from the local media cache; `b64_json` is read back
  from it.
- Moderated images are never silently dropped: if every image was moderated (or failed with
  nothing to show) the answer is 400 `content_policy_violation`; otherwise the rest are returned
  and the top-level `grok2api` object says how many were `moderated` / `failed` (also the headers
  `x-grok2api-moderated` / `x-grok2api-failed`), and each item's `revised_prompt` is the prompt.
- Streaming sends `image_generation.partial_image` events with the previews Grok sends (Imagine's
  preview and medium images, as `b64_json`, at most `partial_images` per image; progress without a
  preview sends nothing) and one `image_generation.completed` event per finished image, whose
  `b64_json` is always there (OpenAI's event requires it; with `response_format=url` the `url`
  comes too), then `data: [DONE]`. A moderated image becomes an `image_generation.moderated`
  event; a failure after the first byte an `error` event.
- `usage` is estimated, as OpenAI's image models report it: the prompt's text tokens (the chat
  estimator) and IMAGE_TOKENS for each input image and each image returned.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from aiohttp import web

from ..errors import ApiError, InvalidRequest, UpstreamFailed, UpstreamTimeout
from ..keys import LIVE_SETTINGS, MEDIA, REQUEST_ID
from ..upstream.events import ImageProgress, ImageReady
from . import sse
from .answer import no_client_retry
from .chat import write_stream_error
from .images_fanout import Batch, Producer
from .images_request import ImageRequest
from .tokens import count_text

# Tokens counted per image, in or out: OpenAI's documented vision price of a 1024x1024 image
# (85 + 170 per 512 px tile), a fixed figure since Grok reports none.
IMAGE_TOKENS = 765


class ImagesRenderer:
    """One generation or edit request: its results as they arrive, and how they are rendered."""

    def __init__(self, request: web.Request, req: ImageRequest, input_images: int = 0) -> None:
        self.request = request
        self.model = req.model
        self.prompt = req.prompt
        self.n = req.n
        self.response_format = req.response_format
        self.partial_images = req.partial_images
        self.input_images = input_images
        self.batch = Batch(req.n)
        settings = request.app[LIVE_SETTINGS].current
        self.base = settings.app.app_url.rstrip("/")
        self.idle = settings.timeout.stream_idle_timeout
        self.keepalive = settings.performance.sse_keepalive_sec
        self.created = int(time.time())
        self._partials = 0
        self.prompt_tokens = count_text(req.prompt)

    def usage(self, images_out: int) -> dict[str, Any]:
        image_in = self.input_images * IMAGE_TOKENS
        input_tokens = self.prompt_tokens + image_in
        output_tokens = images_out * IMAGE_TOKENS
        return {"input_tokens": input_tokens, "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "input_tokens_details": {"text_tokens": self.prompt_tokens, "image_tokens": image_in}}

    async def item(self, event: ImageReady, with_b64: bool = False) -> dict[str, Any]:
        """One image as `url` or `b64_json` (per response_format; `with_b64`: both for a url)."""
        media = self.request.app[MEDIA]
        name = event.local or (await media.store("image", event.data, event.mime) if event.data else "")
        if not name:
            raise UpstreamFailed("an image came back without content")
        out: dict[str, Any] = {"revised_prompt": self.prompt}
        if self.response_format == "url":
            out["url"] = f"{self.base}/v1/files/image/{name}"
            if not with_b64:
                return out
        out["b64_json"] = base64.b64encode(await media.read("image", name)).decode()
        return out

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
        body: dict[str, Any] = {"created": self.created, "data": data, "usage": self.usage(len(data))}
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
        sent_progress: dict[int, list[int]] = {}
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

    async def _frame(self, item: Any, prefix: str, sent_progress: dict[int, list[int]]) -> bytes:
        """`sent_progress`: per image, the percentages of the previews already streamed."""
        self._take(item)
        if isinstance(item, ImageProgress):
            sent = sent_progress.setdefault(item.slot, [])
            if not item.preview or item.percent in sent or len(sent) >= self.partial_images:
                return b""
            sent.append(item.percent)
            index = self._partials
            self._partials += 1
            return event_frame(f"{prefix}.partial_image", {
                "type": f"{prefix}.partial_image", "b64_json": base64.b64encode(item.preview).decode(),
                "created_at": self.created, "image_index": item.slot, "partial_image_index": index,
                "progress": item.percent, "size": "auto", "quality": "auto", "background": "auto",
                "output_format": output_format(item.mime)})
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
            body = await self.item(item, with_b64=True)
            return event_frame(f"{prefix}.completed", {
                "type": f"{prefix}.completed", "created_at": self.created, "image_index": item.slot,
                "size": "auto", "quality": "auto", "background": "auto", "output_format": output_format(item.mime),
                "usage": self.usage(1), **body})
        return b""


def output_format(mime: str) -> str:
    """OpenAI's `output_format` for an image type (Grok's images are JPEG unless it says otherwise)."""
    return {"image/png": "png", "image/webp": "webp"}.get(mime, "jpeg")


def event_frame(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\n" + sse.data_frame(obj)
