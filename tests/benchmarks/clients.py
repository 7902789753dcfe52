"""The load generator's calls: one completion through the gateway, the same turn straight to fakegrok (REST or mgw)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.benchmarks.rig import FAKE_COOKIES, FAKE_HEADERS, KEY, TOKEN, Rig

PROMPT = "[[tokens:20]] bench"


@dataclass(slots=True)
class Timing:
    """Seconds from sending the request: first byte, first content (an answer token), end; SSE events seen."""

    ttfb: float = 0.0
    first_content: float = 0.0
    total: float = 0.0
    events: int = 0


def chat_body(stream: bool, prompt: str = PROMPT) -> dict[str, Any]:
    return {"model": "grok-4", "stream": stream, "messages": [{"role": "user", "content": prompt}]}


def fake_body(prompt: str = PROMPT) -> dict[str, Any]:
    return {"message": prompt, "modeId": "fast", "temporary": True, "fileAttachments": [], "imageAttachments": []}


def _sse_content(line: bytes) -> bool:
    """An SSE `data:` event whose delta carries text (the role-only opening chunk does not)."""
    if not line.startswith(b"data:") or line.startswith(b"data: [DONE]"):
        return False
    for choice in json.loads(line[5:]).get("choices", ()):
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content"):
            return True
    return False


async def one_gateway(http: aiohttp.ClientSession, base: str, stream: bool, prompt: str = PROMPT,
                      content: bool = False) -> Timing:
    """One chat completion; `content` also times the first event with text (parsed line by line until then)."""
    out = Timing()
    t0 = time.perf_counter()
    async with http.post(base + "/v1/chat/completions", json=chat_body(stream, prompt),
                         headers={"Authorization": f"Bearer {KEY}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"gateway answered {resp.status}: {await resp.text()}")
        if content and stream:
            async for line in resp.content:
                if not out.ttfb:
                    out.ttfb = time.perf_counter() - t0
                if _sse_content(line):
                    out.first_content = time.perf_counter() - t0
                    out.events = 1
                    break
        tail = b""
        async for data in resp.content.iter_any():
            if not out.ttfb:
                out.ttfb = time.perf_counter() - t0
            if stream:
                # Events counted as they arrive; the 5 bytes kept bridge a `data:` split across reads.
                out.events += (tail + data).count(b"data:") - tail.count(b"data:")
                tail = data[-5:]
    out.total = time.perf_counter() - t0
    if stream:
        out.events -= 1  # the closing `data: [DONE]`
    return out


def _rest_token(line: bytes) -> bool:
    result = json.loads(line).get("result", {})
    return bool(result.get("response", result).get("token"))


async def one_direct(http: aiohttp.ClientSession, base: str, prompt: str = PROMPT, content: bool = False) -> Timing:
    """`conversations/new` on fakegrok; `content` times the first frame with a token."""
    out = Timing()
    t0 = time.perf_counter()
    async with http.post(base + "/rest/app-chat/conversations/new", json=fake_body(prompt), headers=FAKE_HEADERS,
                         cookies=FAKE_COOKIES) as resp:
        if resp.status != 200:
            raise RuntimeError(f"fakegrok answered {resp.status}")
        if content:
            async for line in resp.content:
                if not out.ttfb:
                    out.ttfb = time.perf_counter() - t0
                if line.strip() and _rest_token(line):
                    out.first_content = time.perf_counter() - t0
                    break
        async for _ in resp.content.iter_any():
            if not out.ttfb:
                out.ttfb = time.perf_counter() - t0
    out.total = time.perf_counter() - t0
    return out


def _mgw(event: dict[str, Any], session_id: str | None = None) -> str:
    return json.dumps({"event": event} if session_id is None else {"session_id": session_id, "event": event})


async def one_direct_ws(http: aiohttp.ClientSession, base: str, uid: str, prompt: str = PROMPT) -> Timing:
    """The mgw turn the gateway makes (§4.3) on a fresh socket: session.create, item + response.create, read to
    done. ttfb is the first `response.chunk` (the phase marker), first_content the first one with text."""
    out = Timing()
    t0 = time.perf_counter()
    cookies = f"sso={TOKEN}; sso-rw={TOKEN}; x-userid={uid}"
    async with http.ws_connect("ws" + base[4:] + f"/ws/mgw/?uid={uid}",
                               headers={"Cookie": cookies, "Origin": "https://grok.com"}) as ws:
        await ws.send_str(_mgw({"type": "session.create", "event_id": "evt_init_bench", "session": {
            "model": "fast", "x_grok": {"is_temporary": True, "disable_memory": True, "disable_artifact": True}}}))
        ready = 0
        async for msg in ws:
            frame = json.loads(msg.data)
            kind = frame["event"]["type"]
            if kind in ("session.created", "conversation.attached"):
                ready += 1
                if ready == 2:
                    sid = frame["session_id"]
                    await ws.send_str(_mgw({"type": "conversation.item.create", "event_id": "evt_msg_1", "item": {
                        "type": "message", "role": "user", "x_grok": {
                            "client_message_id": "bench", "input_chunks": [{"text": {"text": prompt}}]}}}, sid))
                    await ws.send_str(_mgw({"type": "response.create", "event_id": "evt_resp_1"}, sid))
            elif kind == "response.chunk":
                if not out.ttfb:
                    out.ttfb = time.perf_counter() - t0
                if not out.first_content and frame["event"]["chunk"].get("text", {}).get("text"):
                    out.first_content = time.perf_counter() - t0
            elif kind in ("response.done", "error", "session.ended"):
                if kind != "response.done":
                    raise RuntimeError(f"fakegrok mgw answered {frame}")
                break
    out.total = time.perf_counter() - t0
    return out


async def direct(rig: Rig, http: aiohttp.ClientSession, prompt: str = PROMPT, content: bool = False) -> Timing:
    """The same turn as the gateway's upstream request, straight to fakegrok over the rig's transport."""
    if rig.transport == "ws":
        return await one_direct_ws(http, rig.fake, rig.uid, prompt)
    return await one_direct(http, rig.fake, prompt, content)
