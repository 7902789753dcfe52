"""The storage contract: one suite, run unchanged against sqlite, redis, postgres and mysql."""

from __future__ import annotations

import asyncio
import time

import pytest

from grok2api.storage.base import (
    SCHEMA_VERSION,
    TOPIC_CONFIG,
    AccountQuery,
    AccountRecord,
    ApiKeyRecord,
    LogEntry,
    LogQuery,
    Quota,
    StatsDelta,
    Storage,
    StorageSchemaError,
    account_id_for,
)

from .conftest import Backend


def acct(n: int, **kw: object) -> AccountRecord:
    token = f"token-{n}"
    kw.setdefault("created_at", 1000.0 + n)
    return AccountRecord(id=account_id_for(token), token=token, **kw)  # type: ignore[arg-type]


def ids(records: list[AccountRecord]) -> list[str]:
    return [r.id for r in records]


# -- lifecycle ----------------------------------------------------------------
async def test_open_twice_on_one_database_and_ping(backend: Backend, storage: Storage) -> None:
    assert storage.kind == backend.kind
    other = await backend.open()  # a second worker: migrations already applied
    try:
        await other.ping()
        await storage.upsert_accounts([acct(1)])
        assert await other.get_account(acct(1).id) is not None
    finally:
        await other.close()
    await storage.ping()


async def test_newer_schema_is_refused(backend: Backend, storage: Storage) -> None:
    await storage.close()
    await backend.write_schema_version(SCHEMA_VERSION + 1)
    newer = backend.make()
    with pytest.raises(StorageSchemaError) as info:
        await newer.open()
    message = str(info.value)
    assert "newer" in message and str(SCHEMA_VERSION + 1) in message and "upgrade grok2api" in message
    await backend.write_schema_version(SCHEMA_VERSION)
    same = await backend.open()  # the current version opens again
    await same.close()


async def test_a_version_2_database_is_migrated_to_the_limits_tables(backend: Backend, storage: Storage) -> None:
    await storage.upsert_accounts([acct(1)])
    await storage.close()
    await backend.drop_tables(("limit_counters", "limit_slots"))  # what version 2 had
    await backend.write_schema_version(2)
    migrated = await backend.open()
    try:
        assert await migrated.get_account(acct(1).id) is not None  # the data stays
        assert await migrated.hit_counter("after-migration", 1, time.time() + 60) is True
        assert await migrated.take_slot("after-migration-slots", "a", 1, time.time() + 60) is None
    finally:
        await migrated.close()
    assert await backend.schema_version() == SCHEMA_VERSION


# -- accounts -----------------------------------------------------------------
async def test_account_round_trips_every_field(storage: Storage) -> None:
    rec = acct(
        1, pool="super", status="cooling",
        quota={"chat": Quota(remaining=7, total=20, window_sec=7200, resets_at=1717171717.25), "image": Quota(0, 4)},
        cooldown_until=1234.5, fail_count=2, last_fail_reason="429 rate limited", last_used_at=1111.125,
        use_count=9, last_sync_at=999.5, tags=["nsfw", "测试", "emoji🙂"], note="Ünïcode note ✓",
        egress="socks5h://***@proxy.example:1080#0a1b2c3d", created_at=1500.75, updated_at=1600.5,
    )
    assert await storage.upsert_accounts([rec]) == (1, 0)
    assert await storage.get_account(rec.id) == rec
    assert await storage.get_account("no-such-account") is None


async def test_upsert_fills_timestamps_of_new_accounts(storage: Storage) -> None:
    before = time.time()
    await storage.upsert_accounts([AccountRecord(id="x", token="t")])
    got = await storage.get_account("x")
    assert got is not None and before - 1 <= got.created_at <= time.time() + 1
    assert got.updated_at >= got.created_at - 1


