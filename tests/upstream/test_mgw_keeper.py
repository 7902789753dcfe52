"""Kept mgw sockets (`chat.mgw_keep_socket`), end to end: the real app and curl_cffi client against fakegrok."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from grok2api.keys import GROK_CLIENT
from grok2api.storage.base import Quota
from grok2api.upstream import ChatRequest, GrokClient, UpstreamConfig
from grok2api.upstream.errors import ErrorKind
from grok2api.upstream.events import TextDelta
from grok2api.upstream.identity import Clearance
from grok2api.upstream.options import DEFAULT_BROWSER, DEFAULT_USER_AGENT
# make_stack: the gateway tests' fixture, used here by name.
from tests.gateway.conftest import MakeStack, Stack, cut_stream_text, make_stack  # noqa: F401
from tests.upstream.conftest import FakeGrok
from tests.upstream.test_mgw_reuse import SESSIONS, mgw_server

TOKEN = "sso-keeper-" + "k" * 32
OTHER = "sso-keeper-other-" + "o" * 32
KEEP = {"GROK2API_CHAT_MGW_KEEP_SOCKET": "true"}


async def ask(stack: Stack, text: str, *, stream: bool = False) -> str:
    messages: Any = [{"role": "user", "content": text}]
    if not stream:
        result = await stack.sdk.chat.completions.create(model="grok-4", messages=messages)
        return result.choices[0].message.content or ""
    chunks = await stack.sdk.chat.completions.create(model="grok-4", messages=messages, stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])


async def sockets(stack: Stack) -> list[list[str]]:
    """The event types the client sent on each mgw socket fakegrok accepted, oldest first."""
    records = await stack.fake_requests(path="/ws/mgw")
    return [[m["event"]["type"] for m in r.get("ws_messages", [])] for r in sorted(records, key=lambda r: r["time"])]


def client(stack: Stack) -> GrokClient:
    return stack.app[GROK_CLIENT]


async def wait_until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def remaining(stack: Stack, account_id: str) -> int:
    return (await stack.account(account_id)).quota["fast"].remaining


async def test_sequential_chats_share_one_socket(make_stack: MakeStack) -> None:
    stack = await make_stack(KEEP)  # the environment name the benchmark harness sets
    [account] = await stack.add_tokens([TOKEN])
    assert client(stack).config.mgw_keep_socket
    assert await ask(stack, "one") == "Echo: one"
    assert await ask(stack, "two", stream=True) == "Echo: two"
    [used] = await sockets(stack)  # one WebSocket handshake for both chats
    assert [t for t in used if t != "ping"] == ["session.create", "conversation.item.create", "response.create"] * 2
    assert client(stack).mgw_keeper.idle == 1
    assert await remaining(stack, account) == 28  # one unit per chat, as without reuse


async def test_setting_off_opens_a_socket_per_chat(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([TOKEN])
    assert not client(stack).config.mgw_keep_socket
    assert await ask(stack, "one") == "Echo: one"
    assert await ask(stack, "two", stream=True) == "Echo: two"
    assert len(await sockets(stack)) == 2
    assert client(stack).mgw_keeper.idle == 0


async def test_an_idle_socket_is_pinged_and_closed_after_its_lifetime(make_stack: MakeStack) -> None:
    stack = await make_stack({**KEEP, "GROK2API_CHAT_MGW_SOCKET_IDLE_SEC": "1"})
    await stack.add_tokens([TOKEN])
    grok = client(stack)
    # The browser's 3 s cadence, shortened so that several pings fit into the idle lifetime.
    grok.reconfigure(dataclasses.replace(grok.config, heartbeat_seconds=0.2))
    assert await ask(stack, "one") == "Echo: one"
    assert grok.mgw_keeper.idle == 1
    await wait_until(lambda: grok.mgw_keeper.idle == 0)
    [used] = await sockets(stack)
    after = used[used.index("response.create") + 1:]
    assert len(after) >= 2 and set(after) == {"ping"}, after  # pinged while idle, nothing else
    assert await ask(stack, "two") == "Echo: two"
    assert len(await sockets(stack)) == 2  # the closed one was not used again


async def test_a_socket_grok_closed_is_replaced_without_an_error(make_stack: MakeStack) -> None:
    stack = await make_stack(KEEP)
    [account] = await stack.add_tokens([TOKEN])
    assert await ask(stack, "one") == "Echo: one"
    assert client(stack).mgw_keeper.idle == 1
    # grok.com stops serving a second conversation: the kept socket ends at the next session.create.
    stack.state.config.mgw_keep_serving = False
    assert await ask(stack, "two", stream=True) == "Echo: two"
    first, second = await sockets(stack)
    # Nothing counted went out on the dead socket: the chat was sent on the fresh one.
    assert first == ["session.create", "conversation.item.create", "response.create", "session.create"]
    assert second == ["session.create", "conversation.item.create", "response.create"]
    assert await remaining(stack, account) == 28
    record = await stack.account(account)
    assert record.status == "active" and record.fail_count == 0
    # This one the fake closed right after response.done: whether the keeper has noticed yet or the next
    # chat finds out at its session.create, that chat is served all the same, on a third socket.
    assert await ask(stack, "three") == "Echo: three"
    assert len(await sockets(stack)) == 3
    assert await remaining(stack, account) == 27


async def test_concurrent_chats_never_share_a_socket(make_stack: MakeStack) -> None:
    stack = await make_stack(KEEP)
    await stack.add_tokens([TOKEN])
    assert await ask(stack, "first") == "Echo: first"
    assert client(stack).mgw_keeper.idle == 1
    stack.state.config.token_interval = 0.05  # both answers are still streaming when the other starts
    answers = await asyncio.gather(ask(stack, "left right up", stream=True), ask(stack, "down under", stream=True))
    assert answers == ["Echo: left right up", "Echo: down under"]
    used = await sockets(stack)
    # One chat took the kept socket, the other opened its own.
    assert [u.count("session.create") for u in used] == [2, 1]
    assert client(stack).mgw_keeper.idle == 1  # one kept for the account and egress, the other closed
    assert await ask(stack, "again") == "Echo: again"
    assert len(await sockets(stack)) == 2


async def kept_socket_of_the_first_account(stack: Stack, keep: bool = True) -> tuple[str, str]:
    """Two accounts, the first preferred (fuller quota), which holds a kept socket after one chat."""
    first, second = await stack.add_tokens([TOKEN, OTHER])
    await stack.storage.set_quota(first, "fast", Quota(30, 30, 86400))
    await stack.storage.set_quota(second, "fast", Quota(20, 30, 86400))
    await stack.pool.load()
    assert await ask(stack, "warm") == "Echo: warm"
    assert client(stack).mgw_keeper.idle == int(keep) and await remaining(stack, first) == 29
    return first, second


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("scenario", ["usage_limit", "anti_bot"])
async def test_a_refusal_on_a_kept_socket_fails_over_before_the_first_byte(make_stack: MakeStack,
                                                                           scenario: str, keep: bool) -> None:
    """The same account records with and without reuse: the protections do not depend on the setting."""
    stack = await make_stack({"GROK2API_CHAT_MGW_KEEP_SOCKET": str(keep).lower(),
                              "GROK2API_RETRY_RETRY_BACKOFF_BASE": "0.01", "GROK2API_RETRY_RETRY_BACKOFF_MAX": "0.02"})
    first, second = await kept_socket_of_the_first_account(stack, keep)
    stack.switches(TOKEN, **{scenario: True})  # grok.com refuses the chat in-band, on the kept socket
    assert await ask(stack, "hello failover", stream=True) == "Echo: hello failover"
    record = await stack.account(first)
    # Whatever the setting: the refused unit is not spent; a usage limit cools the account, anti-bot does not.
    expected = (29, 1, "cooling") if scenario == "usage_limit" else (29, 0, "active")
    assert (record.quota["fast"].remaining, record.use_count, record.status) == expected
    assert await remaining(stack, second) == 19
    used = await sockets(stack)
    # With reuse the refused chat went out on the kept socket; the other account has its own.
    assert [u.count("response.create") for u in used] == ([2, 1] if keep else [1, 1, 1])
    if keep:  # the refusing account's socket was closed; the one kept now is the other account's
        await wait_until(lambda: client(stack).mgw_keeper.idle == 1)
        assert [key[0] for key in client(stack).mgw_keeper._idle] == [OTHER]


async def test_a_failure_after_the_first_byte_on_a_kept_socket_is_the_clients(make_stack: MakeStack) -> None:
    stack = await make_stack(KEEP)
    first, second = await kept_socket_of_the_first_account(stack)
    stack.state.config.token_interval = 0.02
    stack.switches(TOKEN, stream_cut="abort")
    received = await cut_stream_text(stack)
    assert received.startswith("Echo:")
    await wait_until(lambda: stack.pool.reserved == 0)
    assert await remaining(stack, first) == 28 and await remaining(stack, second) == 20  # spent; no failover
    assert client(stack).mgw_keeper.idle == 0  # the broken socket is not kept
    assert len(await sockets(stack)) == 1


async def test_settings_change_and_close_end_kept_sockets(fake: FakeGrok) -> None:
    grok = GrokClient(fake.config(mgw_keep_socket=True))
    request = ChatRequest(message="hi", mode="fast", transport="ws", thinking=False)

    async def chat() -> str:
        return "".join([e.text async for e in grok.chat(TOKEN, request) if isinstance(e, TextDelta)])

    async with grok:
        assert await chat() == "Echo: hi"
        [kept] = grok.mgw_keeper._idle.values()
        assert grok.reconfigure(dataclasses.replace(grok.config, idle_timeout=7.0))
        assert grok.mgw_keeper.idle == 0
        await wait_until(lambda: kept.conn.closed)
        assert await chat() == "Echo: hi"
        [kept] = grok.mgw_keeper._idle.values()
        assert grok.reconfigure(dataclasses.replace(grok.config, mgw_keep_socket=False))
        assert await chat() == "Echo: hi"
        assert grok.mgw_keeper.idle == 0  # off: nothing is kept any more
        assert grok.reconfigure(dataclasses.replace(grok.config, mgw_keep_socket=True))
        assert await chat() == "Echo: hi"
        [kept] = grok.mgw_keeper._idle.values()
    assert grok.mgw_keeper.idle == 0 and kept.conn.closed  # closed at shutdown
    assert len(await fake.requests("/ws/mgw")) == 4


class OneClearance:
    """Egress hooks that hold one clearance for every egress, renewed by the test."""

    def __init__(self, value: str) -> None:
        self.current = self.make(value)

    @staticmethod
    def make(value: str) -> Clearance:
        return Clearance({"cf_clearance": value}, DEFAULT_USER_AGENT, DEFAULT_BROWSER, obtained_at=1.0)

    def clearance(self, egress: str) -> Clearance | None:
        return self.current

    async def challenged(self, egress: str, seen: Clearance | None) -> Clearance | None:
        return None

    def observed(self, egress: str, kind: ErrorKind | None) -> None:
        pass


async def test_a_renewed_clearance_means_a_new_socket(fake: FakeGrok) -> None:
    """C13: a socket is bound to the clearance its handshake presented; a renewed one is not sent on the old."""
    hooks = OneClearance("first")
    request = ChatRequest(message="hi", mode="fast", transport="ws", thinking=False)
    async with GrokClient(fake.config(mgw_keep_socket=True), egress_hooks=hooks) as grok:
        for value in ("first", "first", "second", "second"):
            hooks.current = OneClearance.make(value)
            assert "".join([e.text async for e in grok.chat(TOKEN, request) if isinstance(e, TextDelta)]) == "Echo: hi"
    records = sorted(await fake.requests("/ws/mgw"), key=lambda r: r["time"])
    assert [r["cookies"]["cf_clearance"] for r in records] == ["first", "second"]
    assert [sum(m["event"]["type"] == "session.create" for m in r["ws_messages"]) for r in records] == [2, 2]


async def keeper_chats(server: TestServer, n: int, *, dropped: bool = False, **config: Any) -> list[str]:
    base = str(server.make_url("")).rstrip("/")
    request = ChatRequest(message="hi", mode="fast", transport="ws", thinking=False)
    answers = []
    async with GrokClient(UpstreamConfig(grok_url=base, assets_url=base, mgw_keep_socket=True, **config)) as grok:
        for _ in range(n):
            answers.append("".join([e.text async for e in grok.chat(TOKEN, request) if isinstance(e, TextDelta)]))
            assert grok.mgw_keeper.idle == 1
        if dropped:
            await wait_until(lambda: grok.mgw_keeper.idle == 0)
    return answers


async def test_a_socket_that_stops_answering_pings_is_dropped(aiohttp_server: Any) -> None:
    server = await aiohttp_server(mgw_server(close_after_done=False, answer_pings=False))
    # Dropped after a heartbeat without a pong, long before its idle lifetime (30 s).
    assert await keeper_chats(server, 1, dropped=True, heartbeat_seconds=0.1) == ["answer 1"]


async def test_a_kept_socket_silent_at_session_create_is_replaced(aiohttp_server: Any) -> None:
    """A half-open kept socket: the chat waits a short session timeout, not the first-byte one, and goes
    out on a fresh socket; nothing counted was sent on the silent one."""
    server = await aiohttp_server(mgw_server(close_after_done=False, second_session=False))
    answers = await keeper_chats(server, 3, first_byte_timeout=30.0, heartbeat_seconds=0.2)
    # Sessions are numbered over all sockets: the silent second session.create opened none.
    assert answers == ["answer 1", "answer 2", "answer 3"]
    assert len(server.app[SESSIONS]) == 3
