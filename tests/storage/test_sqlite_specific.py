"""SQLite-only behaviour: a transaction whose task is cancelled never leaves the writer inside it; a
reservation runs on the loop unless another connection holds the file's write lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grok2api.storage.base import AccountRecord, ApiKeyRecord, Quota
from grok2api.storage.sqlite import SqliteStorage


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    storage = SqliteStorage(tmp_path / "grok2api.db")
    await storage.open()
    yield storage
    await storage.close()


def key(n: int) -> ApiKeyRecord:
    return ApiKeyRecord(id=f"k{n}", name=f"key {n}", key_hash=f"hash{n}", prefix=f"sk-{n}", created_at=100.0 + n)


async def test_cancelled_while_beginning_leaves_no_open_transaction(store: SqliteStorage) -> None:
    async def write() -> None:
        async with store._tx() as c:
            await c.execute("DELETE FROM api_keys WHERE id = ?", ["nobody"])

    task = asyncio.create_task(write())
    await asyncio.sleep(0)  # the task now waits for BEGIN IMMEDIATE on aiosqlite's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Later writes are committed and seen by the reader connection (the admin lists what it created).
    await store.create_key(key(1))
    assert [k.id for k in await store.list_keys()] == ["k1"]
    assert store._writer is not None and not store._writer.in_transaction


async def _one_account(store: SqliteStorage, remaining: int) -> str:
    await store.upsert_accounts([AccountRecord(id="a1", token="t1", quota={"chat": Quota(remaining, 10)})])
    return "a1"


async def test_a_reserve_runs_inline_while_the_writer_lock_is_held_between_statements(store: SqliteStorage) -> None:
    aid = await _one_account(store, 5)
    async with store._conn():  # a stats flush between its autocommit statements: the file itself is free
        task = asyncio.create_task(store.reserve(aid, "chat", 2))
        await asyncio.sleep(0)  # one step of the task: the inline UPDATE needs no more
        assert task.done() and task.result() == 3
    got = await store.get_account(aid)
    assert got is not None and got.quota["chat"] == Quota(3, 10)


async def test_a_reserve_waits_for_the_writers_transaction_and_takes_its_units_once(store: SqliteStorage) -> None:
    aid = await _one_account(store, 5)
    async with store._tx() as c:  # BEGIN IMMEDIATE holds the file's write lock: the inline try is refused
        task = asyncio.create_task(store.reserve(aid, "chat", 2))
        await asyncio.sleep(0)
        assert not task.done()
        await c.execute("UPDATE account_quota SET remaining = 4 WHERE account_id = ?", [aid])
    assert await task == 2  # after the commit: 4 - 2, not the 5 it saw before
    got = await store.get_account(aid)
    assert got is not None and got.quota["chat"] == Quota(2, 10)
