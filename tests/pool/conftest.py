"""Storage fixtures for pool tests: the real SQLite and Redis engines (db 13, flushed first)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio

from grok2api.storage import make_storage
from grok2api.storage.base import AccountRecord, Quota, Storage, account_id_for
from grok2api.storage.redis import RedisStorage

REDIS_URL = "redis://127.0.0.1:6379/13"


async def _open(kind: str, tmp_path: Path, fresh: bool) -> Storage:
    """A real engine; Redis must be up (CI runs every backend), and its database is wiped first, so a
    schema some other run left there can neither skip nor fail these tests."""
    if kind == "redis":
        if fresh:
            client = redis.asyncio.from_url(REDIS_URL)
            try:
                await client.flushdb()
            finally:
                await client.aclose()
        storage: Storage = RedisStorage(REDIS_URL)
    else:
        storage = make_storage("sqlite", "", tmp_path)
    await storage.open()
    return storage


@pytest.fixture(params=["sqlite", "redis"])
async def storage_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], object]]:
    """Opens storages on one database (several = several workers); all closed at the end."""
    opened: list[Storage] = []

    async def make() -> Storage:
        s = await _open(request.param, tmp_path, fresh=not opened)
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


@pytest.fixture
async def storage(storage_factory: Callable[[], object]) -> Storage:
    return await storage_factory()  # type: ignore[misc]


def record(token: str, pool: str = "basic", *, status: str = "active", **quota: int | Quota) -> AccountRecord:
    """An account with the given buckets (an int n = n of n left)."""
    q = {b: v if isinstance(v, Quota) else Quota(remaining=v, total=v, window_sec=3600) for b, v in quota.items()}
    return AccountRecord(id=account_id_for(token), token=token, pool=pool, status=status, quota=q,
                         created_at=1.0)


class Clock:
    """A hand-driven clock for cooldown tests."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
