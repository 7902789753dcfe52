"""The floor under the gateway's figures: a relay built of the same parts and nothing else, measured by the
same harness (`run.py --floor`).

It serves /v1/chat/completions on aiohttp, calls fakegrok through grok2api's own prepared curl handles
(`upstream/handles.py`: the mgw WebSocket or the REST stream, as the rig's transport says) and passes each
token on as an OpenAI chunk; its requests carry the gateway's headers, with fixed values. It has no API-key
store, request limits, model catalogue, account pool, reservation, x-statsig-id, failover, stats, request
log or metrics, and parses only what it relays. So what it costs is what aiohttp, libcurl and the event loop
cost on this machine; the gateway's figure minus the floor's is the cost of everything the gateway does for
its operator and its accounts.

    python -m tests.benchmarks.floor   # started by the rig with the gateway's environment (SERVER_PORT, ...)
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from grok2api.edge.connections import MAX_BACKLOG
from grok2api.server import tune_gc
from grok2api.upstream.handles import Egress, map_large_buffers
from grok2api.upstream.headers import ACCEPT_ENCODING, rest_headers, ws_headers
from grok2api.upstream.options import UpstreamConfig
from tests.benchmarks.clients import fake_body
from tests.benchmarks.rig import FAKE_HEADERS, TOKEN, X1_STATSIG

READ_TIMEOUT = 60.0


class Floor:
    """The upstream side: one egress (direct), the fake's address and the account's user id."""

    def __init__(self, fake: str, transport: str, key: str) -> None:
        self.fake = fake
        self.transport = transport
        self.auth = f"Bearer {key}"
        self.egress = Egress("", "chrome152", 100_000)  # no cap of its own: the memory run holds 10,000
        with urllib.request.urlopen(urllib.request.Request(fake + "/api/auth/session", headers={
                "Cookie": f"sso={TOKEN}; sso-rw={TOKEN}", **FAKE_HEADERS}), timeout=10) as resp:
            self.uid = json.loads(resp.read())["session"]["userId"]
        # The gateway's header set (same names, same sizes), built once with fixed values: libcurl then
        # does the same work per request, and what the gateway computes per request stays its own cost.
        config = UpstreamConfig(grok_url=fake)
        cookie = f"sso={TOKEN}; sso-rw={TOKEN}"
        self.rest_headers = {**rest_headers(config, origin=fake, referer=fake + "/"), "x-statsig-id": X1_STATSIG,
                             "Cookie": cookie}
        self.ws_headers = {**ws_headers(config, fake), "Cookie": f"{cookie}; x-userid={self.uid}"}

    def tokens(self, prompt: str) -> AsyncIterator[str]:
        return self._mgw(prompt) if self.transport == "ws" else self._rest(prompt)

    async def _rest(self, prompt: str) -> AsyncIterator[str]:
        st = await self.egress.stream("POST", self.fake + "/rest/app-chat/conversations/new", self.rest_headers,
                                      body=orjson.dumps(fake_body(prompt)), timeout=READ_TIMEOUT,
                                      accept_encoding=ACCEPT_ENCODING)
        try:
            rest = b""
            while (chunk := await st.read(READ_TIMEOUT)) is not None:
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        result = orjson.loads(line).get("result", {})
                        token = result.get("response", result).get("token")
                        if token:
                            yield token
        finally:
            st.abort()

    async def _mgw(self, prompt: str) -> AsyncIterator[str]:
        ws = await self.egress.ws_connect(f"ws{self.fake[4:]}/ws/mgw/?uid={self.uid}", self.ws_headers,
                                          timeout=READ_TIMEOUT, on_header=len, max_message_size=1 << 22)
        try:
            await ws.send(orjson.dumps({"event": {
                "type": "session.create", "event_id": "evt_init_floor", "session": {"model": "fast", "x_grok": {
                    "is_temporary": True, "disable_memory": True, "disable_artifact": True}}}}))
            ready = 0
            while (data := await ws.recv(READ_TIMEOUT)) is not None:
                frame = orjson.loads(data)
                event = frame["event"]
                kind = event["type"]
                if kind == "response.chunk":
                    text = event["chunk"].get("text", {}).get("text")
                    if text:
                        yield text
                elif kind in ("session.created", "conversation.attached"):
                    ready += 1
                    if ready == 2:
                        sid = frame["session_id"]
                        await ws.send(orjson.dumps({"session_id": sid, "event": {
                            "type": "conversation.item.create", "event_id": "evt_msg_1", "item": {
                                "type": "message", "role": "user", "x_grok": {
                                    "client_message_id": "floor", "input_chunks": [{"text": {"text": prompt}}]}}}}))
                        await ws.send(orjson.dumps({"session_id": sid, "event": {
                            "type": "response.create", "event_id": "evt_resp_1"}}))
                elif kind == "response.done":
                    return
                elif kind in ("error", "session.ended"):
                    raise RuntimeError(f"fakegrok mgw answered {kind}")
        finally:
            ws.close()


FLOOR_APP = web.AppKey("floor", Floor)


def _chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
    return b"data: " + orjson.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                     "model": "grok-4", "choices": [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}]}) + b"\n\n"


async def completions(request: web.Request) -> web.StreamResponse:
    floor = request.app[FLOOR_APP]
    if request.headers.get("Authorization") != floor.auth:
        return web.json_response({"error": {"message": "bad key"}}, status=401)
    body = orjson.loads(await request.read())
    prompt = body["messages"][-1]["content"]
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.get("stream"):
        text = "".join([t async for t in floor.tokens(prompt)])
        return web.Response(body=orjson.dumps({
            "id": cid, "object": "chat.completion", "created": created, "model": "grok-4",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}),
            content_type="application/json")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    async for text in floor.tokens(prompt):
        await resp.write(_chunk(cid, created, {"content": text}))
    await resp.write(_chunk(cid, created, {}, "stop") + b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    env = os.environ
    map_large_buffers()  # as the gateway does at start, so that memory per stream compares
    app = web.Application()
    app[FLOOR_APP] = Floor(env["GROK2API_NETWORK_GROK_URL"], env.get("GROK2API_CHAT_TRANSPORT", "ws"),
                           env["GROK2API_APP_API_KEY"])
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/health", health)

    async def collector_as_the_gateways(app: web.Application) -> None:
        tune_gc()  # as server.py does once serving

    app.on_startup.append(collector_as_the_gateways)
    # The gateway's listen backlog (edge/connections.py): 10,000 streams are opened at once.
    web.run_app(app, host=env.get("SERVER_HOST", "127.0.0.1"), port=int(env["SERVER_PORT"]), print=None,
                access_log=None, backlog=MAX_BACKLOG)


if __name__ == "__main__":
    main()
