"""POST /v1/chat/completions: OpenAI body -> ChatJob -> gateway events -> chat.completion(.chunk)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from ..errors import ApiError, InvalidRequest, ModelNotFound, UpstreamTimeout
from ..jobs import CallContext, ChatJob
from ..keys import CATALOG, DRAIN, GATEWAY, LIVE_SETTINGS, MEDIA
from ..keys import REQUEST_ID
from ..security import API_KEY, check_model_allowed
from ..settings import Settings
from ..upstream.events import Event
from . import sse
from .attachments import fetch_policy, load_attachments
from .chat_render import CONTENT, CompletionRenderer, MediaLinks, Piece
from .chat_request import ChatRequest, parse_chat_request
from .pump import END, EventPump
from .tokens import count_prompt

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


async def read_json(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}", code="invalid_json") from None


def no_client_retry(exc: ApiError) -> ApiError:
    """The gateway already failed over between accounts: a client retry would only triple the load."""
    if exc.status >= 500:
        exc.headers.setdefault("x-should-retry", "false")
    return exc


def idle_timeout(settings: Settings, kind: str) -> float:
    """Longest silence allowed between gateway events. Video renders are silent for long
    stretches (generation, then waiting for and downloading the result), so they get both budgets."""
    t = settings.timeout
    if kind == "video":
        return max(t.stream_idle_timeout, t.video_idle_timeout + t.video_result_wait_timeout)
    return t.stream_idle_timeout


@routes.post("/v1/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    settings = request.app[LIVE_SETTINGS].current
    req = parse_chat_request(await read_json(request), settings.chat.stream)
    key = request.get(API_KEY)
    check_model_allowed(key, req.model)
    route = request.app[CATALOG].get(req.model)
    if route is None:
        raise ModelNotFound(f"The model `{req.model}` does not exist.", param="model")
    attachments = await load_attachments(req.attachments, fetch_policy(settings))
    thinking = settings.chat.thinking if req.thinking is None else req.thinking
    job = ChatJob(model=req.model, messages=req.messages, attachments=attachments, thinking=thinking,
                  stream=req.stream, ctx=CallContext(
                      request_id=request.get(REQUEST_ID, ""), key_id=key.id if key else "",
                      key_name=key.name if key else "", client_ip=request.remote or "",
                      path=request.path, stream=req.stream), video=req.video)
    reasoning_format = (key.reasoning_format if key and key.reasoning_format
                        else settings.app.reasoning_format)
    renderer = CompletionRenderer(
        links=MediaLinks(request.app[MEDIA], settings.app.app_url, settings.app.image_format,
                         settings.app.video_format),
        filter_tags=settings.chat.filter_tags, show_reasoning=thinking,
        think_tags=reasoning_format == "think_tags", progress=req.stream, max_tokens=req.max_tokens)
    try:
        events = request.app[GATEWAY].chat(job)
    except ApiError as exc:
        raise no_client_retry(exc) from None
    prompt_tokens = count_prompt(req.messages, len(attachments))
    completion = Completion(req, renderer, prompt_tokens, idle_timeout(settings, route.kind))
    pump = EventPump(events)
    try:
        if req.stream:
            return await completion.stream(request, pump, settings.performance.sse_keepalive_sec)
        return await completion.collect(pump)
    except ApiError as exc:
        raise no_client_retry(exc) from None
    finally:
        await pump.close()


class Completion:
    """One answer: the request, its renderer and the ids every chunk repeats."""

    def __init__(self, req: ChatRequest, renderer: CompletionRenderer, prompt_tokens: int,
                 idle: float) -> None:
        self.req = req
        self.renderer = renderer
        self.prompt_tokens = prompt_tokens
        self.idle = idle
        self.id = "chatcmpl-" + secrets.token_urlsafe(18)
        self.created = int(time.time())

    async def _render(self, items: list[Event | object]) -> tuple[list[Piece], bool]:
        """Pieces for a batch of events, and whether the answer is over."""
        pieces: list[Piece] = []
        for item in items:
            if item is END:
                return pieces, True
            pieces += await self.renderer.feed(item)  # type: ignore[arg-type]
            if self.renderer.truncated:
                return pieces, True
        return pieces, False

    # -- non-streaming ----------------------------------------------------------
    async def collect(self, pump: EventPump) -> web.Response:
        pieces: list[Piece] = []
        while True:
            try:
                item = await pump.next(self.idle)
            except TimeoutError:
                raise UpstreamTimeout(f"no data from Grok for {self.idle:g} s") from None
            batch, over = await self._render([item, *pump.ready()])
            pieces += batch
            if over:
                break
        pieces += self.renderer.finish()
        content = "".join(text for channel, text in pieces if channel == CONTENT)
        reasoning = "".join(text for channel, text in pieces if channel != CONTENT)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if reasoning:
            message["reasoning_content"] = reasoning
        return web.json_response({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.req.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": self.renderer.finish_reason}],
            "usage": self.renderer.usage(self.prompt_tokens),
        }, dumps=sse.dumps)

    # -- streaming -------------------------------------------------------------------
    async def stream(self, request: web.Request, pump: EventPump, keepalive: float) -> web.StreamResponse:
        now = time.monotonic
        drain = request.config_dict[DRAIN]
        deadline = now() + self.idle
        # Wait briefly for the first event before sending headers: failures that come fast (no
        # account, upstream refused) then get their real HTTP status instead of an in-stream error.
        first: list[Any] = []
        try:
            first = [await pump.next(min(keepalive, self.idle))]
            deadline = now() + self.idle
        except TimeoutError:
            pass
        encoder = sse.ChunkEncoder(self.id, self.created, self.req.model, self.req.include_usage)
        response = await sse.open_stream(request, {"X-Request-Id": request.get(REQUEST_ID, "")})
        out = [encoder.delta({"role": "assistant", "content": ""})]
        if not first:  # a whole keepalive interval has passed in silence already
            await response.write(out[0] + sse.KEEPALIVE)
            out = []
        last_write = now()
        try:
            over = False
            while not over:
                if first:
                    items, first = first + pump.ready(), []
                else:
                    try:
                        item = await pump.next(min(last_write + keepalive, deadline, drain.deadline) - now())
                    except TimeoutError:
                        if now() >= deadline:
                            raise UpstreamTimeout(f"no data from Grok for {self.idle:g} s") from None
                        drain.check()
                        await response.write(sse.KEEPALIVE)
                        last_write = now()
                        continue
                    drain.check()
                    items = [item, *pump.ready()]
                deadline = now() + self.idle
                pieces, over = await self._render(items)
                if over:
                    pieces += self.renderer.finish()
                out += [encoder.delta(delta) for delta in merge_deltas(pieces)]
                if out:
                    await response.write(b"".join(out))
                    out = []
                    last_write = now()
            tail = [encoder.delta({}, self.renderer.finish_reason)]
            if self.req.include_usage:
                tail.append(encoder.usage(self.renderer.usage(self.prompt_tokens)))
            tail.append(sse.DONE)
            await response.write(b"".join(tail))
        except ConnectionResetError:
            log.info("client left stream %s", self.id)  # pump.close() in the caller releases the account
            return response
        except Exception as exc:
            await write_stream_error(response, out, exc, self.id)
        return response


def merge_deltas(pieces: list[Piece]) -> list[dict[str, str]]:
    """Consecutive pieces of one channel become one delta: fewer, larger frames."""
    deltas: list[dict[str, str]] = []
    for channel, text in pieces:
        field = "content" if channel == CONTENT else "reasoning_content"
        if deltas and field in deltas[-1]:
            deltas[-1][field] += text
        else:
            deltas.append({field: text})
    return deltas


async def write_stream_error(response: web.StreamResponse, pending: list[bytes], exc: Exception,
                             completion_id: str) -> None:
    """After the first byte, a failure becomes an OpenAI error event followed by [DONE]."""
    if isinstance(exc, ApiError):
        error = {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
    else:
        log.exception("stream %s failed", completion_id)
        error = {"message": "internal server error", "type": "server_error", "param": None,
                 "code": "internal_error"}
    try:
        await response.write(b"".join(pending) + sse.data_frame({"error": error}) + sse.DONE)
    except ConnectionResetError:
        pass
