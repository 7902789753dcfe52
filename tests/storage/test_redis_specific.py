"""Redis-only behaviour: Lua atomicity across connections, key hygiene, connection errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from grok2api.storage.base import (
    SCHEMA_VERSION,
    AccountQuery,
    AccountRecord,
    ApiKeyRecord,
    Quota,
    StorageError,
    StorageSchemaError,
    account_id_for,
)
from grok2api.storage.redis import RedisStorage

# db 14: the shared contract suite flushes db 15.
URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
async def store() -> AsyncIterator[RedisStorage]:
    # Wiped before opening: a schema another run left in this database must not decide the test.
    client = redis.asyncio.from_url(URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    storage = RedisStorage(URL)
    await storage.open()
    yield storage
    await storage._r.flushdb()
    await storage.close()


def account(n: int, **kw: object) -> AccountRecord:
    token = f"token-{n}"
    return AccountRecord(id=account_id_for(token), token=token, created_at=1000.0 + n, **kw)  # type: ignore[arg-type]


async def test_reserve_never_overspends_across_many_connections(store: RedisStorage) -> None:
    await store.upsert_accounts([account(1, quota={"chat": Quota(remaining=100, total=100)})])
    aid = account(1).id
    # Separate storages = separate pools, so the race really crosses connections.
    others = [RedisStorage(URL, max_connections=8) for _ in range(4)]
    for other in others:
        await other.open()

    async def worker(i: int) -> int:
        storage = others[i % len(others)]
        granted = 0
        for _ in range(20):
            if await storage.reserve(aid, "chat", 1) is not None:
                granted += 1
        return granted

    try:
        granted = await asyncio.gather(*(worker(i) for i in range(50)))
    finally:
        for other in others:
            await other.close()
    assert sum(granted) == 100
    got = await store.get_account(aid)
    assert got is not None and got.quota["chat"].remaining == 0
    assert await store.reserve(aid, "chat", 1) is None


async def test_reserve_release_settle_script_semantics(store: RedisStorage) -> None:
    await store.upsert_accounts([account(1, quota={"chat": Quota(remaining=5, total=10)})])
    aid = account(1).id
    assert await store.reserve(aid, "chat", 5) == 0
    assert await store.reserve(aid, "chat", 1) is None
    assert await store.reserve(aid, "image", 1) is None
    await store.release(aid, "chat", 50)
    got = await store.get_account(aid)
    assert got is not None and got.quota["chat"].remaining == 10
    await store.update_account(aid, fail_count=4)
    await store.settle(aid, 3, 1234.5)
    got = await store.get_account(aid)
    assert got is not None and (got.use_count, got.last_used_at, got.fail_count) == (3, 1234.5, 0)
    # Hot-path scripts must not resurrect a deleted account as a bare hash.
    await store.delete_accounts([aid])
    await store.settle(aid, 1, 1.0)
    await store.release(aid, "chat", 1)
    await store.set_quota(aid, "chat", Quota(remaining=1, total=1))
    assert await store._r.keys("grok2api:acct*") == []
    assert await store._r.keys("grok2api:quota*") == []


async def test_delete_leaves_no_orphan_keys(store: RedisStorage) -> None:
    records = [
        account(i, pool="super" if i % 2 else "basic", tags=["nsfw", f"t{i}"], quota={"chat": Quota(9, 9)})
        for i in range(6)
    ]
    await store.upsert_accounts(records)
    await store.update_account(records[0].id, status="cooling", pool="heavy", tags=["moved"])
    await store.create_key(ApiKeyRecord(id="k1", name="ci", key_hash="h1", prefix="sk-ab"))
    before = set(await store._r.keys("*"))
    assert f"grok2api:acct:{records[0].id}" in before and "grok2api:accts:tag:moved" in before

    assert await store.delete_accounts([r.id for r in records] + ["missing"]) == 6
    assert await store.delete_key("k1") is True
    assert set(await store._r.keys("*")) == {"grok2api:schema_version"}


async def test_index_sets_follow_updates(store: RedisStorage) -> None:
    await store.upsert_accounts([account(1, tags=["a"]), account(2, tags=["a"], pool="super")])
    first = account(1).id
    await store.update_account(first, pool="super", status="disabled", tags=["b"])
    # A merge keeps the old tags and adds new ones, so the tag index gains "c" and keeps "b".
    await store.upsert_accounts([account(1, pool="super", tags=["c"])])
    assert await store._r.smembers("grok2api:accts:pool:basic") == set()
    assert await store._r.smembers("grok2api:accts:status:disabled") == {first}
    assert await store._r.smembers("grok2api:accts:tag:a") == {account(2).id}
    assert await store._r.smembers("grok2api:accts:tag:b") == {first}
    page, total = await store.list_accounts(AccountQuery(pool="super", tag="c"))
    assert total == 1 and page[0].tags == ["b", "c"] and page[0].status == "disabled"


async def test_filtered_page_leaves_no_scratch_key(store: RedisStorage) -> None:
    await store.upsert_accounts([account(i, pool="super") for i in range(5)])
    page, total = await store.list_accounts(AccountQuery(pool="super", status="active", offset=1, limit=2))
    assert total == 5 and [a.created_at for a in page] == [1001.0, 1002.0]
    assert await store._r.exists("grok2api:tmp:filter") == 0


async def test_newer_schema_is_refused(store: RedisStorage) -> None:
    assert await store._r.get("grok2api:schema_version") == str(SCHEMA_VERSION)
    await store._r.set("grok2api:schema_version", SCHEMA_VERSION + 1)
    newer = RedisStorage(URL)
    with pytest.raises(StorageSchemaError, match="newer"):
        await newer.open()
    await store._r.set("grok2api:schema_version", SCHEMA_VERSION)


async def test_unreachable_server_raises_storage_error() -> None:
    storage = RedisStorage("redis://:hunter2secret@127.0.0.1:1/14")
    with pytest.raises(StorageError) as caught:
        await storage.open()
    assert "hunter2secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


async def test_wrong_password_raises_storage_error_without_the_password(store: RedisStorage) -> None:
    storage = RedisStorage("redis://nosuchuser:hunter2%40secret@127.0.0.1:6379/14")
    with pytest.raises(StorageError) as caught:
        await storage.open()
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_closed_storage_raises_storage_error(store: RedisStorage) -> None:
    await store.close()
    with pytest.raises(StorageError):
        await store.ping()
    await store.open()  # the fixture's teardown uses it again


async def test_bad_url_raises_storage_error() -> None:
    with pytest.raises(StorageError, match="bad redis URL"):
        await RedisStorage("http://127.0.0.1:6379/0").open()
