"""Storage fixtures for pool tests: the real SQLite and Redis engines (db 13, flushed first)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from grok2api.storage.base import (
    AccountRecord,
    Quota,
    Storage,
    StorageError,
    account_id_for,
)

REDIS_URL = "redis://127.0.0.1:6379/13"


async def _open(kind: str, tmp_path: Path, fresh: bool) -> Storage:
    if kind == "redis":
        from grok2api.storage.redis import RedisStorage

        probe = RedisStorage(REDIS_URL)
        try:
            await probe.open()
        except StorageError as exc:
            pytest.skip(f"no Redis server: {exc}")
        if fresh:
            await probe._r.flushdb()
        await probe.close()
        storage: Storage = RedisStorage(REDIS_URL)
    else:
        try:
            from grok2api.storage import make_storage  # type: ignore[attr-defined]
        except ImportError:
            pytest.skip("the SQLite storage has not landed yet")
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
