"""POST /v1/chat/completions: OpenAI body -> ChatJob -> gateway events -> chat.completion(.chunk)."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from .. import ids
from ..edge.body import read_json
from ..errors import ApiError
from ..keys import LIVE_SETTINGS, REQUEST_ID
from . import sse
from .answer import Answer, Ask, no_client_retry, open_answer
from .chat_render import CONTENT, REASONING, TOOL, Piece
from .chat_request import parse_chat_request
from .tools import ToolCall

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/v1/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    settings = request.app[LIVE_SETTINGS].current
    req = parse_chat_request(await read_json(request), settings.chat.stream)
    answer = await open_answer(request, Ask(
        model=req.model, messages=req.messages, attachments=req.attachments, stream=req.stream,
        thinking=req.thinking, max_tokens=req.max_tokens, tools=req.tools, tool_choice=req.tool_choice,
        video=req.video))
    completion = Completion(req.model, req.include_usage, answer)
    try:
        if req.stream:
            return await completion.stream(request, settings.performance.sse_keepalive_sec)
        return completion.json(await answer.collect())
    except ApiError as exc:
        raise no_client_retry(exc) from None
    finally:
        await answer.close()


def tool_call_json(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": call.arguments}}
    if index is not None:
        out = {"index": index, **out}
    return out


class Completion:
    """One chat completion: the ids every chunk repeats, around a running Answer."""

    def __init__(self, model: str, include_usage: bool, answer: Answer) -> None:
        self.model = model
        self.include_usage = include_usage
        self.answer = answer
        self.id = "chatcmpl-" + ids.token_urlsafe(18)
        self.created = int(time.time())

    # -- non-streaming ----------------------------------------------------------
    def json(self, pieces: list[Piece]) -> web.Response:
        renderer = self.answer.renderer
        content = "".join(text for channel, text in pieces if channel == CONTENT)
        reasoning = "".join(text for channel, text in pieces if channel == REASONING)
        calls = [tool_call_json(call) for channel, call in pieces if channel == TOOL]
        message: dict[str, Any] = {"role": "assistant", "content": content or (None if calls else ""),
                                   "refusal": None}
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        return web.json_response({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": renderer.finish_reason}],
            "usage": renderer.usage(self.answer.prompt_tokens),
        }, dumps=sse.dumps)

    # -- streaming -------------------------------------------------------------------
    async def stream(self, request: web.Request, keepalive: float) -> web.StreamResponse:
        batches = self.answer.batches(keepalive)
        # The first batch (or a keepalive interval of silence) comes before the headers: failures
        # that come fast (no account, upstream refused) then get their real HTTP status.
        first: list[Piece] | None = await anext(batches, [])
        encoder = sse.ChunkEncoder(self.id, self.created, self.model, self.include_usage)
        response = await sse.open_stream(request, {"X-Request-Id": request.get(REQUEST_ID, "")}, writes_at_once=True)
        deltas = DeltaEncoder(encoder)
        out = [encoder.delta({"role": "assistant", "content": ""})]
        try:
            if first is None:
                out.append(sse.KEEPALIVE)
            else:
                out += deltas.encode(first)
            if not self.answer.finished:
                await response.write(b"".join(out))
                out = []
            async for batch in batches:
                out = [sse.KEEPALIVE] if batch is None else deltas.encode(batch)
                if out and not self.answer.finished:
                    await response.write(b"".join(out))
                    out = []
            # `out` still holds the last batch's frames: they leave with the tail.
            renderer = self.answer.renderer
            tail = [*out, encoder.delta({}, renderer.finish_reason)]
            if self.include_usage:
                tail.append(encoder.usage(renderer.usage(self.answer.prompt_tokens)))
            tail.append(sse.DONE)
            await response.write_eof(b"".join(tail))  # the last frames and the end of the body in one write
        except ConnectionResetError:
            log.info("client left stream %s", self.id)  # answer.close() in the caller releases the account
            return response
        except Exception as exc:
            await write_stream_error(response, out, exc, self.id)
        return response


class DeltaEncoder:
    """Chunk frames for pieces; tool calls are numbered in order across the whole stream."""

    def __init__(self, encoder: sse.ChunkEncoder) -> None:
        self.encoder = encoder
        self.calls = 0

    def encode(self, pieces: list[Piece]) -> list[bytes]:
        frames: list[bytes] = []
        for delta in merge_deltas(pieces):
            if "tool_call" in delta:
                frames.append(self.encoder.delta(
                    {"tool_calls": [tool_call_json(delta["tool_call"], self.calls)]}))
                self.calls += 1
            elif len(delta) == 1:
                field, text = next(iter(delta.items()))
                frames.append(self.encoder.text(field, text))
            else:
                frames.append(self.encoder.delta(delta))
        return frames


def merge_deltas(pieces: list[Piece]) -> list[dict[str, Any]]:
    """Consecutive pieces of one channel become one delta: fewer, larger frames."""
    deltas: list[dict[str, Any]] = []
    for channel, text in pieces:
        if channel == TOOL:
            deltas.append({"tool_call": text})
            continue
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
