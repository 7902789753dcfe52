"""Redis storage: accounts in hashes with set indexes, Lua for every atomic read-check-write."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, fields
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from . import redis_lua as lua
from .base import (
    ACCOUNT_MUTABLE_FIELDS,
    API_KEY_MUTABLE_FIELDS,
    SCHEMA_VERSION,
    TOPIC_CONFIG,
    AccountQuery,
    AccountRecord,
    ApiKeyRecord,
    LogEntry,
    LogQuery,
    Quota,
    StatsDelta,
    StorageError,
    StorageSchemaError,
    masked_match,
)

# Key layout (every key starts with PREFIX):
#   schema_version                string   schema of the stored data
#   acct:{id}                     hash     account fields; tags as a JSON list (schema 2 added egress)
#   quota:{id}                    hash     "{bucket}:remaining|total|window_sec|resets_at"
#   accts:by_created              zset     account ids scored by created_at (ties: by id)
#   accts:pool|status|tag:{value} set      ids, intersected with by_created for filtered pages
#   key:{id}                      hash     API key fields
#   keys:by_created / keys:by_hash         zset of key ids / hash key_hash -> id
#   config                        hash     "section.key" -> JSON value
#   counters                      hash     topic -> change counter
#   stats:{period}                zset     bucket starts; stats:{period}:{start} hash of
#                                          "n:|l:|t:" + JSON dims -> count / latency / ttft sums
#   logs                          zset     "{seq}|{json}" scored by ts; logs:seq its counter
#   lock:{name}                   string   owner, expiring natively (PX)
#   doc:{namespace}:{key}         string   JSON document, PX when it has a ttl
#   limit:{name}                  string   a limit's counter, expiring natively (PEXPIREAT)
#   slots:{name}                  zset     a limit's held slots, lease scored by its expiry
#   tmp:filter                    zset     scratch of FILTER_IDS, never outlives the script
#
# Pool, status and tag filters are set intersections, paged inside Redis. `search`
# (case-insensitive substring of note, tags, id or the masked token) has no Redis index, so it reads those
# of the already filtered ids in chunks (HMGET_MANY): ~1 s over 50,000 accounts on a small
# box, acceptable for an admin search, never on the request path. Log filters other than the
# time range scan that range too; prune_logs bounds the log to log_max_entries.
PREFIX = "grok2api:"
_IX = PREFIX + "accts:"
_ORDER = _IX + "by_created"
_KEYS_ORDER = PREFIX + "keys:by_created"
_KEYS_BY_HASH = PREFIX + "keys:by_hash"
_CONFIG = PREFIX + "config"
_COUNTERS = PREFIX + "counters"
_LOGS = PREFIX + "logs"
_SCHEMA = PREFIX + "schema_version"
# Accounts per bulk script call: one call holds Redis for ~30 ms, not the whole import.
_CHUNK = 1000

# The client, always opened with decode_responses=True: every reply is a str. redis-py's annotations
# cannot express that (they type each reply bytes | str), so the client is handled as untyped.
DecodedRedis = Any

S = TypeVar("S", bound="RedisStorage")
P = ParamSpec("P")
T = TypeVar("T")


def _guarded(fn: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
             ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Turn redis-py errors into StorageError; the cause is dropped so no URL secret can surface."""

    @functools.wraps(fn)
    async def run(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(self, *args, **kwargs)
        except RedisError as exc:
            raise StorageError(self.describe(exc)) from None

    return run


# Hash values are strings; each field is coerced to its declared type on the way in, so a
# float passed for an int field (or an int for a timestamp) reads back with the right type.
_ENCODERS: dict[str, Callable[[Any], str]] = {
    "bool": lambda v: "1" if v else "0",
    "int": lambda v: str(int(v)),
    "float": lambda v: repr(float(v)),
    "list[str]": lambda v: json.dumps([str(x) for x in v], ensure_ascii=False),
    "str": str,
}
_DECODERS: dict[str, Callable[[str], Any]] = {
    "bool": lambda raw: raw == "1",
    "int": int,
    "float": float,
    "list[str]": json.loads,
    "str": str,
}


def _encode(kind: str, value: Any) -> str:
    return _ENCODERS[kind](value)


# Field name -> declared type (a string: base.py uses postponed annotations).
_ACCOUNT_KINDS = {f.name: str(f.type) for f in fields(AccountRecord) if f.name not in ("id", "quota")}
_KEY_KINDS = {f.name: str(f.type) for f in fields(ApiKeyRecord)}
# Resolved once: all_accounts decodes every field of every account (50,000 x 13).
_ACCOUNT_DECODERS = {name: _DECODERS[kind] for name, kind in _ACCOUNT_KINDS.items()}
_KEY_DECODERS = {name: _DECODERS[kind] for name, kind in _KEY_KINDS.items()}


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class _Scripts:
    """The Lua scripts of one client: redis-py sends EVALSHA and loads a script on NOSCRIPT."""

    def __init__(self, r: DecodedRedis) -> None:
        self.upsert = r.register_script(lua.UPSERT_ACCOUNTS)
        self.update = r.register_script(lua.UPDATE_ACCOUNT)
        self.delete = r.register_script(lua.DELETE_ACCOUNTS)
        self.hgetall_many = r.register_script(lua.HGETALL_MANY)
        self.hmget_many = r.register_script(lua.HMGET_MANY)
        self.filter = r.register_script(lua.FILTER_IDS)
        self.reserve = r.register_script(lua.RESERVE)
        self.release = r.register_script(lua.RELEASE)
        self.hset_if = r.register_script(lua.HSET_IF_EXISTS)
        self.incr_if = r.register_script(lua.INCR_IF_EXISTS)
        self.delete_key = r.register_script(lua.DELETE_KEY)
        self.prune_stats = r.register_script(lua.PRUNE_STATS)
        self.append_logs = r.register_script(lua.APPEND_LOGS)
        self.lock_acquire = r.register_script(lua.LOCK_ACQUIRE)
        self.lock_release = r.register_script(lua.LOCK_RELEASE)
        self.hit_counter = r.register_script(lua.HIT_COUNTER)
        self.take_slot = r.register_script(lua.TAKE_SLOT)


class RedisStorage:
    """The Storage protocol on one Redis server (scripts build index keys, so not Redis Cluster)."""

    kind = "redis"

    def __init__(self, url: str, max_connections: int = 64) -> None:
        self._url = url
        self._max_connections = max_connections
        self._redis: DecodedRedis | None = None
        self._scripts: _Scripts | None = None
        parts = urlsplit(url)
        self._secrets = [s for s in {parts.password or "", unquote(parts.password or "")} if s]
        try:
            self._where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path}"
        except ValueError:  # a bad port; open() reports the URL error
            self._where = parts.hostname or "?"

    def describe(self, exc: BaseException) -> str:
        """The error as a message that names the server but never its password."""
        text = f"redis at {self._where}: {type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def _r(self) -> DecodedRedis:
        if self._redis is None:
            raise StorageError("redis storage is not open")
        return self._redis

    @property
    def _lua(self) -> _Scripts:
        if self._scripts is None:
            raise StorageError("redis storage is not open")
        return self._scripts

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        try:
            pool = BlockingConnectionPool.from_url(
                self._url,
                decode_responses=True,
                max_connections=self._max_connections,
                timeout=10,
                socket_connect_timeout=5,
                socket_timeout=30,
                health_check_interval=30,
            )
        except (ValueError, TypeError) as exc:
            raise StorageError(f"bad redis URL: {self.describe(exc)}") from None
        self._redis = Redis.from_pool(pool)
        self._scripts = _Scripts(self._redis)
        try:
            await self._check_schema()
        except BaseException:
            await self.close()
            raise

    @_guarded
    async def _check_schema(self) -> None:
        # An empty database starts at the newest layout; an older one is migrated step by step.
        await self._r.set(_SCHEMA, SCHEMA_VERSION, nx=True)
        stored = await self._r.get(_SCHEMA)
        try:
            version = int(stored or 0)
        except ValueError:
            raise StorageSchemaError(f"redis at {self._where}: unreadable {_SCHEMA} {stored!r}") from None
        if version > SCHEMA_VERSION:
            raise StorageSchemaError(
                f"redis at {self._where} holds schema version {version}, newer than this "
                f"grok2api understands ({SCHEMA_VERSION}); upgrade grok2api or use another database"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            await self._migrate(target)
            await self._r.set(_SCHEMA, target)

    async def _migrate(self, target: int) -> None:
        """Bring the data to layout `target`. Each step may run twice (two workers starting at once)."""
        if target == 2:
            # accounts.egress: every account hash gets the field, "" until the account is first bound.
            ids = await self._r.zrange(_ORDER, 0, -1)
            for start in range(0, len(ids), _CHUNK):
                async with self._r.pipeline(transaction=False) as pipe:
                    for aid in ids[start : start + _CHUNK]:
                        pipe.hsetnx(f"{PREFIX}acct:{aid}", "egress", "")
                    await pipe.execute()
        # 3: per-key limits live in new key families (limit:, slots:): nothing to rewrite.

    async def close(self) -> None:
        if self._redis is not None:
            redis, self._redis, self._scripts = self._redis, None, None
            await redis.aclose()

    @_guarded
    async def ping(self) -> None:
        await self._r.ping()

    # -- accounts ----------------------------------------------------------
    @_guarded
    async def upsert_accounts(self, records: list[AccountRecord]) -> tuple[int, int]:
        now = time.time()
        items: list[list[Any]] = []
        for rec in records:
            values = {k: _encode(kind, getattr(rec, k)) for k, kind in _ACCOUNT_KINDS.items()}
            values["tags"] = _encode("list[str]", _unique(rec.tags))
            values["created_at"] = repr(rec.created_at or now)
            values["updated_at"] = repr(rec.updated_at or now)
            quota = {f"{b}:{k}": v for b, q in rec.quota.items() for k, v in _quota_fields(q).items()}
            items.append([rec.id, values, quota])
        added = 0
        for start in range(0, len(items), _CHUNK):
            chunk = json.dumps(items[start : start + _CHUNK], ensure_ascii=False)
            added += int(await self._lua.upsert(keys=[_ORDER], args=[PREFIX, repr(now), chunk]))
        # A repeated id in one batch merges into its first occurrence: one account, counted once.
        return added, len({rec.id for rec in records}) - added

    @_guarded
    async def get_account(self, account_id: str) -> AccountRecord | None:
        found = await self._load_accounts([account_id])
        return found[0] if found else None

    @_guarded
    async def list_accounts(self, query: AccountQuery) -> tuple[list[AccountRecord], int]:
        offset, limit = max(0, query.offset), max(0, query.limit)
        filters = (("pool", query.pool), ("status", query.status), ("tag", query.tag))
        sets = [f"{_IX}{kind}:{value}" for kind, value in filters if value]
        if query.search:
            ids = await self._search(await self._all_filtered_ids(sets), query.search.lower())
            return await self._load_accounts(ids[offset : offset + limit]), len(ids)
        if sets:
            total, ids = await self._filtered_ids_total(sets, offset, limit)
            return await self._load_accounts(ids), total
        total = await self._r.zcard(_ORDER)
        ids = await self._r.zrange(_ORDER, offset, offset + limit - 1) if limit else []
        return await self._load_accounts(ids), int(total)

    @_guarded
    async def all_accounts(self) -> list[AccountRecord]:
        return await self._load_accounts(await self._r.zrange(_ORDER, 0, -1))

    @_guarded
    async def update_account(self, account_id: str, **fields: Any) -> bool:
        unknown = set(fields) - ACCOUNT_MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable account fields: {sorted(unknown)}")
        values = {k: _encode(_ACCOUNT_KINDS[k], v) for k, v in fields.items()}
        if "tags" in fields:
            values["tags"] = _encode("list[str]", _unique(list(fields["tags"])))
        values["updated_at"] = repr(time.time())
        done = await self._lua.update(keys=[f"{PREFIX}acct:{account_id}"], args=[PREFIX, account_id, json.dumps(values)])
        return bool(done)

    @_guarded
    async def delete_accounts(self, account_ids: list[str]) -> int:
        deleted = 0
        for start in range(0, len(account_ids), _CHUNK):
            deleted += int(await self._lua.delete(keys=[_ORDER], args=[PREFIX, *account_ids[start : start + _CHUNK]]))
        return deleted

    @_guarded
    async def set_quota(self, account_id: str, bucket: str, quota: Quota) -> None:
        pairs = [x for k, v in _quota_fields(quota).items() for x in (f"{bucket}:{k}", v)]
        await self._lua.hset_if(keys=[f"{PREFIX}acct:{account_id}", f"{PREFIX}quota:{account_id}"], args=pairs)

    @_guarded
    async def reserve(self, account_id: str, bucket: str, cost: int) -> int | None:
        left = int(await self._lua.reserve(keys=[f"{PREFIX}quota:{account_id}"], args=[bucket, int(cost)]))
        return None if left < 0 else left

    @_guarded
    async def release(self, account_id: str, bucket: str, cost: int) -> None:
        await self._lua.release(keys=[f"{PREFIX}quota:{account_id}"], args=[bucket, int(cost)])

    @_guarded
    async def settle(self, account_id: str, cost: int, now: float) -> None:
        args = ["use_count", int(cost), "last_used_at", repr(float(now)), "fail_count", "0"]
        await self._lua.incr_if(keys=[f"{PREFIX}acct:{account_id}"], args=args)

    async def _filtered_ids_total(self, sets: list[str], start: int, count: int) -> tuple[int, list[str]]:
        total, ids = await self._lua.filter(keys=[PREFIX + "tmp:filter", _ORDER, *sets], args=[start, count])
        return int(total), list(ids)

    async def _all_filtered_ids(self, sets: list[str]) -> list[str]:
        if not sets:
            return list(await self._r.zrange(_ORDER, 0, -1))
        return (await self._filtered_ids_total(sets, 0, -1))[1]

    async def _search(self, ids: list[str], needle: str) -> list[str]:
        matched: list[str] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            keys = [f"{PREFIX}acct:{aid}" for aid in chunk]
            rows = json.loads(await self._lua.hmget_many(keys=keys, args=["note", "tags", "token"]))
            for aid, (note, tags, token) in zip(chunk, rows):
                texts = [aid, note or "", *json.loads(tags or "[]")]
                if any(needle in text.lower() for text in texts) or masked_match(token or "", needle):
                    matched.append(aid)
        return matched

    async def _load_accounts(self, ids: list[str]) -> list[AccountRecord]:
        records: list[AccountRecord] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            keys = [k for aid in chunk for k in (f"{PREFIX}acct:{aid}", f"{PREFIX}quota:{aid}")]
            rows = json.loads(await self._lua.hgetall_many(keys=keys))
            for i, aid in enumerate(chunk):
                acct, quota = _pairs(rows[2 * i]), _pairs(rows[2 * i + 1])
                if acct:  # empty: deleted between the index read and this one
                    records.append(_account_from(aid, acct, quota))
        return records

    # -- api keys ----------------------------------------------------------
    @_guarded
    async def create_key(self, record: ApiKeyRecord) -> None:
        values = {k: _encode(kind, getattr(record, k)) for k, kind in _KEY_KINDS.items()}
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(f"{PREFIX}key:{record.id}", mapping=values)
            pipe.hset(_KEYS_BY_HASH, record.key_hash, record.id)
            pipe.zadd(_KEYS_ORDER, {record.id: record.created_at})
            await pipe.execute()

    @_guarded
    async def get_key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        key_id = await self._r.hget(_KEYS_BY_HASH, key_hash)
        record = await self.get_key(key_id) if key_id else None
        # A key id re-created with another secret must not answer to the old hash.
        return record if record and record.key_hash == key_hash else None

    @_guarded
    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        values = await self._r.hgetall(f"{PREFIX}key:{key_id}")
        return _key_from(values) if values else None

    @_guarded
    async def list_keys(self) -> list[ApiKeyRecord]:
        ids = await self._r.zrange(_KEYS_ORDER, 0, -1)
        async with self._r.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hgetall(f"{PREFIX}key:{key_id}")
            rows = await pipe.execute()
        return [_key_from(values) for values in rows if values]

    @_guarded
    async def update_key(self, key_id: str, **fields: Any) -> bool:
        unknown = set(fields) - API_KEY_MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable API key fields: {sorted(unknown)}")
        if not fields:
            return bool(await self._r.exists(f"{PREFIX}key:{key_id}"))
        pairs = [x for k, v in fields.items() for x in (k, _encode(_KEY_KINDS[k], v))]
        key = f"{PREFIX}key:{key_id}"
        return bool(await self._lua.hset_if(keys=[key, key], args=pairs))

    @_guarded
    async def delete_key(self, key_id: str) -> bool:
        keys = [f"{PREFIX}key:{key_id}", _KEYS_BY_HASH, _KEYS_ORDER]
        return bool(await self._lua.delete_key(keys=keys, args=[key_id]))

    @_guarded
    async def touch_key(self, key_id: str, now: float, uses: int = 1) -> None:
        args = ["use_count", int(uses), "last_used_at", repr(float(now))]
        await self._lua.incr_if(keys=[f"{PREFIX}key:{key_id}"], args=args)

    # -- config overrides --------------------------------------------------
    @_guarded
    async def get_config_overrides(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in (await self._r.hgetall(_CONFIG)).items()}

    @_guarded
    async def set_config_overrides(self, values: dict[str, Any], remove: list[str] | None = None) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            if remove:
                pipe.hdel(_CONFIG, *remove)
            if values:
                pipe.hset(_CONFIG, mapping={k: json.dumps(v) for k, v in values.items()})
            pipe.hincrby(_COUNTERS, TOPIC_CONFIG, 1)
            await pipe.execute()

    # -- change counters ---------------------------------------------------
    @_guarded
    async def bump(self, topic: str) -> int:
        return int(await self._r.hincrby(_COUNTERS, topic, 1))

    @_guarded
    async def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in (await self._r.hgetall(_COUNTERS)).items()}

    # -- stats and request log --------------------------------------------
    @_guarded
    async def add_stats(self, deltas: list[StatsDelta]) -> None:
        if not deltas:
            return
        async with self._r.pipeline(transaction=True) as pipe:
            for d in deltas:
                key = f"{PREFIX}stats:{d.period}:{d.start}"
                dims = json.dumps([d.model, d.key_name, d.status, d.error_kind], ensure_ascii=False)
                pipe.hincrby(key, "n:" + dims, d.count)
                if d.latency_ms_sum:
                    pipe.hincrbyfloat(key, "l:" + dims, d.latency_ms_sum)
                if d.ttft_ms_sum:
                    pipe.hincrbyfloat(key, "t:" + dims, d.ttft_ms_sum)
                pipe.zadd(f"{PREFIX}stats:{d.period}", {str(d.start): d.start})
            await pipe.execute()

    @_guarded
    async def query_stats(self, period: str, since: int) -> list[StatsDelta]:
        starts = await self._r.zrangebyscore(f"{PREFIX}stats:{period}", since, "+inf")
        async with self._r.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(f"{PREFIX}stats:{period}:{start}")
            buckets = await pipe.execute()
        out: list[StatsDelta] = []
        for start, bucket in zip(starts, buckets):
            for dims in (field[2:] for field in bucket if field.startswith("n:")):
                model, key_name, status, error_kind = json.loads(dims)
                count = int(bucket["n:" + dims])
                latency, ttft = (float(bucket.get(kind + dims, 0.0)) for kind in ("l:", "t:"))
                dims_args = (model, key_name, int(status), error_kind)
                out.append(StatsDelta(period, int(start), *dims_args, count, latency, ttft))
        out.sort(key=lambda d: (d.start, d.model, d.key_name, d.status, d.error_kind))
        return out

    @_guarded
    async def prune_stats(self, period: str, before: int) -> int:
        keys = [f"{PREFIX}stats:{period}"]
        return int(await self._lua.prune_stats(keys=keys, args=[f"{PREFIX}stats:{period}:", int(before)]))

    @_guarded
    async def append_logs(self, entries: list[LogEntry]) -> None:
        for start in range(0, len(entries), _CHUNK):
            args = [x for e in entries[start : start + _CHUNK] for x in (repr(float(e.ts)), json.dumps(asdict(e)))]
            await self._lua.append_logs(keys=[_LOGS, _LOGS + ":seq"], args=args)

    @_guarded
    async def query_logs(self, query: LogQuery) -> tuple[list[LogEntry], int]:
        low = repr(float(query.since)) if query.since else "-inf"
        high = repr(float(query.until)) if query.until else "+inf"
        offset, limit = max(0, query.offset), max(0, query.limit)
        if not (query.model or query.key_name or query.status or query.error_kind):
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.zcount(_LOGS, low, high)
                pipe.zrevrangebyscore(_LOGS, high, low, start=offset, num=limit)
                total, members = await pipe.execute()
            return ([_log_from(m) for m in members] if limit else []), int(total)
        matched = [
            e
            for e in map(_log_from, await self._r.zrevrangebyscore(_LOGS, high, low))
            if (not query.model or query.model.lower() in e.model.lower())
            and (not query.key_name or query.key_name.lower() in e.key_name.lower())
            and (not query.status or e.status == query.status)
            and (not query.error_kind or query.error_kind.lower() in e.error_kind.lower())
        ]
        return matched[offset : offset + limit], len(matched)

    @_guarded
    async def prune_logs(self, max_entries: int, before: float = 0.0) -> int:
        async with self._r.pipeline(transaction=True) as pipe:
            if before:
                pipe.zremrangebyscore(_LOGS, "-inf", f"({float(before)!r}")
            # Ranks ascend by (ts, seq): dropping ranks 0..-(max+1) keeps the max newest.
            pipe.zremrangebyrank(_LOGS, 0, -max(0, max_entries) - 1)
            return sum(await pipe.execute())

    # -- locks -------------------------------------------------------------
    @_guarded
    async def acquire_lock(self, name: str, owner: str, ttl_sec: float) -> bool:
        ttl_ms = max(1, int(ttl_sec * 1000))
        return bool(await self._lua.lock_acquire(keys=[f"{PREFIX}lock:{name}"], args=[owner, ttl_ms]))

    @_guarded
    async def release_lock(self, name: str, owner: str) -> None:
        await self._lua.lock_release(keys=[f"{PREFIX}lock:{name}"], args=[owner])

    @_guarded
    async def lock_owner(self, name: str) -> str | None:
        owner: str | None = await self._r.get(f"{PREFIX}lock:{name}")
        return owner

    # -- limits ------------------------------------------------------------
    @_guarded
    async def hit_counter(self, name: str, limit: int, expires_at: float) -> bool:
        at_ms = max(1, int(expires_at * 1000))
        return bool(await self._lua.hit_counter(keys=[f"{PREFIX}limit:{name}"], args=[int(limit), at_ms]))

    @_guarded
    async def take_slot(self, name: str, lease: str, limit: int, expires_at: float) -> float | None:
        wait = int(await self._lua.take_slot(keys=[f"{PREFIX}slots:{name}"],
                                             args=[lease, int(limit), repr(float(expires_at)), repr(time.time())]))
        return None if wait < 0 else wait / 1000

    @_guarded
    async def drop_slot(self, name: str, lease: str) -> None:
        await self._r.zrem(f"{PREFIX}slots:{name}", lease)

    async def prune_limits(self) -> int:
        return 0  # Redis expires counters and slot sets itself; take_slot drops expired slots

    # -- documents ---------------------------------------------------------
    @_guarded
    async def doc_put(self, namespace: str, key: str, value: dict[str, Any], ttl_sec: float = 0.0) -> None:
        ttl_ms = max(1, int(ttl_sec * 1000)) if ttl_sec > 0 else None
        await self._r.set(f"{PREFIX}doc:{namespace}:{key}", json.dumps(value, ensure_ascii=False), px=ttl_ms)

    @_guarded
    async def doc_get(self, namespace: str, key: str) -> dict[str, Any] | None:
        raw = await self._r.get(f"{PREFIX}doc:{namespace}:{key}")
        return json.loads(raw) if raw is not None else None

    @_guarded
    async def doc_delete(self, namespace: str, key: str) -> bool:
        return bool(await self._r.delete(f"{PREFIX}doc:{namespace}:{key}"))

    async def doc_prune(self) -> int:
        return 0  # Redis expires documents itself (PX)


