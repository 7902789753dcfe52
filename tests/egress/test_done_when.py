"""Issue 23's "Done when", end to end: the real gateway and curl_cffi client, two loopback egresses leaving
from 127.0.0.2 and 127.0.0.3, a FlareSolverr-speaking solver, and fakegrok with Cloudflare's binding on
(every call needs a cf_clearance minted for its client address and User-Agent)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import pytest

from grok2api.keys import EGRESS
from grok2api.storage.base import Quota
from tests.egress.conftest import SOURCES, EgressStack, MakeEgressStack
from tests.egress.loopback import SOLVER_UA

TOKENS = ["egress-acct-1-0123456789", "egress-acct-2-0123456789", "egress-acct-3-0123456789",
          "egress-acct-4-0123456789"]
HELLO = [{"role": "user", "content": "hello egress"}]


@pytest.fixture(params=["ws", "rest"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _env(transport: str) -> dict[str, str]:
    return {"GROK2API_CHAT_TRANSPORT": transport}


async def _give(es: EgressStack, units: dict[str, int]) -> None:
    """Exactly these `fast` units per account: concurrent chats then use every account, and each as
    often as it has units (a refused reservation moves on to the next account)."""
    for account_id, n in units.items():
        await es.stack.storage.set_quota(account_id, "fast", Quota(n, 30, 86400, 0.0))
    await es.stack.pool.load()


async def _chats(es: EgressStack, n: int) -> list[str]:
    sdk = es.stack.sdk
    results = await asyncio.gather(*(sdk.chat.completions.create(model="grok-4", messages=HELLO) for _ in range(n)))
    return [r.choices[0].message.content or "" for r in results]


def _addresses_by_account(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        seen[rec["cookies"].get("sso", "")].add(rec["remote"])
    return seen


async def _statuses(es: EgressStack) -> dict[str, tuple[str, int, float]]:
    return {a.token: (a.status, a.fail_count, a.cooldown_until) for a in await es.stack.storage.all_accounts()}


async def test_chats_stick_to_one_egress_each_with_one_solve_per_egress(make_egress_stack: MakeEgressStack,
                                                                        transport: str) -> None:
    es = await make_egress_stack(_env(transport))
    ids = await es.stack.add_tokens(TOKENS)
    await _give(es, dict.fromkeys(ids, 3))
    assert await _chats(es, 12) == ["Echo: hello egress"] * 12
    # At most one solve per egress, each through that egress.
    assert set(es.solver.solves) == {p.url for p in es.proxies}
    assert all(n == 1 for n in es.solver.solves.values())
    assert [r["proxy"] for r in es.solver.requests] and all(r["proxy"]["url"] in es.solver.solves
                                                            for r in es.solver.requests)
    records = await es.stack.fake_requests()
    # Nothing reached the fake directly (127.0.0.1): every call, the solver's included, came through an egress.
    assert {r["remote"] for r in records} == set(SOURCES)
    by_account = _addresses_by_account(records)
    for token in TOKENS:
        assert len(by_account[token]) == 1, f"{token} left through {by_account[token]}"
    # Balanced: two accounts per egress, and the binding is stored with each account.
    used = [next(iter(by_account[t])) for t in TOKENS]
    assert sorted(used.count(src) for src in SOURCES) == [2, 2]
    stored = {a.token: a.egress for a in await es.stack.storage.all_accounts()}
    names = {view.name for view in es.stack.app[EGRESS].snapshot()}
    assert set(stored.values()) == names and all(stored[t] for t in TOKENS)
    # Once cleared, account calls present the solver's identity: its cookie, User-Agent and client hints;
    # the calls before the solve (the first on each egress, or the first concurrent wave) were challenged.
    account_calls = [r for r in records if r["cookies"].get("sso")]
    cleared = [r for r in account_calls if r["cookies"].get("cf_clearance")]
    assert len(cleared) >= 12  # each chat: a session probe and a socket (ws), a conversation (rest)
    assert {r["headers"]["user-agent"] for r in cleared} == {SOLVER_UA}
    assert all('v="146"' in r["headers"]["sec-ch-ua"] for r in cleared if "sec-ch-ua" in r["headers"])
    assert len(account_calls) - len(cleared) <= 12


async def test_revoked_clearances_cost_one_new_solve_per_egress_and_no_account_change(
        make_egress_stack: MakeEgressStack, transport: str) -> None:
    es = await make_egress_stack(_env(transport))
    ids = await es.stack.add_tokens(TOKENS)
    await _give(es, dict.fromkeys(ids, 3))
    assert await _chats(es, 12) == ["Echo: hello egress"] * 12
    before = await _statuses(es)
    assert all(status == ("active", 0, 0.0) for status in before.values())
    assert await es.revoke() == 2
    solves_before = dict(es.solver.solves)
    await _give(es, dict(zip(ids, (3, 3, 2, 2))))
    assert await _chats(es, 10) == ["Echo: hello egress"] * 10
    new = {proxy: es.solver.solves[proxy] - solves_before.get(proxy, 0) for proxy in es.solver.solves}
    assert new == {p.url: 1 for p in es.proxies}
    assert await _statuses(es) == before
    # The challenges were seen by the fake, and counted per egress by the gateway.
    assert sum((await es.clearances())["challenges"].values()) >= 2
    views = es.stack.app[EGRESS].snapshot()
    assert all(v.solves == 2 and v.challenges >= 2 and v.solve_failures == 0 for v in views)


async def test_a_stopped_egress_moves_its_accounts_with_no_failed_request(make_egress_stack: MakeEgressStack,
                                                                          transport: str,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    es = await make_egress_stack(_env(transport))
    ids = await es.stack.add_tokens(TOKENS)
    await _give(es, dict.fromkeys(ids, 2))
    assert await _chats(es, 8) == ["Echo: hello egress"] * 8
    pool = es.stack.app[EGRESS]
    first, second = es.proxies
    stopped = next(v for v in pool.snapshot() if v.name == first.url)
    assert stopped.accounts == 2
    await first.stop()
    await es.stack.clear_requests()
    await _give(es, dict.fromkeys(ids, 2))
    # Sequential, so each request meets whatever state the previous ones left.
    with caplog.at_level(logging.INFO, logger="grok2api.egress"):
        for _ in range(8):
            assert await _chats(es, 1) == ["Echo: hello egress"]
    moves = [r.getMessage() for r in caplog.records if "moved" in r.getMessage()]
    assert moves and all(first.url in m for m in moves), moves
    assert any("is down after 2 failures" in r.getMessage() for r in caplog.records)
    views = {v.name: v for v in pool.snapshot()}
    assert views[first.url].state == "down" and views[first.url].accounts == 0
    assert views[second.url].state == "up" and views[second.url].accounts == 4
    for account_id in ids:
        assert (await es.stack.account(account_id)).egress == second.url
    records = await es.stack.fake_requests()
    assert {r["remote"] for r in records} == {SOURCES[1]}
    assert all(status == ("active", 0, 0.0) for status in (await _statuses(es)).values())