async def test_upsert_merges_over_a_known_account(storage: Storage) -> None:
    first = acct(1, status="cooling", use_count=5, fail_count=3, last_used_at=50.0, tags=["nsfw", "a"], note="keep me",
                 quota={"chat": Quota(3, 10, 3600, 99.0), "image": Quota(2, 2)}, created_at=1001.0)
    await storage.upsert_accounts([first])
    # What the seed's token page posts: no tags, no note, one bucket (it wiped tags there).
    again = acct(1, pool="super", status="active", tags=["b", "a"], quota={"image": Quota(1, 5)}, created_at=5000.0)
    assert await storage.upsert_accounts([again]) == (0, 1)
    got = await storage.get_account(first.id)
    assert got is not None
    assert (got.pool, got.status, got.use_count, got.fail_count, got.last_used_at) == ("super", "cooling", 5, 3, 50.0)
    assert got.tags == ["nsfw", "a", "b"]
    assert got.note == "keep me"
    assert got.created_at == 1001.0
    assert got.quota == {"chat": Quota(3, 10, 3600, 99.0), "image": Quota(1, 5)}
    await storage.upsert_accounts([acct(1, pool="super", note="new note")])
    got = await storage.get_account(first.id)
    assert got is not None and got.note == "new note" and got.tags == ["nsfw", "a", "b"]
    # The merged state is what every filter sees, not only get_account.
    assert ids((await storage.list_accounts(AccountQuery(tag="nsfw", pool="super")))[0]) == [first.id]
    assert (await storage.list_accounts(AccountQuery(pool="basic")))[1] == 0


async def test_the_egress_binding_is_stored_and_survives_a_reimport(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1), acct(2)])
    assert (await storage.get_account(acct(1).id)).egress == ""  # type: ignore[union-attr]
    assert await storage.update_account(acct(1).id, egress="http://10.0.0.1:3128")
    await storage.upsert_accounts([acct(1, pool="super", tags=["again"])])  # re-importing keeps the binding
    got = await storage.get_account(acct(1).id)
    assert got is not None and (got.egress, got.pool) == ("http://10.0.0.1:3128", "super")
    by_id = {r.id: r.egress for r in await storage.all_accounts()}
    assert by_id == {acct(1).id: "http://10.0.0.1:3128", acct(2).id: ""}
    page, _ = await storage.list_accounts(AccountQuery(tag="again"))
    assert [r.egress for r in page] == ["http://10.0.0.1:3128"]
    assert await storage.update_account(acct(1).id, egress="")
    assert (await storage.get_account(acct(1).id)).egress == ""  # type: ignore[union-attr]


async def test_a_schema_1_database_is_migrated(backend: Backend, storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, note="from schema 1", quota={"fast": Quota(3, 30)}), acct(2)])
    await storage.close()
    await backend.back_to_schema_1([acct(1).id, acct(2).id])
    assert await backend.schema_version() == 1
    migrated = await backend.open()
    try:
        assert await backend.schema_version() == SCHEMA_VERSION
        got = await migrated.get_account(acct(1).id)
        assert got is not None and (got.note, got.egress, got.quota["fast"]) == ("from schema 1", "", Quota(3, 30))
        assert await migrated.update_account(acct(2).id, egress="http://10.0.0.2:3128")
        assert (await migrated.get_account(acct(2).id)).egress == "http://10.0.0.2:3128"  # type: ignore[union-attr]
        if backend.kind == "redis":  # every account hash holds the new field
            assert await backend.redis_has_field(acct(1).id, "egress")
    finally:
        await migrated.close()
    again = await backend.open()  # already migrated: opening again changes nothing
    assert (await again.get_account(acct(2).id)).egress == "http://10.0.0.2:3128"  # type: ignore[union-attr]
    await again.close()


async def test_upsert_counts_and_folds_repeats_in_one_batch(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1), acct(2)])
    batch = [acct(2, tags=["x"]), acct(3, tags=["y"]), acct(3, tags=["z"], note="n"), acct(4)]
    assert await storage.upsert_accounts(batch) == (2, 1)
    three = await storage.get_account(acct(3).id)
    assert three is not None and three.tags == ["y", "z"] and three.note == "n"
    assert len(await storage.all_accounts()) == 4