def _pairs(flat: Any) -> dict[str, str]:
    """A hash from HGETALL_MANY's flat [field, value, ...] list (false when the key is absent)."""
    return dict(zip(flat[::2], flat[1::2])) if flat else {}


def _quota_fields(q: Quota) -> dict[str, str]:
    return {
        "remaining": str(int(q.remaining)),
        "total": str(int(q.total)),
        "window_sec": str(int(q.window_sec)),
        "resets_at": repr(float(q.resets_at)),
    }


def _account_from(account_id: str, values: dict[str, str], quota_hash: dict[str, str]) -> AccountRecord:
    kw = {k: _ACCOUNT_DECODERS[k](v) for k, v in values.items() if k in _ACCOUNT_DECODERS}
    quota: dict[str, Quota] = {}
    for field, raw in quota_hash.items():
        bucket, _, attr = field.rpartition(":")
        if bucket not in quota:
            quota[bucket] = Quota(remaining=0, total=0)
        setattr(quota[bucket], attr, float(raw) if attr == "resets_at" else int(raw))
    return AccountRecord(id=account_id, quota=quota, **kw)


def _key_from(values: dict[str, str]) -> ApiKeyRecord:
    return ApiKeyRecord(**{k: _KEY_DECODERS[k](v) for k, v in values.items() if k in _KEY_DECODERS})


def _log_from(member: str) -> LogEntry:
    return LogEntry(**json.loads(member.split("|", 1)[1]))
