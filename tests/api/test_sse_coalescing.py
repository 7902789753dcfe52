"""Streams write what is ready together in one write, and never hold a frame back to wait for another.

Each `response.write` is one HTTP chunk on the wire; aiohttp's client reports where chunks end, so
the tests read the writes themselves, whatever TCP made of them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from grok2api.upstream.events import Done, TextDelta
from tests.api.conftest import MakeApi
from tests.api.fakes import FakeGateway

SURFACES = {
    "/v1/chat/completions": {"model": "grok-4", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/messages": {"model": "grok-4", "stream": True, "max_tokens": 100,
                     "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "grok-4", "stream": True, "input": "hi"},
}


async def next_write(resp: ClientResponse) -> bytes:
    """The bytes of the next HTTP chunk (one write of the gateway); b"" at the end of the body."""
    data = b""
    async for part, end_of_chunk in resp.content.iter_chunks():
        data += part
        if end_of_chunk:
            return data
    return data


def texts(path: str, written: bytes) -> str:
    """The answer text carried by the SSE events in `written`."""
    out = ""
    for event in written.split(b"\n\n"):
        data = next((line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")), b"")
        if not data or data == b"[DONE]":
            continue
        obj: Any = json.loads(data)
        if path == "/v1/chat/completions":
            out += "".join(c["delta"].get("content") or "" for c in obj["choices"])
        elif path == "/v1/messages" and obj["type"] == "content_block_delta":
            out += obj["delta"].get("text", "")
        elif path == "/v1/responses" and obj["type"] == "response.output_text.delta":
            out += obj["delta"]
    return out


@pytest.mark.parametrize("path", list(SURFACES))
async def test_events_ready_together_go_out_in_one_write_complete_and_in_order(make_api: MakeApi, path: str) -> None:
    words = [f" w{i}" for i in range(20)]
    gate = asyncio.Event()
    api = await make_api(gateway=FakeGateway(lambda job: [*(TextDelta(w) for w in words), gate, TextDelta(" end"),
                                                         Done()]))
    resp = await api.http.post(path, json=SURFACES[path], headers=api.headers())
    assert resp.status == 200
    async with asyncio.timeout(10):  # a deadlock guard, not a measure
        first = await next_write(resp)
    # All twenty deltas were ready at once: one write (with the stream's opening events) holds them,
    # whole events only, in order.
    assert first.endswith(b"\n\n")
    assert texts(path, first) == "".join(words)
    gate.set()
    writes = []
    while chunk := await next_write(resp):
        writes.append(chunk)
    assert all(w.endswith(b"\n\n") for w in writes)
    assert texts(path, b"".join(writes)) == " end"


@pytest.mark.parametrize("path", list(SURFACES))
async def test_an_answer_over_in_one_batch_is_one_write(make_api: MakeApi, path: str) -> None:
    words = [f" w{i}" for i in range(20)]
    api = await make_api(gateway=FakeGateway(lambda job: [*(TextDelta(w) for w in words), Done()]))
    body = {**SURFACES[path], "store": False} if path == "/v1/responses" else SURFACES[path]
    resp = await api.http.post(path, json=body, headers=api.headers())
    assert resp.status == 200
    writes = []
    while chunk := await next_write(resp):
        writes.append(chunk)
    # Nothing could come after the last delta: it left with the end of the stream.
    assert len(writes) == 1, writes
    assert texts(path, writes[0]) == "".join(words)
    end = {"/v1/chat/completions": b"data: [DONE]\n\n", "/v1/messages": b'{"type":"message_stop"}\n\n',
           "/v1/responses": b"\n\n"}[path]
    assert writes[0].endswith(end)


async def test_a_stored_response_writes_its_last_text_before_the_storage_write(make_api: MakeApi) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: [TextDelta("all"), Done()]))
    resp = await api.http.post("/v1/responses", json={**SURFACES["/v1/responses"], "store": True},
                               headers=api.headers())
    writes = []
    while chunk := await next_write(resp):
        writes.append(chunk)
    assert len(writes) == 2 and texts("/v1/responses", writes[0]) == "all"
    assert b"response.completed" in writes[1] and b"response.completed" not in writes[0]


@pytest.mark.parametrize("path", list(SURFACES))
async def test_a_lone_event_is_written_without_waiting_for_the_next(make_api: MakeApi, path: str) -> None:
    gate = asyncio.Event()
    api = await make_api(gateway=FakeGateway(lambda job: [TextDelta("first"), gate, TextDelta(" second"), Done()]))
    resp = await api.http.post(path, json=SURFACES[path], headers=api.headers())
    assert resp.status == 200
    # The gateway holds " second" until the test has "first": a writer that waited for more would
    # never send it (the timeout only turns that deadlock into a failure).
    async with asyncio.timeout(10):
        first = await next_write(resp)
    assert texts(path, first) == "first"
    gate.set()
    rest = b""
    while chunk := await next_write(resp):
        rest += chunk
    assert texts(path, rest) == " second"
