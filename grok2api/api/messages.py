"""/v1/messages and /v1/messages/count_tokens: Anthropic Messages (Claude Code) over the answer driver.

Pieces become content blocks in the order they come: reasoning → `thinking` (with an opaque
signature, Grok gives none), text → `text`, tool calls → `tool_use`. A stream waits for the first
batch before sending headers, like chat completions, so early failures get their real status; a
pool with no usable account answers 529 `overloaded_error`, Anthropic's signal to back off. Errors
are rendered in Anthropic's shape by the edge's error envelope (paths under /v1/messages).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from .. import ids
from ..edge.api_auth import check_model_allowed
from ..edge.body import read_json
from ..errors import ApiError, ServiceUnavailable, anthropic_error
from ..keys import API_KEY, LIVE_SETTINGS, REQUEST_ID
from . import sse
from .answer import Answer, no_client_retry, open_answer, with_tool_prompt
from .chat_render import CONTENT, REASONING, TOOL, Piece
from .messages_request import parse_messages_request
from .tokens import count_prompt
from .tools import ToolCall

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "content_filter": "refusal"}
END_OF_ANSWER: list[Piece] = []  # a sentinel batch: the answer generator is exhausted
# Grok's reasoning is not signed; clients only need a non-empty opaque value to send back.
SIGNATURE = "grok2api-unsigned"


def overloaded(exc: ApiError) -> ApiError:
    """No account can serve now: Anthropic clients back off on 529, not on 503."""
    if isinstance(exc, ServiceUnavailable):
        exc.status = 529
    return no_client_retry(exc)


@routes.post("/v1/messages")
async def create_message(request: web.Request) -> web.StreamResponse:
    settings = request.app[LIVE_SETTINGS].current
    req = parse_messages_request(await read_json(request))
    try:
        answer = await open_answer(request, req.ask)
    except ApiError as exc:
        raise overloaded(exc) from None
    reply = Reply(req.ask.model, answer, StopCutter(req.stop_sequences))
    try:
        if req.ask.stream:
            return await reply.stream(request, settings.performance.sse_keepalive_sec)
        return web.json_response(reply.message(await reply.collect()), dumps=sse.dumps)
    except ApiError as exc:
        raise overloaded(exc) from None
    finally:
        await answer.close()


@routes.post("/v1/messages/count_tokens")
async def count_tokens(request: web.Request) -> web.Response:
    ask = parse_messages_request(await read_json(request), count_only=True).ask
    check_model_allowed(request.get(API_KEY), ask.model)  # the key's allow-list holds here too
    messages = with_tool_prompt(ask.messages, ask.tools, ask.tool_choice)
    return web.json_response({"input_tokens": count_prompt(messages, len(ask.attachments))})


class StopCutter:
    """Cuts the answer text at the first stop sequence, also when it is split across pieces."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.buf = ""
        self.matched: str | None = None

    def feed(self, pieces: list[Piece], final: bool) -> list[Piece]:
        if not self.stops:
            return pieces
        out: list[Piece] = []
        for channel, value in pieces:
            if self.matched is not None:
                break
            if channel != CONTENT:
                out += self._release() + [(channel, value)]
                continue
            self.buf += value
            hits = [(self.buf.find(s), s) for s in self.stops if s in self.buf]
            if hits:
                at, stop = min(hits)
                self.matched, text, self.buf = stop, self.buf[:at], ""
                if text:
                    out.append((CONTENT, text))
                break
            keep = len(self.buf) if final else max(0, len(self.buf) - self.hold)
            if keep:
                out.append((CONTENT, self.buf[:keep]))
                self.buf = self.buf[keep:]
        if final and self.matched is None:
            out += self._release()
        return out

    def _release(self) -> list[Piece]:
        text, self.buf = self.buf, ""
        return [(CONTENT, text)] if text else []