async def test_bulk_upsert_and_all_accounts_with_quota(storage: Storage) -> None:
    records = [acct(n, quota={"chat": Quota(n % 7, 10)}, tags=["even"] if n % 2 == 0 else []) for n in range(1200)]
    assert await storage.upsert_accounts(records) == (1200, 0)
    everything = await storage.all_accounts()
    assert ids(everything) == ids(records)  # ordered by created_at
    assert [a.quota["chat"].remaining for a in everything] == [n % 7 for n in range(1200)]
    page, total = await storage.list_accounts(AccountQuery(tag="even", offset=590, limit=20))
    assert total == 600 and ids(page) == [records[n].id for n in range(1180, 1200, 2)]
    assert await storage.delete_accounts(ids(records[:1100])) == 1100
    assert len(await storage.all_accounts()) == 100


async def test_list_accounts_pages_in_created_order(storage: Storage) -> None:
    records = [acct(n) for n in (5, 3, 9, 1, 7)]
    tie_a, tie_b = sorted([AccountRecord(id="tie-b", token="tb", created_at=1004.0), AccountRecord(id="tie-a", token="ta", created_at=1004.0)], key=lambda r: r.id)
    await storage.upsert_accounts([*records, tie_b, tie_a])
    expected = [acct(1).id, acct(3).id, "tie-a", "tie-b", acct(5).id, acct(7).id, acct(9).id]
    page, total = await storage.list_accounts(AccountQuery(limit=3))
    assert total == 7 and ids(page) == expected[:3]
    page, total = await storage.list_accounts(AccountQuery(offset=3, limit=3))
    assert ids(page) == expected[3:6]
    page, total = await storage.list_accounts(AccountQuery(offset=6, limit=3))
    assert ids(page) == expected[6:] and total == 7
    assert await storage.list_accounts(AccountQuery(offset=10)) == ([], 7)
    assert await storage.list_accounts(AccountQuery(limit=0)) == ([], 7)


async def test_list_accounts_filters_and_search(storage: Storage) -> None:
    await storage.upsert_accounts([
        acct(1, pool="basic", tags=["nsfw"], note="Alice's account"),
        acct(2, pool="super", tags=["nsfw", "vip"]),
        acct(3, pool="super", tags=["nsfw2"], note="bob"),
        acct(4, pool="heavy", status="disabled", note="100%_sure"),
    ])
    await storage.update_account(acct(2).id, status="cooling")

    async def find(**kw: object) -> tuple[list[int], int]:
        page, total = await storage.list_accounts(AccountQuery(**kw))  # type: ignore[arg-type]
        by_id = {acct(n).id: n for n in range(1, 5)}
        return [by_id[r.id] for r in page], total

    assert await find(pool="super") == ([2, 3], 2)
    assert await find(status="cooling") == ([2], 1)
    assert await find(status="active") == ([1, 3], 2)
    assert await find(tag="nsfw") == ([1, 2], 2)  # exact tag: not "nsfw2"
    assert await find(tag="nsf") == ([], 0)
    assert await find(tag="nsfw", pool="super") == ([2], 1)
    assert await find(search="ALICE") == ([1], 1)  # note, case-insensitive
    assert await find(search="vip") == ([2], 1)  # tags
    assert await find(search="nsfw2") == ([3], 1)
    assert await find(search=acct(4).id[:10]) == ([4], 1)  # id
    assert await find(search="0%_s") == ([4], 1)  # LIKE wildcards are literal
    assert await find(search="%") == ([4], 1)
    assert await find(search="nobody") == ([], 0)
    assert await find(search="nsfw", pool="super", limit=1) == ([2], 2)


async def test_search_matches_what_the_masked_token_shows(storage: Storage) -> None:
    tokens = ["sso-AbCdEf-secret-middle-0001-WXyz", "super1-other-secret-part-QRst", "short-tok"]
    await storage.upsert_accounts([AccountRecord(id=account_id_for(t), token=t, created_at=1000.0 + i)
                                   for i, t in enumerate(tokens)])

    async def find(needle: str) -> list[int]:
        page, _ = await storage.list_accounts(AccountQuery(search=needle))
        return [[account_id_for(t) for t in tokens].index(r.id) for r in page]

    assert await find("sso-ab") == [0]  # the head, case-insensitively
    assert await find("WXYZ") == [0] and await find("qrs") == [1]  # the tail
    assert await find("o-Ab…WXy") == [0] and await find("sso-Ab…WXyz") == [0]  # across the mark, as copied
    assert await find("…QRst") == [1] and await find("super1…") == [1]
    assert await find("secret") == [] and await find("middle") == []  # never what the page hides
    assert await find("short") == []  # a short token shows nothing at all
    assert await find("ab…qr") == []


