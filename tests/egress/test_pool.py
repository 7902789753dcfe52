"""The egress pool with real parts: GrokClient (curl_cffi) through loopback egresses to fakegrok with
Cloudflare's binding on, a FlareSolverr-speaking solver, SQLite storage shared by two "workers"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from curl_cffi.requests import AsyncSession

from grok2api.egress.options import EgressConfig
from grok2api.egress.pool import EgressError, EgressPool
from grok2api.fakegrok import FakeConfig, make_app
from grok2api.storage import make_storage
from grok2api.storage.base import Storage
from grok2api.upstream import GrokClient
from grok2api.upstream.chat import ChatRequest
from grok2api.upstream.errors import ErrorKind, UpstreamError
from tests.egress.loopback import SOLVER_UA, ConnectProxy, Solver
from tests.upstream.conftest import FakeGrok, collect


@dataclass
class Worker:
    """One worker's egress pool and client, and the bindings it stored."""

    pool: EgressPool
    client: GrokClient
    bound: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class World:
    fake: FakeGrok
    proxies: list[ConnectProxy]
    solver: Solver
    solver_url: str
    storages: list[Storage]
    workers: list[Worker]
    data_dir: Path

    async def storage(self) -> Storage:
        storage = make_storage("sqlite", "", self.data_dir)
        await storage.open()
        self.storages.append(storage)
        return storage

    async def worker(self, *, storage: Storage | None = None, urls: tuple[str, ...] | None = None,
                     solver: bool = True, owner: str = "w1", **config: Any) -> Worker:
        cfg = EgressConfig(urls=tuple(p.url for p in self.proxies) if urls is None else urls,
                           solver_url=self.solver_url if solver else "", solver_timeout=10,
                           target_url=self.fake.base + "/", **config)
        holder: list[Worker] = []

        async def bind(pairs: list[tuple[str, str]]) -> None:
            holder[0].bound.extend(pairs)

        async def probe(proxy: str) -> object:
            return await holder[0].client.reachable(proxy)

        pool = EgressPool(cfg, storage=storage or await self.storage(), owner=owner, bind=bind, probe=probe,
                          fetch=_no_pool, fallback_browser="chrome152")
        worker = Worker(pool, GrokClient(self.fake.config(), egress_hooks=pool))
        holder.append(worker)
        self.workers.append(worker)
        return worker


async def _no_pool(url: str) -> str:
    raise AssertionError("no proxy pool in these tests")


@pytest.fixture
async def world(aiohttp_server: Any, tmp_path: Path, proxies: list[ConnectProxy],
                solver: tuple[Solver, str]) -> AsyncIterator[World]:
    server = await aiohttp_server(make_app(FakeConfig(cloudflare_binding=True)))
    async with AsyncSession() as http:
        w = World(FakeGrok(server, http), proxies, solver[0], solver[1], [], [], tmp_path)
        yield w
        for worker in w.workers:
            await worker.pool.close()
            await worker.client.close()
        for storage in w.storages:
            await storage.close()


def _views(pool: EgressPool) -> dict[str, Any]:
    return {v.name: v for v in pool.snapshot()}


TOKENS = [f"pool-test-acct-{n}-0123456789" for n in range(8)]


async def test_accounts_are_bound_balanced_once_and_follow_the_stored_view(world: World) -> None:
    w = await world.worker()
    first, second = (p.url for p in world.proxies)
    routes = [await w.pool.route(f"acct{n}", "") for n in range(5)]
    assert routes == [first, second, first, second, first]
    assert w.bound == [(f"acct{n}", r) for n, r in enumerate(routes)]
    assert await w.pool.route("acct0", first) == first and len(w.bound) == 5  # sticky: nothing stored again
    # Another worker moved acct0 (the view says so): this one follows without storing anything.
    w.pool.sync_bindings([("acct0", second), ("acct1", second), ("acct2", first)])
    assert await w.pool.route("acct0", second) == second and len(w.bound) == 5
    assert {v.name: v.accounts for v in w.pool.snapshot()} == {first: 1, second: 2}


