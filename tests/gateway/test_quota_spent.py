"""Once the counted request has gone to grok.com the account's unit is spent (issue 18, point 1).

A client that leaves mid-stream, or a failure after grok.com started answering, must not give the
unit back: the gateway's view of an account's quota and grok.com's own count stay equal. Refusals
that grok.com never counts (429, anti-bot, connect errors) still give it back and fail over.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from grok2api.fakegrok import FakeConfig
from tests.gateway.conftest import MakeStack, Stack

BASIC = "sso-spent-basic-" + "b" * 32
OTHER = "sso-spent-other-" + "o" * 32
SLOW = [{"role": "user", "content": "[[tokens:60]] keep talking"}]
QUICK = [{"role": "user", "content": "hello spent"}]


def _chats(records: list[dict]) -> list[dict]:
    """The calls grok.com counts: mgw sockets and REST conversations/new."""
    return [r for r in records if r["path"].startswith(("/ws/mgw", "/rest/app-chat/conversations/new"))]


async def _idle(stack: Stack) -> None:
    """Until every lease of the gateway is settled, spent or released (the dropped streams end)."""
    for _ in range(400):
        if stack.pool.reserved == 0:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{stack.pool.reserved} leases still open")


async def _drop_after_first_delta(stack: Stack) -> None:
    body = {"model": "grok-4", "messages": SLOW, "stream": True}
    async with stack.http.post("/v1/chat/completions", json=body, headers=stack.headers()) as resp:
        assert resp.status == 200
        async for line in resp.content:
            if line.startswith(b"data: ") and b'"content"' in line:
                data = json.loads(line[6:])
                if data["choices"][0]["delta"].get("content"):
                    break
        # Leaving the `async with` closes the connection mid-stream: the client went away.


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_streams_dropped_after_the_first_delta_spend_their_unit(make_stack: MakeStack,
                                                                      transport: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport},
                             fake_config=FakeConfig(token_interval=0.05))
    (aid,) = await stack.add_tokens([BASIC])
    await asyncio.gather(*(_drop_after_first_delta(stack) for _ in range(20)))
    await _idle(stack)
    assert (await stack.account(aid)).quota["fast"].remaining == 10  # 30 - 20 dropped streams

    statuses = []
    for _ in range(20):
        resp = await stack.http.post("/v1/chat/completions", headers=stack.headers(),
                                     json={"model": "grok-4", "messages": QUICK})
        statuses.append(resp.status)
        await resp.read()
    assert statuses.count(200) == 10 and set(statuses[10:]) == {503}, statuses
    # grok.com saw exactly its quota, never the 31st call that would have answered 429.
    assert len(_chats(await stack.fake_requests(token=BASIC))) == 30
    fake = stack.state.accounts[BASIC].quotas["fast"]
    rec = await stack.account(aid)
    assert rec.quota["fast"].remaining == fake.remaining == 0
    assert rec.status == "active"  # never cooled by a 429 it should have seen coming


async def test_refusals_grok_never_counted_are_given_back(make_stack: MakeStack) -> None:
    """429 before any output: not counted by grok.com, so the unit comes back and the next account
    serves (failover before the first byte is unchanged)."""
    stack = await make_stack()
    bad, good = await stack.add_tokens([BASIC, OTHER])
    from grok2api.storage.base import Quota
    await stack.storage.set_quota(bad, "fast", Quota(30, 30, 86400))
    await stack.storage.set_quota(good, "fast", Quota(20, 30, 86400))
    await stack.pool.load()
    stack.switches(BASIC, rate_limited=60)
    result = await stack.sdk.chat.completions.create(model="grok-4", messages=QUICK)
    assert result.choices[0].message.content == "Echo: hello spent"
    assert (await stack.account(bad)).quota["fast"].remaining == 30
    assert (await stack.account(good)).quota["fast"].remaining == 19


async def test_a_stream_cut_by_grok_after_output_keeps_its_unit_spent(make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": "rest"})
    (aid,) = await stack.add_tokens([BASIC])
    stack.switches(BASIC, stream_cut=True)
    body = {"model": "grok-4", "messages": SLOW, "stream": True}
    async with stack.http.post("/v1/chat/completions", json=body, headers=stack.headers()) as resp:
        text = await resp.text()
    assert resp.status == 200 and '"error"' in text
    await _idle(stack)
    assert len(_chats(await stack.fake_requests(token=BASIC))) == 1
    assert (await stack.account(aid)).quota["fast"].remaining == 29


@pytest.mark.parametrize(("transport", "left"), [("rest", 29), ("ws", 30)])
async def test_a_5xx_to_the_sent_request_counts_but_a_refused_handshake_does_not(
        make_stack: MakeStack, transport: str, left: int) -> None:
    """A 500 answering the counted REST request may have been counted by grok.com: spent (the gateway
    never risks overspending). The same 500 refusing the mgw handshake left nothing to count."""
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport, "GROK2API_RETRY_MAX_RETRY": "0"})
    (aid,) = await stack.add_tokens([BASIC])
    stack.switches(BASIC, server_error=500)
    resp = await stack.http.post("/v1/chat/completions", headers=stack.headers(),
                                 json={"model": "grok-4", "messages": QUICK})
    assert resp.status == 502
    assert (await stack.account(aid)).quota["fast"].remaining == left
