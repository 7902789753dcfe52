"""Whether one mgw socket carries two sequential chats (issue 21): a minimal mgw server that closes after
`response.done`, one that accepts a second session, and fakegrok both ways (`mgw_keep_serving`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from grok2api.upstream import ChatRequest, ErrorKind, GrokClient, UpstreamConfig, UpstreamError
from grok2api.upstream.mgw import CLOSED_AFTER_DONE

ServerFactory = Callable[..., Awaitable[TestServer]]
UID = str(uuid.uuid4())
SESSIONS: web.AppKey[list[str]] = web.AppKey("sessions", list)
REQUEST = ChatRequest(message="hi", mode="fast", transport="ws", thinking=False)


def mgw_server(*, close_after_done: bool, answer_pings: bool = True, second_session: bool = True,
               answer: bool = True) -> web.Application:
    """Just enough of mgw (§4): the handshake, one text chunk and response.done per response.create.
    `second_session=False`: a socket goes silent at its second session.create (a half-open connection);
    `answer=False`: response.create gets no answer (a stalled chat), while pings are still answered."""
    sessions: list[str] = []

    async def session(request: web.Request) -> web.Response:
        return web.json_response({"session": {"userId": UID}})

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        created = 0
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            ev = json.loads(msg.data)["event"]
            if ev["type"] == "ping" and answer_pings:
                await ws.send_json({"event": {"type": "pong", "client_event_id": ev["event_id"]}})
            elif ev["type"] == "session.create":
                created += 1
                if created > 1 and not second_session:
                    continue
                sid = str(uuid.uuid4())
                sessions.append(sid)
                await ws.send_json({"session_id": sid, "event": {"type": "session.created",
                                                                 "client_event_id": ev["event_id"]}})
                await ws.send_json({"session_id": sid, "event": {"type": "conversation.attached",
                                                                 "conversation": {"id": sid}}})
            elif ev["type"] == "response.create" and answer:
                sid = sessions[-1]
                await ws.send_json({"session_id": sid, "event": {"type": "response.chunk", "chunk": {
                    "text": {"text": f"answer {len(sessions)}", "channel": "CHANNEL_ASSISTANT_RESPONSE"}}}})
                await ws.send_json({"session_id": sid, "event": {"type": "response.done",
                                                                 "response": {"id": "r1", "status": "completed"}}})
                if close_after_done:
                    await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/api/auth/session", session)
    app.router.add_get("/ws/mgw/", socket)
    app[SESSIONS] = sessions
    return app


async def reuse(server: TestServer) -> str:
    base = str(server.make_url("")).rstrip("/")
    config: dict[str, Any] = {"grok_url": base, "assets_url": base, "first_byte_timeout": 5.0, "idle_timeout": 5.0}
    async with GrokClient(UpstreamConfig(**config)) as client:
        return await client.mgw_socket_reuse("basic-reuse-token", REQUEST)


@pytest.mark.parametrize(("close", "expected"), [(True, CLOSED_AFTER_DONE), (False, "")])
async def test_socket_reuse_is_reported_as_it_is(aiohttp_server: ServerFactory, close: bool, expected: str) -> None:
    server = await aiohttp_server(mgw_server(close_after_done=close))
    assert await reuse(server) == expected
    assert len(server.app[SESSIONS]) == (1 if close else 2)


async def test_pongs_do_not_hold_off_the_first_byte_timeout(aiohttp_server: ServerFactory) -> None:
    server = await aiohttp_server(mgw_server(close_after_done=False, answer=False))
    base = str(server.make_url("")).rstrip("/")
    config = UpstreamConfig(grok_url=base, assets_url=base, first_byte_timeout=0.6, heartbeat_seconds=0.1)
    async with GrokClient(config) as client:
        with pytest.raises(UpstreamError) as caught:
            async for _ in client.chat("basic-reuse-token", REQUEST):
                pass
    # The socket answered every ping; the answer never came: the first-byte timeout, not the total one.
    assert caught.value.kind is ErrorKind.TIMEOUT and caught.value.message == "mgw WebSocket went quiet"


async def test_an_unanswered_ping_means_no_reuse(aiohttp_server: ServerFactory) -> None:
    server = await aiohttp_server(mgw_server(close_after_done=False, answer_pings=False))
    base = str(server.make_url("")).rstrip("/")
    config = UpstreamConfig(grok_url=base, assets_url=base, heartbeat_seconds=0.1)
    async with GrokClient(config) as client:
        assert await client.mgw_socket_reuse("basic-reuse-token", REQUEST) == "a ping on the idle socket was not answered"
    assert len(server.app[SESSIONS]) == 1  # no second chat was spent on a socket the keeper would drop


@pytest.mark.parametrize(("keep_serving", "expected"), [(True, ""), (False, CLOSED_AFTER_DONE)])
async def test_fakegrok_reuse_follows_its_switch(aiohttp_server: ServerFactory, keep_serving: bool,
                                                 expected: str) -> None:
    from grok2api import fakegrok

    server = await aiohttp_server(fakegrok.make_app(fakegrok.FakeConfig(mgw_keep_serving=keep_serving)))
    assert await reuse(server) == expected
    state = server.app[fakegrok.FAKE_STATE]
    assert len(state.conversations) == (2 if keep_serving else 1)