async def test_one_solve_for_many_concurrent_challenges(world: World) -> None:
    w = await world.worker()
    proxy = world.proxies[0].url
    uids = await asyncio.gather(*(w.client.user_id(t, proxy=proxy) for t in TOKENS))
    assert len(set(uids)) == len(TOKENS)
    assert world.solver.solves == {proxy: 1}
    view = _views(w.pool)[proxy]
    assert (view.solves, view.solve_failures, view.state) == (1, 0, "up") and view.challenges >= 1
    records = await world.fake.requests("/api/auth/session")
    assert {r["remote"] for r in records} == {"127.0.0.2"}
    cleared = [r for r in records if r["cookies"].get("cf_clearance")]
    assert len(cleared) == len(TOKENS) and {r["headers"]["user-agent"] for r in cleared} == {SOLVER_UA}


async def test_two_workers_share_one_solve_through_storage(world: World) -> None:
    storage = await world.storage()
    one = await world.worker(storage=storage, owner="w1")
    two = await world.worker(storage=await world.storage(), owner="w2")  # same database, own connection
    world.solver.delay = 0.3  # the second worker asks while the first one's solve is in flight
    proxy = world.proxies[1].url
    await asyncio.gather(one.client.user_id(TOKENS[0], proxy=proxy), two.client.user_id(TOKENS[1], proxy=proxy))
    assert world.solver.solves == {proxy: 1}
    clr_one, clr_two = one.pool.clearance(proxy), two.pool.clearance(proxy)
    assert clr_one is not None and clr_one == clr_two
    assert sum(_views(p.pool)[proxy].solves for p in (one, two)) == 1


async def test_a_challenge_a_fresh_clearance_does_not_cure_takes_the_egress_down(world: World) -> None:
    w = await world.worker()
    first, second = (p.url for p in world.proxies)
    for n in range(4):
        await w.pool.route(f"acct{n}", "")
    await world.fake.scenario(TOKENS[0], cloudflare=True)  # this path stays challenged whatever the cookie
    for attempt in (1, 2):
        with pytest.raises(UpstreamError) as err:
            await w.client.user_id(TOKENS[0], proxy=first)
        assert err.value.kind is ErrorKind.CLOUDFLARE
        assert world.solver.solves[first] == attempt  # each refused clearance was renewed once, then given up
    await w.pool.moved()  # the move runs as its own task
    views = _views(w.pool)
    assert views[first].state == "down" and views[first].accounts == 0 and views[second].accounts == 4
    assert sorted(w.bound[4:]) == [("acct0", second), ("acct2", second)]


async def test_without_a_solver_a_challenge_is_raised_and_counted(world: World) -> None:
    w = await world.worker(solver=False, fail_threshold=3)
    proxy = world.proxies[0].url
    with pytest.raises(UpstreamError) as err:
        await w.client.user_id(TOKENS[0], proxy=proxy)
    assert err.value.kind is ErrorKind.CLOUDFLARE and world.solver.requests == []
    view = _views(w.pool)[proxy]
    assert (view.challenges, view.requests, view.failures, view.state) == (1, 1, 1, "up")


async def test_a_failing_solver_is_reported_and_the_challenge_raised(world: World) -> None:
    w = await world.worker()
    world.solver.fail = True
    proxy = world.proxies[0].url
    with pytest.raises(UpstreamError) as err:
        await w.client.user_id(TOKENS[0], proxy=proxy)
    assert err.value.kind is ErrorKind.CLOUDFLARE
    view = _views(w.pool)[proxy]
    assert (view.solves, view.solve_failures) == (0, 1)
    assert "Error solving the challenge. Timeout." in view.solve_error
    assert view.last_error == "cloudflare (1 in a row)"
    world.solver.fail = False
    assert await w.client.user_id(TOKENS[0], proxy=proxy)  # the next call earns one
    assert _views(w.pool)[proxy].solves == 1


async def test_a_challenged_websocket_handshake_is_cleared_and_retried(world: World) -> None:
    w = await world.worker()
    proxy = world.proxies[0].url
    await w.client.user_id(TOKENS[0], proxy=proxy)  # clearance earned on the session probe
    await world.fake.control("DELETE", "/clearance")
    events = await collect(w.client.chat(TOKENS[0], ChatRequest(message="through the socket", mode="fast"),
                                         proxy=proxy))
    assert "Echo: through the socket" in "".join(getattr(e, "text", "") for e in events)
    assert world.solver.solves == {proxy: 2}
    # The refused upgrade, the plain GET that reads its challenge page, and the upgrade with the new clearance.
    sockets = await world.fake.requests("/ws/mgw/")
    assert len(sockets) == 3
    refused, read, accepted = (s["cookies"]["cf_clearance"] for s in sockets)
    assert refused == read != accepted


