"""access/api_keys.py: the key operations the admin and the CLI share, on real SQLite storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grok2api.access import api_keys
from grok2api.storage import make_storage
from grok2api.storage.base import TOPIC_KEYS, Storage


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = make_storage("sqlite", "", tmp_path)
    await s.open()
    yield s
    await s.close()


async def keys_counter(storage: Storage) -> int:
    return (await storage.counters()).get(TOPIC_KEYS, 0)


async def test_every_change_bumps_the_keys_counter(storage: Storage) -> None:
    older = await api_keys.create_key(storage, "older", now=1000.0)
    newer = await api_keys.create_key(storage, "newer", rpm=5, now=2000.0)
    assert newer.key.startswith("sk-") and newer.record.key_hash == api_keys.hash_key(newer.key)
    assert [k.name for k in await api_keys.list_keys(storage)] == ["newer", "older"]
    seen = await keys_counter(storage)

    assert await api_keys.update_key(storage, older.record.id, rpm=7, enabled=False)
    assert await keys_counter(storage) == seen + 1
    stored = await storage.get_key(older.record.id)
    assert stored is not None and stored.rpm == 7 and not stored.enabled

    assert await api_keys.delete_key(storage, newer.record.id)
    assert await keys_counter(storage) == seen + 2
    assert [k.name for k in await api_keys.list_keys(storage)] == ["older"]


async def test_unknown_keys_change_nothing(storage: Storage) -> None:
    await api_keys.create_key(storage, "only")
    seen = await keys_counter(storage)
    assert not await api_keys.update_key(storage, "no-such-id", rpm=1)
    assert not await api_keys.update_key(storage, "no-such-id")
    assert not await api_keys.delete_key(storage, "no-such-id")
    assert await keys_counter(storage) == seen