class Reply:
    """One assistant message in Anthropic's shapes, around a running Answer."""

    def __init__(self, model: str, answer: Answer, cutter: StopCutter) -> None:
        self.model = model
        self.answer = answer
        self.cutter = cutter
        self.id = "msg_" + ids.token_hex(12)

    @property
    def stop_reason(self) -> str:
        if self.cutter.matched is not None:
            return "stop_sequence"
        return STOP_REASONS.get(self.answer.renderer.finish_reason, "end_turn")

    def usage(self) -> dict[str, Any]:
        """Every field Anthropic's Usage has: no prompt caching, server tools or regions here, so
        zeros and nulls where they do not apply."""
        usage = self.answer.renderer.usage(self.answer.prompt_tokens)
        return {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"],
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "output_tokens_details": {
                    "thinking_tokens": usage["completion_tokens_details"]["reasoning_tokens"]},
                "server_tool_use": None, "service_tier": "standard", "inference_geo": None}

    def delta_usage(self) -> dict[str, Any]:
        """message_delta's usage: the final counts (MessageDeltaUsage's fields)."""
        usage = self.usage()
        return {name: usage[name] for name in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                                               "cache_read_input_tokens", "output_tokens_details",
                                               "server_tool_use")}

    def head(self, content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": self.cutter.matched,
                "stop_details": None, "container": None, "usage": self.usage()}

    # -- non-streaming ----------------------------------------------------------
    async def collect(self) -> list[Piece]:
        return self.cutter.feed(await self.answer.collect(), final=True)

    def message(self, pieces: list[Piece]) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = []
        for channel, value in pieces:
            kind = {CONTENT: "text", REASONING: "thinking", TOOL: "tool_use"}[channel]
            if channel == TOOL:
                blocks.append(tool_use_block(value))
            elif blocks and blocks[-1]["type"] == kind:
                blocks[-1][kind] += value
            else:
                blocks.append(text_block(value) if kind == "text"
                              else {"type": "thinking", "thinking": value, "signature": SIGNATURE})
        return self.head(blocks, self.stop_reason)

    # -- streaming -------------------------------------------------------------------
    async def stream(self, request: web.Request, keepalive: float) -> web.StreamResponse:
        batches = self.answer.batches(keepalive)
        first: list[Piece] | None = await anext(batches, [])
        response = await sse.open_stream(request, {"X-Request-Id": request.get(REQUEST_ID, "")}, writes_at_once=True)
        blocks = BlockEncoder()
        start = self.head([], None)
        start["usage"].update(output_tokens=0, output_tokens_details={"thinking_tokens": 0})
        out = [event("message_start", {"type": "message_start", "message": start}), PING]
        try:
            if first is not None:
                out += blocks.encode(self.cutter.feed(first, final=False))
            over = self.cutter.matched is not None
            if not over and not self.answer.finished:
                await response.write(b"".join(out))
                out = []
            while not over:
                batch = await anext(batches, END_OF_ANSWER)
                if batch is END_OF_ANSWER:
                    break
                if batch is None:
                    await response.write(PING)
                    continue
                out = blocks.encode(self.cutter.feed(batch, final=False))
                over = self.cutter.matched is not None
                if out and not over and not self.answer.finished:
                    await response.write(b"".join(out))
                    out = []
            # `out` still holds the last batch's events (or those before a stop sequence): they leave with the end.
            if not over:
                out += blocks.encode(self.cutter.feed([], final=True))
            out += blocks.close()
            out.append(event("message_delta", {
                "type": "message_delta", "delta": {"stop_reason": self.stop_reason,
                                                   "stop_sequence": self.cutter.matched,
                                                   "stop_details": None, "container": None},
                "usage": self.delta_usage()}))
            out.append(MESSAGE_STOP)
            await response.write_eof(b"".join(out))  # the last events and the end of the body in one write
        except ConnectionResetError:
            log.info("client left message stream %s", self.id)
        except Exception as exc:  # noqa: BLE001 - after the headers, a failure can only be an error event
            await write_error_event(response, out, exc, self.id, request.get(REQUEST_ID, ""))
        return response


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + sse.dumps(data).encode() + b"\n\n"


PING = event("ping", {"type": "ping"})
MESSAGE_STOP = event("message_stop", {"type": "message_stop"})


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "citations": None}


def tool_use_block(call: ToolCall) -> dict[str, Any]:
    # `caller`: who made the call; always the model itself here (Anthropic's default).
    return {"type": "tool_use", "id": "toolu_" + call.id.removeprefix("call_"), "name": call.name,
            "input": json.loads(call.arguments), "caller": {"type": "direct"}}


class BlockEncoder:
    """content_block_start / _delta / _stop events with increasing indexes."""

    def __init__(self) -> None:
        self.index = -1
        self.open: str | None = None  # "text" | "thinking" while a block is open
        self._text_head = b""  # the open block's text or thinking delta event up to the JSON string

    def _text_delta(self, text: str) -> bytes:
        """A text_delta or thinking_delta event from its template: the commonest event of a stream."""
        return self._text_head + sse.dumps(text).encode() + b"}}\n\n"

    def close(self) -> list[bytes]:
        if self.open is None:
            return []
        out = []
        if self.open == "thinking":
            out.append(self._delta({"type": "signature_delta", "signature": SIGNATURE}))
        self.open = None
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": self.index}))
        return out

    def _start(self, block: dict[str, Any]) -> bytes:
        self.index += 1
        return event("content_block_start", {"type": "content_block_start", "index": self.index,
                                             "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def encode(self, pieces: list[Piece]) -> list[bytes]:
        out: list[bytes] = []
        for channel, value in pieces:
            if channel == TOOL:
                out += self.close()
                block = tool_use_block(value)
                out.append(self._start({**block, "input": {}}))
                out.append(self._delta({"type": "input_json_delta", "partial_json": value.arguments}))
                out.append(event("content_block_stop", {"type": "content_block_stop", "index": self.index}))
                continue
            kind = "text" if channel == CONTENT else "thinking"
            if self.open != kind:
                out += self.close()
                self.open = kind
                out.append(self._start(text_block("") if kind == "text"
                                       else {"type": "thinking", "thinking": "", "signature": ""}))
                self._text_head = (f'event: content_block_delta\ndata: {{"type":"content_block_delta",'
                                   f'"index":{self.index},"delta":{{"type":"{kind}_delta","{kind}":').encode()
            out.append(self._text_delta(value))
        return out


async def write_error_event(response: web.StreamResponse, pending: list[bytes], exc: Exception,
                            message_id: str, request_id: str) -> None:
    if isinstance(exc, ApiError):
        status, message = (529 if isinstance(exc, ServiceUnavailable) else exc.status), exc.message
    else:
        log.exception("message stream %s failed", message_id)
        status, message = 500, "internal server error"
    try:
        await response.write(b"".join(pending) + event("error", anthropic_error(status, message, request_id)))
    except ConnectionResetError:
        pass