async def test_a_down_egress_answers_the_check_and_takes_new_accounts(world: World) -> None:
    w = await world.worker()
    first, second = world.proxies
    for n in range(4):
        await w.pool.route(f"acct{n}", "")
    await first.stop()
    for _ in range(2):
        with pytest.raises(UpstreamError) as err:
            await w.client.user_id(TOKENS[0], proxy=first.url)
        assert err.value.kind is ErrorKind.NETWORK
    await w.pool.moved()
    assert _views(w.pool)[first.url].state == "down"
    await w.pool.check()  # still stopped: stays down
    assert _views(w.pool)[first.url].state == "down"
    await first.start()  # the same port again
    await w.pool.check()
    views = _views(w.pool)
    assert views[first.url].state == "up" and (views[first.url].accounts, views[second.url].accounts) == (0, 4)
    assert await w.pool.route("acct-new", "") == first.url  # recovered: the least loaded takes the newcomer


async def test_drain_moves_accounts_is_stored_and_ends(world: World) -> None:
    storage = await world.storage()
    w = await world.worker(storage=storage)
    first, second = (p.url for p in world.proxies)
    for n in range(4):
        await w.pool.route(f"acct{n}", "")
    assert await w.pool.drain(first) == 2
    views = _views(w.pool)
    assert (views[first].state, views[first].accounts, views[second].accounts) == ("draining", 0, 4)
    assert await w.pool.route("acct-new", "") == second  # a draining egress takes no new account
    with pytest.raises(EgressError, match="no other egress"):
        await w.pool.drain(second)
    other = await world.worker(storage=await world.storage(), owner="w2")
    await other.pool.load_drains()
    assert _views(other.pool)[first].state == "draining"
    assert await w.pool.drain(views[first].id, on=False) == 0  # by id, as the admin page sends it
    await other.pool.load_drains()
    assert _views(other.pool)[first].state == "up"
    with pytest.raises(EgressError, match="no egress named"):
        await w.pool.drain("http://nowhere:1")


async def test_the_direct_egress_binds_nothing_and_cannot_be_drained(world: World) -> None:
    w = await world.worker(urls=())
    assert await w.pool.route("acct0", "") is None and w.bound == []
    (view,) = w.pool.snapshot()
    assert (view.name, view.current) == ("direct", "direct")
    with pytest.raises(EgressError, match="cannot be drained"):
        await w.pool.drain("direct")


async def test_a_clearance_near_expiry_is_renewed_by_the_check(world: World) -> None:
    await world.fake.control("PATCH", "/config", {"clearance_seconds": 120})
    w = await world.worker(refresh_before=300)
    proxy = world.proxies[0].url
    await w.client.user_id(TOKENS[0], proxy=proxy)
    old = w.pool.clearance(proxy)
    assert old is not None and old.expires_at - old.obtained_at <= 121
    await w.pool.check()
    new = w.pool.clearance(proxy)
    assert world.solver.solves == {proxy: 2} and new is not None and new.obtained_at > old.obtained_at
    idle = await world.worker(refresh_before=0, owner="w2")
    await idle.client.user_id(TOKENS[1], proxy=world.proxies[1].url)
    await idle.pool.check()
    assert world.solver.solves[world.proxies[1].url] == 1  # 0: renew only when challenged


async def test_reconfiguring_keeps_what_stays_and_moves_accounts_off_what_went(world: World) -> None:
    w = await world.worker()
    first, second = (p.url for p in world.proxies)
    await w.pool.route("acct0", "")
    await w.client.user_id(TOKENS[0], proxy=first)
    kept = w.pool.clearance(first)
    w.pool.configure(EgressConfig(urls=(second, first), solver_url=world.solver_url, target_url=world.fake.base + "/"))
    assert w.pool.clearance(first) is kept
    w.pool.configure(EgressConfig(urls=(second,), solver_url=world.solver_url, target_url=world.fake.base + "/"))
    assert await w.pool.route("acct0", first) == second
    assert w.bound[-1] == ("acct0", second)
