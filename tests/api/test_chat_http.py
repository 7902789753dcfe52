"""Raw HTTP: SSE framing line by line, keepalives, idle timeout, tag filtering, disconnects, attachments."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import aiohttp

from grok2api.upstream.events import Done, ReasoningDelta, TextDelta
from tests.api.conftest import Api, MakeApi
from tests.api.fakes import FakeGateway

HELLO = [{"role": "user", "content": "hi"}]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "grok-4", "messages": HELLO, "stream": True, **extra}


def parse_sse(raw: str) -> tuple[list[Any], int]:
    """Data payloads and keepalive count; asserts every line is valid SSE for the OpenAI reader."""
    assert raw.endswith("data: [DONE]\n\n")
    payloads: list[Any] = []
    keepalives = 0
    for event in raw.split("\n\n")[:-1]:
        lines = event.split("\n")
        assert len(lines) == 1, f"one line per event: {event!r}"
        line = lines[0]
        if line == ": keepalive":
            keepalives += 1
            continue
        assert line.startswith("data: "), line
        data = line[6:]
        payloads.append(data if data == "[DONE]" else json.loads(data))
    assert payloads[-1] == "[DONE]" and payloads.count("[DONE]") == 1
    return payloads[:-1], keepalives


async def test_sse_framing(make_api: MakeApi) -> None:
    script = [ReasoningDelta("hmm"), TextDelta("line one\nline two"), TextDelta(" «ünïcode» 你好"), Done()]
    api = await make_api(gateway=FakeGateway(lambda job: list(script)))
    resp = await api.http.post("/v1/chat/completions", json=body(stream_options={"include_usage": True}),
                               headers=api.headers())
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Request-Id"]
    chunks, _ = parse_sse(await resp.text())
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and {c["created"] for c in chunks} == {chunks[0]["created"]}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "grok-4" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    body_chunks, finish, usage = chunks[1:-2], chunks[-2], chunks[-1]
    assert all(c["choices"][0]["finish_reason"] is None and "role" not in c["choices"][0]["delta"]
               for c in body_chunks)
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in body_chunks)
    assert text == "line one\nline two «ünïcode» 你好"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in body_chunks)
    assert reasoning == "hmm"


async def test_without_include_usage_no_usage_field(api: Api) -> None:
    resp = await api.http.post("/v1/chat/completions", json=body(), headers=api.headers())
    chunks, _ = parse_sse(await resp.text())
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_keepalives_while_upstream_is_slow(make_api: MakeApi) -> None:
    api = await make_api({"GROK2API_PERFORMANCE_SSE_KEEPALIVE_SEC": "1"},
                         gateway=FakeGateway(lambda job: [TextDelta("a"), 2.6, TextDelta("b"), Done()]))
    resp = await api.http.post("/v1/chat/completions", json=body(), headers=api.headers())
    chunks, keepalives = parse_sse(await resp.text())
    assert keepalives == 2
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "ab"


async def test_keepalive_before_the_first_event(make_api: MakeApi) -> None:
    api = await make_api({"GROK2API_PERFORMANCE_SSE_KEEPALIVE_SEC": "1"},
                         gateway=FakeGateway(lambda job: [1.6, TextDelta("late"), Done()]))
    resp = await api.http.post("/v1/chat/completions", json=body(), headers=api.headers())
    chunks, keepalives = parse_sse(await resp.text())
    assert keepalives >= 1 and chunks[0]["choices"][0]["delta"]["role"] == "assistant"


async def test_idle_timeout_mid_stream(make_api: MakeApi) -> None:
    gateway = FakeGateway(lambda job: [TextDelta("a"), 30, TextDelta("never")])
    api = await make_api({"GROK2API_TIMEOUT_STREAM_IDLE_TIMEOUT": "1",
                          "GROK2API_PERFORMANCE_SSE_KEEPALIVE_SEC": "5"}, gateway=gateway)
    resp = await api.http.post("/v1/chat/completions", json=body(), headers=api.headers())
    chunks, _ = parse_sse(await resp.text())
    assert chunks[-1] == {"error": {"message": "no data from Grok for 1 s", "type": "timeout_error",
                                    "param": None, "code": "upstream_timeout"}}
    assert gateway.open == 0


async def test_tags_filtered_across_chunks(make_api: MakeApi) -> None:
    answer = ('Fact<grok:render card_id="k9" card_type="citation_card" type="render_inline_citation">'
              '<argument name="citation_id">0</argument></GROK:RENDER>. <xaiArtifact title="a.py">code'
              '</xaiArtifact> end')
    pieces = [answer[i:i + 7] for i in range(0, len(answer), 7)]
    thought = "<xai:tool_usage_card><xai:tool_name>web_search</xai:tool_name></xai:tool_usage_card>ok"
    api = await make_api(gateway=FakeGateway(lambda job: [*(ReasoningDelta(c) for c in thought),
                                                          *(TextDelta(p) for p in pieces), Done()]))
    resp = await api.http.post("/v1/chat/completions", json=body(), headers=api.headers())
    chunks, _ = parse_sse(await resp.text())
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("content", "") for d in deltas) == "Fact. code end"
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "ok"
    resp = await api.http.post("/v1/chat/completions", json=body(stream=False), headers=api.headers())
    assert (await resp.json())["choices"][0]["message"]["content"] == "Fact. code end"


async def test_client_disconnect_releases_the_reservation(make_api: MakeApi) -> None:
    gateway = FakeGateway(lambda job: [TextDelta("first"), 60, TextDelta("never")])
    api = await make_api({"GROK2API_PERFORMANCE_SSE_KEEPALIVE_SEC": "1"}, gateway=gateway)
    async with aiohttp.ClientSession() as session:
        resp = await session.post(api.http.make_url("/v1/chat/completions"), json=body(),
                                  headers=api.headers())
        assert b"first" in await resp.content.readuntil(b"first")  # the stream is running
        assert gateway.open == 1
        resp.close()  # the client goes away mid-answer
    for _ in range(50):
        if gateway.open == 0:
            break
        await asyncio.sleep(0.1)
    assert gateway.open == 0 and gateway.released == 1


async def test_invalid_json_and_errors_are_openai_shaped(api: Api) -> None:
    resp = await api.http.post("/v1/chat/completions", data=b"{not json", headers=api.headers())
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"


async def test_attachment_errors_name_the_part(make_api: MakeApi) -> None:
    api = await make_api({"GROK2API_SECURITY_FETCH_MAX_SIZE_MB": "1"})
    cases = {
        "http://127.0.0.1:1/secret.png": "non-public address",
        "http://169.254.169.254/latest/meta-data/": "non-public address",
        "http://localhost/x.png": "non-public address",
        "data:image/png;base64," + "A" * (2 * 1024 * 1024): "1 MB limit",
        "data:image/png;base64,%%%": "base64",
    }
    for url, why in cases.items():
        payload = json.dumps(body(messages=[
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "x"},
                                         {"type": "image_url", "image_url": {"url": url}}]}])).encode()
        # A stream object: aiohttp warns about large raw-bytes bodies.
        resp = await api.http.post("/v1/chat/completions", data=io.BytesIO(payload),
                                   headers={**api.headers(), "Content-Type": "application/json"})
        assert resp.status == (413 if "limit" in why else 400), url[:60]  # over a size bound: 413
        error = (await resp.json())["error"]
        assert error["param"] == "messages[1].content[1].image_url" and why in error["message"], error
    assert api.gateway.jobs == []


async def test_file_part_with_file_data(api: Api) -> None:
    pdf = b"%PDF-1.4 tiny"
    resp = await api.http.post("/v1/chat/completions", headers=api.headers(), json=body(stream=False, messages=[
        {"role": "user", "content": [{"type": "file", "file": {
            "filename": "doc.pdf", "file_data": "data:application/pdf;base64," + base64.b64encode(pdf).decode()}}]}]))
    assert resp.status == 200
    [attachment] = api.gateway.jobs[0].attachments
    assert (attachment.data, attachment.mime, attachment.name) == (pdf, "application/pdf", "doc.pdf")


async def test_200_concurrent_streams_each_get_their_own_text(make_api: MakeApi) -> None:
    def echo(job: Any) -> list[Any]:
        text = f"reply to {job.messages[0].text}: " + "lorem ipsum " * 20
        return [*(TextDelta(text[i:i + 9]) for i in range(0, len(text), 9)), Done()]

    # 200 requests at once from one address: the per-IP limit (burst 60) is not what this measures.
    api = await make_api(env={"GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false"}, gateway=FakeGateway(echo))

    async def one(i: int) -> str:
        resp = await api.http.post("/v1/chat/completions", headers=api.headers(),
                                   json=body(messages=[{"role": "user", "content": f"#{i}"}]))
        chunks, _ = parse_sse(await resp.text())
        return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert results == [f"reply to #{i}: " + "lorem ipsum " * 20 for i in range(200)]
    assert api.gateway.open == 0 and api.gateway.released == 200
