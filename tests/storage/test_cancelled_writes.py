"""Server engines: a write whose task is cancelled at any step never leaves its connection to the next
caller (its answer still on the wire, or its transaction open), and the cancellation stays a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grok2api.storage.base import ApiKeyRecord
from grok2api.storage.sql_common import SqlStorage

from .conftest import URLS, Backend


@pytest.fixture(params=["mysql", "pgsql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStorage]:
    backend = Backend(request.param, URLS[request.param], tmp_path)
    await backend.wipe()
    storage = backend.make()
    assert isinstance(storage, SqlStorage)
    await storage.open()
    yield storage
    await storage.close()


def key(n: int) -> ApiKeyRecord:
    return ApiKeyRecord(id=f"k{n}", name=f"key {n}", key_hash=f"hash{n}", prefix=f"sk-{n}", created_at=100.0 + n)


async def test_writes_cancelled_at_every_step_leave_the_pool_sound(store: SqlStorage) -> None:
    async def write(n: int) -> None:
        async with store._tx() as c:
            await c.execute("DELETE FROM api_keys WHERE id = ?", [f"nobody{n}"])
            await c.execute("DELETE FROM api_keys WHERE id = ?", [f"nobody{n}"])

    cancelled = 0
    for steps in range(12):  # cancel after 0, 1, 2 ... loop iterations: inside BEGIN, a statement, COMMIT
        task = asyncio.create_task(write(steps))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task  # a StorageError here is the bug: the cancellation must stay one
        except asyncio.CancelledError:
            cancelled += 1
        await store.create_key(key(steps))
        assert [k.id for k in await store.list_keys()][-1] == f"k{steps}"  # written, committed, read back
    assert len(await store.list_keys()) == 12
    assert cancelled >= 2  # at least before BEGIN and inside it (later steps may find the write done)
