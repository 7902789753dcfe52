"""SQLite-only behaviour: a transaction whose task is cancelled never leaves the writer inside it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grok2api.storage.base import ApiKeyRecord
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
