"""The Pool against real storage engines: leases, tiers, failure policy, concurrency, sync."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from grok2api.catalog import ModelRoute, load_catalog
from grok2api.pool import Lease, NoAccountAvailable, Pool, PoolConfig
from grok2api.storage.base import TOPIC_ACCOUNTS, Storage, account_id_for
from grok2api.upstream.errors import ErrorKind, UpstreamError

from .conftest import Clock, record

CATALOG = load_catalog(None)
FAST: ModelRoute = CATALOG.get("grok-chat-fast")  # type: ignore[assignment]
EXPERT: ModelRoute = CATALOG.get("grok-chat-expert")  # type: ignore[assignment]
CFG = PoolConfig(default_quotas={})  # no bucket filling: each test states its quotas


async def make_pool(storage: Storage, clock: Callable[[], float] | None = None, **cfg: object) -> Pool:
    config = PoolConfig(default_quotas={}, **cfg)  # type: ignore[arg-type]
    pool = Pool(storage, config, clock=clock or Clock(), rng=random.Random(0))
    await pool.load()
    return pool


async def test_acquire_settle_release(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=3)])
    aid = account_id_for("tok-a-0123456789")
    clock = Clock()
    pool = await make_pool(storage, clock)
    lease = await pool.acquire(FAST)
    assert isinstance(lease, Lease) and lease.account.id == aid and lease.remaining == 2
    assert await lease.settle() and not await lease.settle() and not await lease.release()
    rec = await storage.get_account(aid)
    assert rec is not None and rec.quota["fast"].remaining == 2 and rec.use_count == 1
    assert rec.last_used_at == clock.now
    other = await pool.acquire(FAST)
    assert (await storage.get_account(aid)).quota["fast"].remaining == 1  # type: ignore[union-attr]
    assert await other.release() and not await other.release()
    assert (await storage.get_account(aid)).quota["fast"].remaining == 2  # type: ignore[union-attr]
    assert pool.get(aid).quota["fast"].remaining == 2  # type: ignore[union-attr]


async def test_spent_account_is_not_chosen_and_reason_is_given(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=1)])
    pool = await make_pool(storage)
    await (await pool.acquire(FAST)).settle()
    with pytest.raises(NoAccountAvailable) as exc:
        await pool.acquire(FAST)
    assert exc.value.code == "exhausted" and "spent" in exc.value.reason


async def test_no_accounts_for_tier(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-basic-0123456", expert=9)])
    pool = await make_pool(storage)
    with pytest.raises(NoAccountAvailable) as exc:
        await pool.acquire(EXPERT)
    assert exc.value.code == "no_accounts" and "super" in exc.value.reason


async def test_tier_fallback_basic_then_super_then_heavy(storage: Storage) -> None:
    await storage.upsert_accounts([
        record("tok-basic-0123456", "basic", fast=1),
        record("tok-super-0123456", "super", fast=1),
        record("tok-heavy-0123456", "heavy", fast=50),  # most quota, but last in tier order
    ])
    pool = await make_pool(storage)
    pools = []
    for _ in range(3):
        lease = await pool.acquire(FAST)
        pools.append(lease.account.pool)
        await lease.settle()
    assert pools == ["basic", "super", "heavy"]


async def test_super_only_model_never_touches_a_basic_account(storage: Storage) -> None:
    await storage.upsert_accounts([
        record("tok-basic-0123456", "basic", expert=100),
        record("tok-super-0123456", "super", expert=2),
    ])
    pool = await make_pool(storage)
    for _ in range(2):
        lease = await pool.acquire(EXPERT)
        assert lease.account.pool == "super"
        await lease.settle()
    with pytest.raises(NoAccountAvailable):
        await pool.acquire(EXPERT)
    basic = await storage.get_account(account_id_for("tok-basic-0123456"))
    assert basic is not None and basic.quota["expert"].remaining == 100 and basic.use_count == 0


async def test_429_cools_the_account_until_its_wait_time(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=10), record("tok-b-0123456789", fast=5)])
    a, b = account_id_for("tok-a-0123456789"), account_id_for("tok-b-0123456789")
    clock = Clock()
    pool = await make_pool(storage, clock)
    lease = await pool.acquire(FAST)
    assert lease.account.id == a  # max_quota
    await lease.release()
    change = await pool.report_failure(lease, UpstreamError(ErrorKind.RATE_LIMITED, "429", status=429, retry_after=60))
    assert change.status == "cooling"
    stored = await storage.get_account(a)
    assert stored is not None and stored.status == "cooling" and stored.cooldown_until == clock.now + 60
    for _ in range(3):  # failover goes elsewhere while a cools
        other = await pool.acquire(FAST)
        assert other.account.id == b
        await other.release()
    clock.advance(59)
    assert (await pool.acquire(FAST)).account.id == b
    clock.advance(1)
    back = await pool.acquire(FAST)
    assert back.account.id == a
    await back.settle()
    await pool.report_success(back)
    assert (await storage.get_account(a)).status == "active"  # type: ignore[union-attr]


async def test_429_with_nothing_left_zeroes_the_bucket(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=10)])
    clock = Clock()
    pool = await make_pool(storage, clock)
    lease = await pool.acquire(FAST)
    await lease.release()
    await pool.report_failure(lease, UpstreamError(ErrorKind.RATE_LIMITED, "limit", retry_after=30, remaining=0))
    q = (await storage.get_account(lease.account.id)).quota["fast"]  # type: ignore[union-attr]
    assert (q.remaining, q.total, q.resets_at) == (0, 10, clock.now + 30)
    clock.advance(31)
    with pytest.raises(NoAccountAvailable) as exc:  # cooldown over but the bucket is empty
        await pool.acquire(FAST)
    assert exc.value.code == "exhausted"


async def test_auth_reaches_threshold_then_invalid_and_never_chosen(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-bad-012345678", fast=100), record("tok-good-01234567", fast=5)])
    bad = account_id_for("tok-bad-012345678")
    pool = await make_pool(storage, fail_threshold=3)
    for n in range(1, 4):
        lease = await pool.acquire(FAST)
        assert lease.account.id == bad
        await lease.release()
        await pool.report_failure(lease, UpstreamError(ErrorKind.AUTH, "401", status=401))
        assert (await storage.get_account(bad)).fail_count == n  # type: ignore[union-attr]
    assert (await storage.get_account(bad)).status == "invalid"  # type: ignore[union-attr]
    for _ in range(10):
        lease = await pool.acquire(FAST)
        assert lease.account.id != bad
        await lease.release()
    fresh = await make_pool(storage)  # another worker's view agrees
    for _ in range(10):
        lease = await fresh.acquire(FAST)
        assert lease.account.id != bad
        await lease.release()


async def test_success_resets_the_failure_count(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=10)])
    pool = await make_pool(storage, fail_threshold=3)
    lease = await pool.acquire(FAST)
    await lease.release()
    await pool.report_failure(lease, UpstreamError(ErrorKind.AUTH, "401"))
    lease = await pool.acquire(FAST)
    await lease.settle()
    await pool.report_success(lease)
    assert (await storage.get_account(lease.account.id)).fail_count == 0  # type: ignore[union-attr]


async def test_cloudflare_leaves_the_account_active(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=10)])
    pool = await make_pool(storage)
    before = (await storage.counters()).get(TOPIC_ACCOUNTS, 0)
    for _ in range(10):
        lease = await pool.acquire(FAST)
        await lease.release()
        change = await pool.report_failure(lease, UpstreamError(ErrorKind.CLOUDFLARE, "challenge", status=403))
        assert not change
    rec = await storage.get_account(lease.account.id)
    assert rec is not None and rec.status == "active" and rec.fail_count == 0 and rec.quota["fast"].remaining == 10
    assert (await storage.counters()).get(TOPIC_ACCOUNTS, 0) == before  # nothing to publish


async def test_exclude_and_all_tried(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=10), record("tok-b-0123456789", fast=5)])
    pool = await make_pool(storage)
    first = await pool.acquire(FAST)
    second = await pool.acquire(FAST, exclude={first.account.id})
    assert second.account.id != first.account.id
    with pytest.raises(NoAccountAvailable) as exc:
        await pool.acquire(FAST, exclude={first.account.id, second.account.id})
    assert exc.value.code == "all_tried"


async def test_next_reset_is_reported(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", fast=10)])
    clock = Clock()
    pool = await make_pool(storage, clock)
    lease = await pool.acquire(FAST)
    await lease.release()
    await pool.report_failure(lease, UpstreamError(ErrorKind.RATE_LIMITED, "429", retry_after=90))
    clock.advance(30)
    with pytest.raises(NoAccountAvailable) as exc:
        await pool.acquire(FAST)
    assert exc.value.retry_after == pytest.approx(60) and "next reset in 60 s" in exc.value.reason


async def test_refused_reservation_moves_to_the_next_candidate(storage_factory: Callable[[], object]) -> None:
    s1: Storage = await storage_factory()  # type: ignore[misc]
    s2: Storage = await storage_factory()  # type: ignore[misc]
    await s1.upsert_accounts([record("tok-a-0123456789", fast=10), record("tok-b-0123456789", fast=3)])
    a = account_id_for("tok-a-0123456789")
    worker = await make_pool(s1)
    assert await s2.reserve(a, "fast", 10) == 0  # another worker spent a behind our back
    lease = await worker.acquire(FAST)  # the view still believes a has 10
    assert lease.account.id == account_id_for("tok-b-0123456789")
    assert worker.get(a).quota["fast"].remaining == 0  # type: ignore[union-attr]


async def test_concurrent_acquires_never_overspend(storage_factory: Callable[[], object]) -> None:
    s1: Storage = await storage_factory()  # type: ignore[misc]
    s2: Storage = await storage_factory()  # type: ignore[misc]
    await s1.upsert_accounts([record(f"tok-{i}-0123456789", fast=q) for i, q in enumerate((40, 35, 25))])
    pools = [await make_pool(s1), await make_pool(s2)]
    granted: list[str] = []
    refused = 0

    async def one(i: int) -> None:
        nonlocal refused
        try:
            lease = await pools[i % 2].acquire(FAST)
        except NoAccountAvailable:
            refused += 1
            return
        await asyncio.sleep(0)
        await lease.settle()
        granted.append(lease.account.id)

    await asyncio.gather(*(one(i) for i in range(300)))
    assert len(granted) == 100 and refused == 200
    for i, q in enumerate((40, 35, 25)):
        rec = await s1.get_account(account_id_for(f"tok-{i}-0123456789"))
        assert rec is not None and rec.quota["fast"].remaining == 0 and rec.use_count == q


async def test_sync_picks_up_other_workers_changes(storage_factory: Callable[[], object]) -> None:
    s1: Storage = await storage_factory()  # type: ignore[misc]
    s2: Storage = await storage_factory()  # type: ignore[misc]
    await s1.upsert_accounts([record("tok-a-0123456789", fast=10)])
    clock = Clock()
    p1, p2 = await make_pool(s1, clock), await make_pool(s2, clock)
    assert not await p1.sync()  # nothing moved
    lease = await p2.acquire(FAST)
    await lease.release()
    await p2.report_failure(lease, UpstreamError(ErrorKind.RATE_LIMITED, "429", retry_after=100))
    assert not await p2.sync()  # its own change: no reload needed
    assert await p1.sync()
    assert p1.get(lease.account.id).status == "cooling"  # type: ignore[union-attr]
    with pytest.raises(NoAccountAvailable):
        await p1.acquire(FAST)
    await s1.upsert_accounts([record("tok-new-012345678", fast=4)])
    await s1.bump(TOPIC_ACCOUNTS)
    assert await p1.sync()
    assert (await p1.acquire(FAST)).account.id == account_id_for("tok-new-012345678")


async def test_sync_reloads_after_the_reload_interval(storage: Storage) -> None:
    clock = Clock()
    pool = await make_pool(storage, clock, reload_interval_sec=10)
    await storage.upsert_accounts([record("tok-a-0123456789", fast=1)])  # no bump
    assert not await pool.sync()
    clock.advance(10)
    assert await pool.sync()
    assert len(pool.accounts()) == 1 and pool.summary() == {"basic": {"active": 1}}


async def test_load_gives_missing_buckets_their_defaults(storage: Storage) -> None:
    await storage.upsert_accounts([record("tok-a-0123456789", "super")])
    pool = Pool(storage, PoolConfig(), clock=Clock())
    await pool.load()
    rec = await storage.get_account(account_id_for("tok-a-0123456789"))
    assert rec is not None and rec.quota["fast"].total == 140 and rec.quota["expert"].remaining == 50
    lease = await pool.acquire(EXPERT)
    assert lease.remaining == 49