async def test_update_account(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, tags=["a", "b"])])
    aid = acct(1).id
    assert await storage.update_account(aid, status="invalid", fail_count=4, cooldown_until=77.5, tags=["c", "c"], note="x") is True
    got = await storage.get_account(aid)
    assert got is not None
    assert (got.status, got.fail_count, got.cooldown_until, got.tags, got.note) == ("invalid", 4, 77.5, ["c"], "x")
    assert (await storage.list_accounts(AccountQuery(tag="a")))[1] == 0
    assert (await storage.list_accounts(AccountQuery(tag="c", status="invalid")))[1] == 1
    assert await storage.update_account(aid, status="invalid") is True  # no change is still "exists"
    assert await storage.update_account("missing", status="active") is False
    with pytest.raises(ValueError):
        await storage.update_account(aid, token="stolen")
    with pytest.raises(ValueError):
        await storage.update_account(aid, created_at=1.0)


async def test_delete_accounts_and_their_quota(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, quota={"chat": Quota(5, 5)}), acct(2)])
    assert await storage.delete_accounts([acct(1).id, "missing", acct(1).id]) == 1
    assert await storage.get_account(acct(1).id) is None
    assert await storage.reserve(acct(1).id, "chat", 1) is None
    await storage.upsert_accounts([acct(1)])  # back again: the old bucket must not resurface
    got = await storage.get_account(acct(1).id)
    assert got is not None and got.quota == {}
    assert await storage.delete_accounts([]) == 0


async def test_set_quota(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, quota={"chat": Quota(1, 10), "image": Quota(2, 2)})])
    await storage.set_quota(acct(1).id, "chat", Quota(8, 20, 600, 1234.5))
    await storage.set_quota(acct(1).id, "video", Quota(3, 3))
    got = await storage.get_account(acct(1).id)
    assert got is not None
    assert got.quota == {"chat": Quota(8, 20, 600, 1234.5), "image": Quota(2, 2), "video": Quota(3, 3)}
    await storage.set_quota("missing", "chat", Quota(5, 5))
    assert await storage.reserve("missing", "chat", 1) is None


async def test_reserve_edges(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, quota={"chat": Quota(5, 10)})])
    aid = acct(1).id
    assert await storage.reserve(aid, "chat", 2) == 3
    assert await storage.reserve(aid, "chat", 4) is None  # too few: refused, nothing taken
    assert await storage.reserve(aid, "chat", 3) == 0  # exactly what remains
    assert await storage.reserve(aid, "chat", 1) is None
    assert await storage.reserve(aid, "image", 1) is None  # no such bucket
    assert await storage.reserve("missing", "chat", 1) is None
    got = await storage.get_account(aid)
    assert got is not None and got.quota["chat"] == Quota(0, 10)


async def test_concurrent_reserves_in_one_process_never_overspend(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, quota={"chat": Quota(30, 30)})])
    results = await asyncio.gather(*(storage.reserve(acct(1).id, "chat", 1) for _ in range(50)))
    granted = [r for r in results if r is not None]
    assert len(granted) == 30 and sorted(granted) == list(range(30))


async def test_release_is_capped_at_total(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, quota={"chat": Quota(5, 10)})])
    aid = acct(1).id
    await storage.release(aid, "chat", 3)
    assert (await storage.get_account(aid)).quota["chat"].remaining == 8  # type: ignore[union-attr]
    await storage.release(aid, "chat", 5)
    assert (await storage.get_account(aid)).quota["chat"].remaining == 10  # type: ignore[union-attr]
    await storage.release(aid, "image", 1)  # no bucket: nothing created
    assert set((await storage.get_account(aid)).quota) == {"chat"}  # type: ignore[union-attr]
    await storage.release("missing", "chat", 1)
    # A remainder the upstream reported above total is not lowered by a release.
    await storage.set_quota(aid, "chat", Quota(12, 10))
    await storage.release(aid, "chat", 1)
    assert (await storage.get_account(aid)).quota["chat"].remaining == 12  # type: ignore[union-attr]


