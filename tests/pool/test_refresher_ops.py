"""The refresher (lock, due accounts, quota readings) and account operations on real storage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from grok2api.periodic import periodic
from grok2api.pool import PoolConfig, QuotaReading, ops
from grok2api.pool.refresher import LOCK_NAME, Refresher
from grok2api.storage.base import (
    TOPIC_ACCOUNTS,
    AccountRecord,
    Quota,
    Storage,
    account_id_for,
)
from grok2api.upstream.errors import ErrorKind, UpstreamError

from .conftest import Clock, record

T1 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.aaaa.bbbb"
T2 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.cccc.dddd"
CFG = PoolConfig(default_quotas={"basic": {"fast": Quota(30, 30, 86400)}, "super": {"fast": Quota(140, 140, 7200)},
                                 "heavy": {}})


class FakeLimits:
    """fetch_limits double: answers per token, records calls, can fail per token."""

    def __init__(self, reading: QuotaReading | None = QuotaReading(25, 30, 86400)) -> None:
        self.reading = reading
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, UpstreamError] = {}

    async def __call__(self, token: str, bucket: str) -> QuotaReading | None:
        self.calls.append((token, bucket))
        await asyncio.sleep(0)
        if token in self.fail:
            raise self.fail[token]
        return self.reading


async def test_refresher_lock_is_held_by_one_of_two(storage_factory: Callable[[], object]) -> None:
    s1: Storage = await storage_factory()  # type: ignore[misc]
    s2: Storage = await storage_factory()  # type: ignore[misc]
    limits = FakeLimits()
    r1 = Refresher(s1, CFG, limits, owner="worker-1")
    r2 = Refresher(s2, CFG, limits, owner="worker-2")
    assert (await r1.run_once()).ran
    assert not (await r2.run_once()).ran
    assert (await r1.run_once()).ran  # the holder renews
    assert await s1.lock_owner(LOCK_NAME) == "worker-1"


async def test_periodic_rounds_then_release_free_the_lock(storage_factory: Callable[[], object]) -> None:
    s1: Storage = await storage_factory()  # type: ignore[misc]
    s2: Storage = await storage_factory()  # type: ignore[misc]
    r1 = Refresher(s1, CFG, FakeLimits(), owner="worker-1")
    async with periodic("refresher", r1.run_once, CFG.refresh_tick_sec, at_start=True):
        for _ in range(100):
            if await s1.lock_owner(LOCK_NAME) == "worker-1":
                break
            await asyncio.sleep(0.01)
        assert await s1.lock_owner(LOCK_NAME) == "worker-1"
    await r1.release()
    assert await s1.lock_owner(LOCK_NAME) is None
    assert (await Refresher(s2, CFG, FakeLimits(), owner="worker-2").run_once()).ran


async def test_refresher_reads_due_accounts_only(storage: Storage) -> None:
    clock = Clock()
    now = clock.now
    await storage.upsert_accounts([
        record("tok-never-synced-1", fast=30),  # never synced: read once
        record("tok-fresh-0123456", fast=30),
        record("tok-cooling-over-1", fast=Quota(0, 30, 86400, 0.0)),
        record("tok-still-cooling", fast=Quota(0, 30, 86400, 0.0)),
        record("tok-reset-passed-1", fast=Quota(0, 30, 86400, now - 1)),
        record("tok-invalid-012345", status="invalid", fast=0),
    ])
    ids = {name: account_id_for(name) for name in (
        "tok-never-synced-1", "tok-fresh-0123456", "tok-cooling-over-1", "tok-still-cooling", "tok-reset-passed-1")}
    await storage.update_account(ids["tok-fresh-0123456"], last_sync_at=now - 10)
    await storage.update_account(ids["tok-cooling-over-1"], status="cooling", cooldown_until=now - 1,
                                 last_sync_at=now - 9 * 3600)
    await storage.update_account(ids["tok-still-cooling"], status="cooling", cooldown_until=now + 100)
    await storage.update_account(ids["tok-reset-passed-1"], last_sync_at=now - 10)
    limits = FakeLimits()
    before = (await storage.counters()).get(TOPIC_ACCOUNTS, 0)
    report = await Refresher(storage, CFG, limits, owner="w", clock=clock).run_once()
    assert report.ran and report.refreshed == 3 and report.failed == 0
    assert sorted(t for t, _ in limits.calls) == sorted(["tok-never-synced-1", "tok-cooling-over-1", "tok-reset-passed-1"])
    over = await storage.get_account(ids["tok-cooling-over-1"])
    assert over is not None and over.status == "active" and over.last_sync_at == now
    assert over.quota["fast"] == Quota(25, 30, 86400, now + 86400)
    still = await storage.get_account(ids["tok-still-cooling"])
    assert still is not None and still.status == "cooling" and still.quota["fast"].remaining == 0
    assert (await storage.counters()).get(TOPIC_ACCOUNTS, 0) > before


async def test_refresher_auth_failures_count_and_others_are_retried(storage: Storage) -> None:
    clock = Clock()
    await storage.upsert_accounts([record("tok-revoked-01234", fast=30), record("tok-flaky-0123456", fast=30)])
    limits = FakeLimits()
    limits.fail = {"tok-revoked-01234": UpstreamError(ErrorKind.AUTH, "401"),
                   "tok-flaky-0123456": UpstreamError(ErrorKind.NETWORK, "reset")}
    cfg = PoolConfig(default_quotas=CFG.default_quotas, fail_threshold=2)
    refresher = Refresher(storage, cfg, limits, owner="w", clock=clock)
    report = await refresher.run_once()
    assert report.failed == 2
    revoked = await storage.get_account(account_id_for("tok-revoked-01234"))
    assert revoked is not None and revoked.fail_count == 1 and revoked.status == "active"
    flaky = await storage.get_account(account_id_for("tok-flaky-0123456"))
    assert flaky is not None and flaky.fail_count == 0 and flaky.last_sync_at == 0
    await refresher.run_once()
    assert (await storage.get_account(account_id_for("tok-revoked-01234"))).status == "invalid"  # type: ignore[union-attr]


async def test_unreported_bucket_rolls_over_locally(storage: Storage) -> None:
    clock = Clock()
    await storage.upsert_accounts([record("tok-a-0123456789", fast=Quota(0, 30, 86400, clock.now - 5))])
    await storage.update_account(account_id_for("tok-a-0123456789"), last_sync_at=clock.now - 10)
    await Refresher(storage, CFG, FakeLimits(reading=None), owner="w", clock=clock).run_once()
    rec = await storage.get_account(account_id_for("tok-a-0123456789"))
    assert rec is not None and rec.quota["fast"] == Quota(30, 30, 86400, 0.0)


async def test_import_dedups_and_never_wipes_tags_or_notes(storage: Storage) -> None:
    first = await ops.import_tokens(storage, f"{T1}\nsso={T2}; sso-rw={T2}\n{T1}\nnot a token\n", "super", config=CFG)
    assert (first.added, first.updated, first.skipped) == (2, 0, 2)
    a1 = account_id_for(T1)
    rec = await storage.get_account(a1)
    assert rec is not None and rec.pool == "super" and rec.quota["fast"].total == 140
    await ops.set_tags(storage, a1, ["nsfw", "vip"])
    await ops.set_note(storage, a1, "main account")
    await storage.reserve(a1, "fast", 40)
    # re-importing the plain token (any default pool) keeps pool, tags, note and quota
    again = await ops.import_tokens(storage, T1, "basic", config=CFG)
    assert (again.added, again.updated) == (0, 1)
    rec = await storage.get_account(a1)
    assert rec is not None and (rec.pool, sorted(rec.tags), rec.note) == ("super", ["nsfw", "vip"], "main account")
    assert rec.quota["fast"].remaining == 100
    # the export format merges tags and keeps the note unless a new one is given
    export = json.dumps({"version": 1, "accounts": [{"token": T1, "pool": "heavy", "tags": ["x"], "note": ""}]})
    await ops.import_tokens(storage, export, config=CFG)
    rec = await storage.get_account(a1)
    assert rec is not None and rec.pool == "heavy" and sorted(rec.tags) == ["nsfw", "vip", "x"]
    assert rec.note == "main account"
    # and the export round-trips
    dumped = ops.export_json(await storage.all_accounts())
    assert {a["token"] for a in dumped["accounts"]} == {T1, T2}


async def test_enable_disable_delete(storage: Storage) -> None:
    await ops.import_tokens(storage, f"{T1}\n{T2}", config=CFG)
    a1, a2 = account_id_for(T1), account_id_for(T2)
    assert await ops.set_enabled(storage, [a1, "missing"], False) == 1
    assert (await storage.get_account(a1)).status == "disabled"  # type: ignore[union-attr]
    await storage.update_account(a2, status="invalid", fail_count=5)
    assert await ops.set_enabled(storage, [a1, a2], True) == 2
    rec = await storage.get_account(a2)
    assert rec is not None and rec.status == "active" and rec.fail_count == 0
    assert await ops.delete_accounts(storage, [a1]) == 1
    assert await storage.get_account(a1) is None


async def test_bulk_nsfw_with_bounded_concurrency_and_progress(storage: Storage) -> None:
    tokens = [f"tok-{i:03d}-abcdefghijkl" for i in range(12)]
    await ops.import_tokens(storage, "\n".join(tokens), config=CFG)
    ids = [account_id_for(t) for t in tokens]
    await ops.set_tags(storage, ids[0], ["vip"])
    running = peak = 0

    async def enable(token: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if token == tokens[5]:
            raise UpstreamError(ErrorKind.UPSTREAM, f"failed for {token}")

    seen = [p async for p in ops.enable_nsfw(storage, ids, enable, concurrency=3)]
    assert peak == 3
    assert [p.done for p in seen] == list(range(1, 13)) and all(p.total == 12 for p in seen)
    assert (seen[-1].ok, seen[-1].failed) == (11, 1)
    failure = next(p for p in seen if p.error)
    assert failure.account_id == ids[5] and tokens[5] not in failure.error and "…" in failure.error
    assert sorted((await storage.get_account(ids[0])).tags) == ["nsfw", "vip"]  # type: ignore[union-attr]
    assert (await storage.get_account(ids[5])).tags == []  # type: ignore[union-attr]


async def test_bulk_tos_and_birth_date(storage: Storage) -> None:
    await ops.import_tokens(storage, f"{T1}\n{T2}", config=CFG)
    calls: list[tuple[str, str]] = []

    async def accept(token: str) -> None:
        calls.append(("tos", token))

    async def birth(token: str) -> None:
        calls.append(("birth", token))

    ids = [account_id_for(T1), account_id_for(T2)]
    seen = [p async for p in ops.accept_tos(storage, ids, accept, birth, concurrency=2)]
    assert seen[-1].ok == 2 and sorted(calls) == sorted([("tos", T1), ("birth", T1), ("tos", T2), ("birth", T2)])


async def test_bulk_refresh_quotas(storage: Storage) -> None:
    clock = Clock()
    await ops.import_tokens(storage, f"{T1}\n{T2}", config=CFG)
    await storage.update_account(account_id_for(T2), status="disabled")
    limits = FakeLimits(QuotaReading(3, 30, 86400, wait_sec=50))
    ids = [account_id_for(T1), account_id_for(T2)]
    seen = [p async for p in ops.refresh_quotas(storage, ids, limits, config=CFG, concurrency=4, clock=clock)]
    assert len(seen) == 1 and seen[-1].ok == 1  # disabled accounts are skipped
    rec = await storage.get_account(account_id_for(T1))
    assert rec is not None and rec.quota["fast"] == Quota(3, 30, 86400, clock.now + 50)


async def test_closing_a_bulk_iterator_cancels_the_rest(storage: Storage) -> None:
    await ops.import_tokens(storage, "\n".join(f"tok-{i:03d}-abcdefghijkl" for i in range(10)), config=CFG)
    started = 0

    async def slow(rec: AccountRecord) -> None:
        nonlocal started
        started += 1
        await asyncio.sleep(0.01 if started == 1 else 5)

    records = await storage.all_accounts()
    gen = ops.run_bulk(records, slow, 2)
    first = await gen.__anext__()
    await gen.aclose()
    assert first.done == 1 and started <= 3


@pytest.mark.parametrize("bad_pool", ["gold"])
async def test_import_into_an_unknown_pool_is_refused(storage: Storage, bad_pool: str) -> None:
    with pytest.raises(ValueError):
        await ops.import_tokens(storage, T1, bad_pool)
