"""Server-sent events: pre-encoded frames, one write per batch of frames.

JSON is what the stdlib encoder writes with compact separators and non-ASCII as UTF-8, written by
orjson (the same bytes but for a float in exponent form, 1e-7 for 1e-07; the stdlib for what orjson
refuses); a chat chunk's constant part (id, created, model) is encoded once per stream, so a text
delta costs one JSON string encoding.
Frames that are ready together (the events of one upstream read) go out in one write, and a
stream that writes at once sends its headers with its first frames: one send instead of two.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import jsonfast

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keepalive\n\n"  # a comment line: every SSE client ignores it
_encode = jsonfast.dumps


def dumps(obj: Any) -> str:
    return _encode(obj).decode()


def data_frame(obj: Any) -> bytes:
    return b"data: " + _encode(obj) + b"\n\n"


class _HeadersWithFirstWrite(web.StreamResponse):
    # aiohttp then keeps the prepared headers until the first write and sends both in one
    # transport write (as it does for a plain Response); without the switch it changes nothing.
    _send_headers_immediately = False


async def open_stream(request: web.Request, headers: dict[str, str] | None = None, *,
                      writes_at_once: bool = False) -> web.StreamResponse:
    """Prepare an event stream; proxies are told not to buffer it. `writes_at_once`: the caller writes
    its first frames right away, so the headers wait for them instead of going out alone."""
    kind = _HeadersWithFirstWrite if writes_at_once else web.StreamResponse
    response = kind(status=200, headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        **(headers or {}),
    })
    await response.prepare(request)
    return response


class ChunkEncoder:
    """Encodes `chat.completion.chunk` frames of one completion (same id, created, model)."""

    __slots__ = ("_head", "_tail", "_usage_head")

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        common = f'"id":{dumps(completion_id)},"object":"chat.completion.chunk","created":{created},' \
                 f'"model":{dumps(model)}'
        self._head = ('data: {' + common + ',"choices":[{"index":0,"delta":').encode()
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._usage_head = ('data: {' + common + ',"choices":[],"usage":').encode()

    def text(self, field: str, text: str) -> bytes:
        """The frame of a delta holding one text field (`content` or `reasoning_content`): the
        commonest chunk, built from its parts without a dict to encode."""
        return (self._head + b'{"' + field.encode() + b'":' + _encode(text)
                + b'},"logprobs":null,"finish_reason":null}]' + self._tail)

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        finish = b"null" if finish_reason is None else _encode(finish_reason)
        return (self._head + _encode(delta) + b',"logprobs":null,"finish_reason":' + finish
                + b"}]" + self._tail)

    def usage(self, usage: dict[str, Any]) -> bytes:
        return self._usage_head + _encode(usage) + b"}\n\n"