async def test_settle(storage: Storage) -> None:
    await storage.upsert_accounts([acct(1, use_count=4, fail_count=3)])
    await storage.settle(acct(1).id, 2, 1700000000.5)
    await storage.settle("missing", 1, 1.0)
    got = await storage.get_account(acct(1).id)
    assert got is not None and (got.use_count, got.last_used_at, got.fail_count) == (6, 1700000000.5, 0)
    assert await storage.get_account("missing") is None


# -- api keys -----------------------------------------------------------------
def key(n: int, **kw: object) -> ApiKeyRecord:
    return ApiKeyRecord(id=f"k{n}", name=f"key {n}", key_hash=f"hash{n}", prefix=f"sk-{n}", created_at=100.0 + n, **kw)  # type: ignore[arg-type]


async def test_keys_crud(storage: Storage) -> None:
    full = key(2, enabled=False, expires_at=5e9, allowed_models=["grok-4", "grok-3"], rpm=60, max_concurrent=3,
               daily_quota=1000, reasoning_format="think", last_used_at=7.5, use_count=11)
    await storage.create_key(full)
    await storage.create_key(key(1))
    assert await storage.get_key("k2") == full
    assert await storage.get_key_by_hash("hash1") == key(1)
    assert await storage.get_key_by_hash("nope") is None
    assert [k.id for k in await storage.list_keys()] == ["k1", "k2"]
    assert await storage.update_key("k1", name="renamed", enabled=False, allowed_models=["a"], rpm=5) is True
    got = await storage.get_key("k1")
    assert got is not None and (got.name, got.enabled, got.allowed_models, got.rpm) == ("renamed", False, ["a"], 5)
    assert await storage.update_key("k1", rpm=5) is True  # unchanged values: still found
    assert await storage.update_key("missing", rpm=1) is False
    with pytest.raises(ValueError):
        await storage.update_key("k1", key_hash="other")
    assert await storage.delete_key("k1") is True
    assert await storage.delete_key("k1") is False
    assert await storage.get_key("k1") is None and await storage.get_key_by_hash("hash1") is None
    assert [k.id for k in await storage.list_keys()] == ["k2"]


async def test_touch_key_increments_atomically(storage: Storage) -> None:
    await storage.create_key(key(1, use_count=2))
    await asyncio.gather(*(storage.touch_key("k1", 500.0 + i) for i in range(20)))
    await storage.touch_key("k1", 900.25, uses=5)
    await storage.touch_key("missing", 1.0)
    got = await storage.get_key("k1")
    assert got is not None and got.use_count == 27 and got.last_used_at == 900.25
    assert await storage.get_key("missing") is None


# -- config overrides and counters -------------------------------------------
async def test_config_overrides_merge_remove_and_bump(storage: Storage) -> None:
    assert await storage.get_config_overrides() == {}
    assert await storage.counters() == {}
    await storage.set_config_overrides({"a.x": 1, "b.y": {"list": [1, "two", None], "ok": True}, "c.z": "text ✓"})
    assert await storage.get_config_overrides() == {"a.x": 1, "b.y": {"list": [1, "two", None], "ok": True}, "c.z": "text ✓"}
    assert await storage.counters() == {TOPIC_CONFIG: 1}
    await storage.set_config_overrides({"a.x": 2.5, "d.w": False}, remove=["c.z", "never.set"])
    assert await storage.get_config_overrides() == {"a.x": 2.5, "b.y": {"list": [1, "two", None], "ok": True}, "d.w": False}
    await storage.set_config_overrides({}, remove=["d.w"])
    assert "d.w" not in await storage.get_config_overrides()
    assert await storage.counters() == {TOPIC_CONFIG: 3}


