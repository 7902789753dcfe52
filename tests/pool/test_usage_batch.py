"""Batched usage writes (token.save_delay_ms): quota stays atomic, use counts land on flush."""

from __future__ import annotations

import random

from grok2api.catalog import ModelRoute, load_catalog
from grok2api.pool import Pool, PoolConfig
from grok2api.storage.base import Storage, account_id_for
from grok2api.upstream.errors import ErrorKind, UpstreamError

from .conftest import Clock, record

FAST: ModelRoute = load_catalog(None).get("grok-chat-fast")  # type: ignore[assignment]
TOKEN = "tok-batch-0123456789"


async def batched_pool(storage: Storage, clock: Clock) -> Pool:
    # A delay no test waits for: every write below happens because something asked for it.
    pool = Pool(storage, PoolConfig(default_quotas={}, save_delay_sec=3600), clock=clock, rng=random.Random(0))
    await pool.load()
    return pool


async def test_quota_is_reserved_at_once_but_usage_waits_for_the_flush(storage: Storage) -> None:
    await storage.upsert_accounts([record(TOKEN, fast=5)])
    aid = account_id_for(TOKEN)
    clock = Clock()
    pool = await batched_pool(storage, clock)
    for _ in range(3):
        await (await pool.acquire(FAST)).settle()
    rec = await storage.get_account(aid)
    assert rec is not None and rec.quota["fast"].remaining == 2 and rec.use_count == 0
    assert pool.get(aid).use_count == 3  # type: ignore[union-attr]
    await pool.flush_usage()
    rec = await storage.get_account(aid)
    assert rec is not None and rec.use_count == 3 and rec.last_used_at == clock.now
    await pool.flush_usage()  # nothing pending: nothing written twice
    assert (await storage.get_account(aid)).use_count == 3  # type: ignore[union-attr]
    await pool.close()


async def test_close_writes_pending_usage(storage: Storage) -> None:
    await storage.upsert_accounts([record(TOKEN, fast=5)])
    pool = await batched_pool(storage, Clock())
    await (await pool.acquire(FAST)).settle()
    await pool.close()
    assert (await storage.get_account(account_id_for(TOKEN))).use_count == 1  # type: ignore[union-attr]


async def test_reload_keeps_usage_not_yet_written(storage: Storage) -> None:
    await storage.upsert_accounts([record(TOKEN, fast=5)])
    aid = account_id_for(TOKEN)
    pool = await batched_pool(storage, Clock())
    await (await pool.acquire(FAST)).settle()
    await pool.load()
    assert pool.get(aid).use_count == 1  # type: ignore[union-attr]
    await pool.close()


async def test_a_later_failure_is_not_cleared_by_the_batched_success(storage: Storage) -> None:
    await storage.upsert_accounts([record(TOKEN, fast=5)])
    aid = account_id_for(TOKEN)
    pool = await batched_pool(storage, Clock())
    await (await pool.acquire(FAST)).settle()
    lease = await pool.acquire(FAST)
    await lease.release()
    await pool.report_failure(lease, UpstreamError(ErrorKind.AUTH, "401"))
    await pool.close()
    rec = await storage.get_account(aid)
    assert rec is not None and rec.use_count == 1 and rec.fail_count == 1