async def test_counters(storage: Storage) -> None:
    assert await storage.bump("accounts") == 1
    assert await storage.bump("accounts") == 2
    assert await storage.bump("keys") == 1
    results = await asyncio.gather(*(storage.bump("accounts") for _ in range(20)))
    assert sorted(results) == list(range(3, 23))
    assert await storage.counters() == {"accounts": 22, "keys": 1}
    # Writes do not bump by themselves: the pool layer does.
    await storage.upsert_accounts([acct(1)])
    await storage.create_key(key(1))
    assert await storage.counters() == {"accounts": 22, "keys": 1}


# -- stats and request log ----------------------------------------------------
async def test_stats_increment_query_prune(storage: Storage) -> None:
    h = 3600
    await storage.add_stats([
        StatsDelta("hour", 10 * h, "grok-4", "k", 200, "", 1, 100.0, 20.0),
        StatsDelta("hour", 10 * h, "grok-4", "k", 200, "", 2, 50.5, 10.25),  # same bucket, one batch
        StatsDelta("hour", 11 * h, "grok-4", "k", 429, "rate_limited", 1, 5.0, 0.0),
        StatsDelta("day", 0, "grok-4", "k", 200, "", 3, 150.5, 30.25),
    ])
    await storage.add_stats([StatsDelta("hour", 10 * h, "grok-4", "k", 200, "", 1, 0.5, 0.0)])
    await storage.add_stats([])
    assert await storage.query_stats("hour", 0) == [
        StatsDelta("hour", 10 * h, "grok-4", "k", 200, "", 4, 151.0, 30.25),
        StatsDelta("hour", 11 * h, "grok-4", "k", 429, "rate_limited", 1, 5.0, 0.0),
    ]
    assert [d.start for d in await storage.query_stats("hour", 11 * h)] == [11 * h]
    assert await storage.query_stats("day", 0) == [StatsDelta("day", 0, "grok-4", "k", 200, "", 3, 150.5, 30.25)]
    assert await storage.prune_stats("hour", 11 * h) == 1
    assert [d.start for d in await storage.query_stats("hour", 0)] == [11 * h]
    assert len(await storage.query_stats("day", 0)) == 1  # other periods untouched


async def test_concurrent_stats_adds_are_increments(storage: Storage) -> None:
    delta = StatsDelta("hour", 3600, "m", "k", 200, "", 1, 2.0, 1.0)
    await asyncio.gather(*(storage.add_stats([delta]) for _ in range(20)))
    assert await storage.query_stats("hour", 0) == [StatsDelta("hour", 3600, "m", "k", 200, "", 20, 40.0, 20.0)]


def entry(ts: float, **kw: object) -> LogEntry:
    values: dict[str, object] = dict(request_id=f"r{ts}", key_name="k", model="grok-4", stream=True, status=200,
                                     error_kind="", latency_ms=12.5, ttft_ms=3.25, account="ab…cd", client_ip="10.0.0.1")
    values.update(kw)
    return LogEntry(ts=ts, **values)  # type: ignore[arg-type]


async def test_logs_append_query_filters_newest_first(storage: Storage) -> None:
    entries = [entry(float(t)) for t in range(1, 8)]
    entries += [entry(8.0, request_id="same-a", model="grok-3", stream=False, path="/v1/chat", detail="ünï ✓"),
                entry(8.0, request_id="same-b", status=429, error_kind="rate_limited", key_name="other")]
    await storage.append_logs(entries[:4])
    await storage.append_logs(entries[4:])
    await storage.append_logs([])
    page, total = await storage.query_logs(LogQuery(limit=3))
    assert total == 9 and [e.request_id for e in page] == ["same-b", "same-a", "r7.0"]  # ties: last written first
    assert page[1] == entries[7]
    page, total = await storage.query_logs(LogQuery(offset=7, limit=5))
    assert [e.request_id for e in page] == ["r2.0", "r1.0"] and total == 9
    assert [e.request_id for e in (await storage.query_logs(LogQuery(since=3, until=5)))[0]] == ["r5.0", "r4.0", "r3.0"]
    assert (await storage.query_logs(LogQuery(model="grok-3")))[1] == 1
    assert [e.request_id for e in (await storage.query_logs(LogQuery(status=429)))[0]] == ["same-b"]
    assert (await storage.query_logs(LogQuery(error_kind="rate_limited", key_name="other")))[1] == 1
    assert (await storage.query_logs(LogQuery(key_name="other", status=200)))[1] == 0
    # Text filters match what the entry contains, case-insensitively; LIKE wildcards are literal.
    assert (await storage.query_logs(LogQuery(model="GROK")))[1] == 9
    assert (await storage.query_logs(LogQuery(model="-3")))[1] == 1
    assert (await storage.query_logs(LogQuery(key_name="oth", error_kind="LIMIT")))[1] == 1
    assert (await storage.query_logs(LogQuery(model="%")))[1] == 0
    assert (await storage.query_logs(LogQuery(error_kind="_")))[1] == 1
    assert await storage.query_logs(LogQuery(limit=0)) == ([], 9)


async def test_prune_logs_by_count_and_age(storage: Storage) -> None:
    await storage.append_logs([entry(float(t)) for t in range(1, 11)])
    assert await storage.prune_logs(100) == 0
    assert await storage.prune_logs(6) == 4
    page, total = await storage.query_logs(LogQuery(limit=100))
    assert total == 6 and [e.ts for e in page] == [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    assert await storage.prune_logs(100, before=8.0) == 3  # strictly older than 8
    page, total = await storage.query_logs(LogQuery(limit=100))
    assert [e.ts for e in page] == [10.0, 9.0, 8.0]
    assert await storage.prune_logs(1, before=9.5) == 2
    assert [e.ts for e in (await storage.query_logs(LogQuery()))[0]] == [10.0]


# -- locks --------------------------------------------------------------------
async def test_locks_acquire_contend_renew_release(storage: Storage) -> None:
    assert await storage.lock_owner("refresher") is None
    assert await storage.acquire_lock("refresher", "w1", 10) is True
    assert await storage.acquire_lock("refresher", "w2", 10) is False
    assert await storage.lock_owner("refresher") == "w1"
    assert await storage.acquire_lock("refresher", "w1", 10) is True  # renew
    assert await storage.acquire_lock("other", "w2", 10) is True  # locks are independent
    await storage.release_lock("refresher", "w2")  # not the holder: ignored
    assert await storage.lock_owner("refresher") == "w1"
    await storage.release_lock("refresher", "w1")
    assert await storage.lock_owner("refresher") is None
    assert await storage.acquire_lock("refresher", "w2", 10) is True
    assert await storage.lock_owner("refresher") == "w2"


async def test_lock_expiry_and_renewal_extends(storage: Storage) -> None:
    assert await storage.acquire_lock("l", "w1", 0.4) is True
    await asyncio.sleep(0.25)
    assert await storage.acquire_lock("l", "w1", 0.4) is True  # renewed: now lives until ~0.65 s
    await asyncio.sleep(0.25)
    assert await storage.acquire_lock("l", "w2", 0.4) is False  # past the first expiry, not the renewed one
    assert await storage.lock_owner("l") == "w1"
    await asyncio.sleep(0.3)
    assert await storage.lock_owner("l") is None  # expired
    assert await storage.acquire_lock("l", "w2", 5) is True
    assert await storage.lock_owner("l") == "w2"


async def test_one_winner_among_racing_acquirers(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.acquire_lock("race", f"w{i}", 10) for i in range(10)))
    assert results.count(True) == 1
    assert await storage.lock_owner("race") == f"w{results.index(True)}"


# -- limits -------------------------------------------------------------------
async def test_counters_count_up_to_their_limit_per_name(storage: Storage) -> None:
    later = time.time() + 60
    assert [await storage.hit_counter("day:k1:2026-01-01", 3, later) for _ in range(5)] == [True] * 3 + [False] * 2
    assert await storage.hit_counter("day:k2:2026-01-01", 1, later) is True  # names are independent
    assert await storage.hit_counter("day:k2:2026-01-01", 1, later) is False
    assert await storage.hit_counter("day:k1:2026-01-02", 3, later) is True  # a new window, a new name
    assert await storage.hit_counter("day:k1:2026-01-01", 4, later) is True  # a raised limit counts on
    assert await storage.hit_counter("day:k1:2026-01-01", 4, later) is False


async def test_expired_counters_and_slots_start_again_and_prune_keeps_live_ones(storage: Storage) -> None:
    past, later = time.time() - 1, time.time() + 60
    assert await storage.hit_counter("gone", 1, past) is True
    assert await storage.hit_counter("gone", 1, past) is True  # the window was over: counting restarts
    assert await storage.take_slot("slots", "a", 1, past) is None
    assert await storage.take_slot("slots", "b", 1, later) is None  # a's slot had expired
    assert await storage.hit_counter("live", 1, later) is True
    await storage.prune_limits()
    assert await storage.hit_counter("live", 1, later) is False  # pruning never forgets a live window
    wait = await storage.take_slot("slots", "c", 1, later)
    assert wait is not None and 55 < wait <= 60  # b still holds the only slot, until its expiry


async def test_slots_are_held_until_dropped(storage: Storage) -> None:
    later = time.time() + 60
    assert await storage.take_slot("conc:k", "a", 2, later) is None
    assert await storage.take_slot("conc:k", "b", 2, later) is None
    assert await storage.take_slot("conc:k", "c", 2, later) is not None
    assert await storage.take_slot("conc:other", "c", 1, later) is None  # names are independent
    await storage.drop_slot("conc:k", "a")
    await storage.drop_slot("conc:k", "nobody")  # unknown leases are ignored
    assert await storage.take_slot("conc:k", "c", 2, later) is None
    assert await storage.take_slot("conc:k", "d", 2, later) is not None


async def test_racing_workers_never_pass_a_limit(backend: Backend, storage: Storage) -> None:
    """Two storages on one database (two workers), hits and takes in parallel: exactly the limit."""
    other = await backend.open()
    try:
        later = time.time() + 60
        hits = await asyncio.gather(*(s.hit_counter("race:day", 10, later) for s in (storage, other) * 20))
        assert hits.count(True) == 10
        takes = await asyncio.gather(*(s.take_slot("race:conc", f"l{i}", 5, later)
                                       for i, s in enumerate((storage, other) * 12)))
        assert sum(t is None for t in takes) == 5
    finally:
        await other.close()


# -- documents ----------------------------------------------------------------
async def test_docs_put_get_delete(storage: Storage) -> None:
    value = {"status": "done", "urls": ["a", "b"], "n": 1.5, "text": "视频 ✓", "nested": {"x": None}}
    await storage.doc_put("video", "job1", value)
    await storage.doc_put("responses", "job1", {"other": True})
    assert await storage.doc_get("video", "job1") == value
    assert await storage.doc_get("responses", "job1") == {"other": True}
    assert await storage.doc_get("video", "missing") is None
    await storage.doc_put("video", "job1", {"status": "replaced"})
    assert await storage.doc_get("video", "job1") == {"status": "replaced"}
    assert await storage.doc_delete("video", "job1") is True
    assert await storage.doc_delete("video", "job1") is False
    assert await storage.doc_get("video", "job1") is None
    assert await storage.doc_get("responses", "job1") == {"other": True}


async def test_docs_expire(storage: Storage) -> None:
    await storage.doc_put("ns", "short", {"v": 1}, ttl_sec=0.2)
    await storage.doc_put("ns", "long", {"v": 2}, ttl_sec=60)
    await storage.doc_put("ns", "forever", {"v": 3})
    assert await storage.doc_get("ns", "short") == {"v": 1}
    await asyncio.sleep(0.35)
    assert await storage.doc_get("ns", "short") is None
    assert await storage.doc_prune() in (0, 1)  # 0 where the engine expires keys itself
    assert await storage.doc_prune() == 0
    assert await storage.doc_get("ns", "long") == {"v": 2}
    assert await storage.doc_get("ns", "forever") == {"v": 3}
    await storage.doc_put("ns", "short", {"v": 4})  # put again without ttl: kept
    await asyncio.sleep(0.25)
    assert await storage.doc_get("ns", "short") == {"v": 4}
