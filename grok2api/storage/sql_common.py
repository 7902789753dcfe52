"""What the SQL engines share: the storage protocol written once in SQL (schema in sql_schema.py)."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

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
    StorageSchemaError,
)
from .sql_schema import (  # noqa: F401  (engines import the dialects, Conn and Row from here)
    _CHUNK,
    ACCOUNT,
    API_KEY,
    LOG,
    MARIADB,
    MIGRATIONS,
    MYSQL8,
    POSTGRES,
    QUOTA_COLS,
    SQLITE,
    STATS_DIMS,
    STATS_SUMS,
    Conn,
    Dialect,
    DuplicateKeyError,
    Row,
    like_contains,
    masked_search,
    marks,
    merge_account,
    quota_row,
)

# One statement: the row lock taken by the UPDATE makes check-and-take atomic.
RESERVE_SQL = ("UPDATE account_quota SET remaining = remaining - ? "
               "WHERE account_id = ? AND bucket = ? AND remaining >= ? RETURNING remaining")
# Capped at total, but a remainder the upstream reported above total is not lowered.
RELEASE_SQL = ("UPDATE account_quota SET remaining = CASE WHEN remaining + ? <= total THEN remaining + ? "
               "WHEN remaining > total THEN remaining ELSE total END WHERE account_id = ? AND bucket = ?")


class SqlStorage(ABC):
    """The Storage protocol over any `Conn`; engines supply connections and their dialect."""

    kind: str
    dialect: Dialect

    @abstractmethod
    def _conn(self) -> AbstractAsyncContextManager[Conn]:
        """A connection in autocommit mode: every statement is its own transaction."""

    @abstractmethod
    def _tx(self) -> AbstractAsyncContextManager[Conn]:
        """A connection inside a transaction, committed on exit, rolled back on error."""

    @abstractmethod
    def _migration(self) -> AbstractAsyncContextManager[Conn]:
        """A connection holding the engine's migration lock (one process migrates at a time)."""

    def _read(self) -> AbstractAsyncContextManager[Conn]:
        return self._conn()

    async def _insert(self, c: Conn, table: str, cols: Sequence[str], rows: Sequence[Row], conflict: str = "") -> None:
        """Multi-row INSERTs in chunks: one round trip per chunk on every engine."""
        one = f"({marks(len(cols))})"
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join([one] * len(chunk))} {conflict}"
            await c.execute(sql, [v for row in chunk for v in row])

    # -- schema ------------------------------------------------------------
    async def _stored_version(self, c: Conn) -> int:
        if not (await c.fetch(self.dialect.table_exists, ["schema_version"]))[0][0]:
            return 0
        rows = await c.fetch("SELECT MAX(version) FROM schema_version")
        return int(rows[0][0] or 0)

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StorageSchemaError(
                f"{self.kind}: database schema version {version} is newer than this grok2api "
                f"understands ({SCHEMA_VERSION}); upgrade grok2api"
            )

    async def _apply_migrations(self) -> None:
        async with self._read() as c:
            version = await self._stored_version(c)
        self._check_version(version)
        if version == SCHEMA_VERSION:
            return
        async with self._migration() as c:
            version = await self._stored_version(c)  # another process may have migrated meanwhile
            self._check_version(version)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target](self.dialect):
                    await c.execute(statement)
                await c.execute("DELETE FROM schema_version")
                await c.execute("INSERT INTO schema_version (version) VALUES (?)", [target])

    async def ping(self) -> None:
        async with self._read() as c:
            await c.fetch("SELECT 1")

    # -- accounts ----------------------------------------------------------
    async def upsert_accounts(self, records: list[AccountRecord]) -> tuple[int, int]:
        now = time.time()
        batch: dict[str, AccountRecord] = {}
        for rec in records:
            batch[rec.id] = merge_account(batch[rec.id], rec) if rec.id in batch else rec
        ids, added = list(batch), 0
        # Only pool, tags, note and updated_at change on a known account; the rest of the row
        # is what a concurrent first insert would have written.
        merge = self.dialect.upsert("accounts", ["id"], dict.fromkeys(("pool", "tags", "note", "updated_at"), "set"))
        set_quota = self.dialect.upsert("account_quota", QUOTA_COLS[:2], dict.fromkeys(QUOTA_COLS[2:], "set"))
        async with self._tx() as c:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                sql = f"SELECT id, tags, note FROM accounts WHERE id IN ({marks(len(chunk))}){self.dialect.for_update}"
                stored = {r[0]: (json.loads(r[1]), r[2]) for r in await c.fetch(sql, chunk)}
                rows = []
                for aid in chunk:
                    rec = batch[aid]
                    if aid in stored:
                        tags, note = stored[aid]
                        rec = replace(rec, tags=[*tags, *rec.tags], note=rec.note or note, updated_at=now)
                    else:
                        added += 1
                        rec = replace(rec, created_at=rec.created_at or now, updated_at=rec.updated_at or now)
                    rows.append(ACCOUNT.row(rec))
                await self._insert(c, "accounts", ACCOUNT.cols, rows, merge)
                quota = [quota_row(aid, b, q) for aid in chunk for b, q in batch[aid].quota.items()]
                await self._insert(c, "account_quota", QUOTA_COLS, quota, set_quota)
        return added, len(ids) - added

    async def _with_quota(self, c: Conn, rows: list[Row], ids: Sequence[str] | None) -> list[AccountRecord]:
        """Records for account rows, quota loaded in one query per chunk (never one per account)."""
        quotas: dict[str, dict[str, Quota]] = {}
        select = f"SELECT {', '.join(QUOTA_COLS)} FROM account_quota"
        if ids is None:
            qrows = await c.fetch(select)
        else:
            qrows = []
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                qrows += await c.fetch(f"{select} WHERE account_id IN ({marks(len(chunk))})", chunk)
        for aid, bucket, remaining, total, window, resets in qrows:
            quotas.setdefault(aid, {})[bucket] = Quota(int(remaining), int(total), int(window), float(resets))
        out = []
        for row in rows:
            values = ACCOUNT.values(row)
            out.append(AccountRecord(quota=quotas.get(values["id"], {}), **values))
        return out

    async def get_account(self, account_id: str) -> AccountRecord | None:
        async with self._read() as c:
            rows = await c.fetch(f"SELECT {ACCOUNT.select} FROM accounts WHERE id = ?", [account_id])
            found = await self._with_quota(c, rows, [account_id]) if rows else []
        return found[0] if found else None

    async def list_accounts(self, query: AccountQuery) -> tuple[list[AccountRecord], int]:
        where, args = ["1 = 1"], []
        for column in ("pool", "status"):
            if getattr(query, column):
                where.append(f"{column} = ?")
                args.append(getattr(query, column))
        if query.tag:
            # Tags are a JSON list of strings: the quoted tag matches one whole element and
            # nothing inside another (an embedded quote is escaped as \"). A side table would
            # buy an index, but a LIKE over 50,000 short rows takes milliseconds.
            where.append("tags LIKE ? ESCAPE '!'")
            args.append(like_contains(json.dumps(query.tag, ensure_ascii=False)))
        if query.search:
            needle = query.search.lower()
            masked, masked_args = masked_search(needle)
            where.append("(LOWER(id) LIKE ? ESCAPE '!' OR LOWER(note) LIKE ? ESCAPE '!' OR LOWER(tags) LIKE ? ESCAPE '!'"
                         f" OR {masked})")
            args += [like_contains(needle)] * 3 + masked_args
        cond = " AND ".join(where)
        offset, limit = max(0, query.offset), max(0, query.limit)
        async with self._read() as c:
            total = int((await c.fetch(f"SELECT COUNT(*) FROM accounts WHERE {cond}", args))[0][0])
            if not limit:
                return [], total
            sql = f"SELECT {ACCOUNT.select} FROM accounts WHERE {cond} ORDER BY created_at, id LIMIT ? OFFSET ?"
            rows = await c.fetch(sql, [*args, limit, offset])
            return await self._with_quota(c, rows, [r[0] for r in rows]), total

    async def all_accounts(self) -> list[AccountRecord]:
        async with self._read() as c:
            rows = await c.fetch(f"SELECT {ACCOUNT.select} FROM accounts ORDER BY created_at, id")
            return await self._with_quota(c, rows, None)

    async def update_account(self, account_id: str, **fields: Any) -> bool:
        unknown = set(fields) - ACCOUNT_MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable account fields: {sorted(unknown)}")
        sets = [f"{k} = ?" for k in fields] + ["updated_at = ?"]
        args = [ACCOUNT.encode(k, v) for k, v in fields.items()] + [time.time(), account_id]
        async with self._conn() as c:
            return await c.execute(f"UPDATE accounts SET {', '.join(sets)} WHERE id = ?", args) > 0

    async def delete_accounts(self, account_ids: list[str]) -> int:
        ids, deleted = list(dict.fromkeys(account_ids)), 0
        async with self._tx() as c:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                # Accounts before quota: the lock order of upsert_accounts and set_quota (no deadlock).
                deleted += await c.execute(f"DELETE FROM accounts WHERE id IN ({marks(len(chunk))})", chunk)
                await c.execute(f"DELETE FROM account_quota WHERE account_id IN ({marks(len(chunk))})", chunk)
        return deleted

    async def set_quota(self, account_id: str, bucket: str, quota: Quota) -> None:
        conflict = self.dialect.upsert("account_quota", QUOTA_COLS[:2], dict.fromkeys(QUOTA_COLS[2:], "set"))
        async with self._tx() as c:
            # A bucket of an unknown (e.g. just deleted) account would resurface if it came back.
            if await c.fetch(f"SELECT id FROM accounts WHERE id = ?{self.dialect.for_update}", [account_id]):
                await self._insert(c, "account_quota", QUOTA_COLS, [quota_row(account_id, bucket, quota)], conflict)

    async def reserve(self, account_id: str, bucket: str, cost: int) -> int | None:
        async with self._conn() as c:
            rows = await c.fetch(RESERVE_SQL, [int(cost), account_id, bucket, int(cost)])
        return int(rows[0][0]) if rows else None

    async def release(self, account_id: str, bucket: str, cost: int) -> None:
        async with self._conn() as c:
            await c.execute(RELEASE_SQL, [int(cost), int(cost), account_id, bucket])

    async def settle(self, account_id: str, cost: int, now: float) -> None:
        sql = "UPDATE accounts SET use_count = use_count + ?, last_used_at = ?, fail_count = 0 WHERE id = ?"
        async with self._conn() as c:
            await c.execute(sql, [int(cost), float(now), account_id])

    # -- api keys ----------------------------------------------------------
    async def create_key(self, record: ApiKeyRecord) -> None:
        conflict = self.dialect.upsert("api_keys", ["id"], dict.fromkeys(API_KEY.cols[1:], "set"))
        async with self._conn() as c:
            await self._insert(c, "api_keys", API_KEY.cols, [API_KEY.row(record)], conflict)

    async def _keys(self, where: str, args: Sequence[Any]) -> list[ApiKeyRecord]:
        async with self._read() as c:
            rows = await c.fetch(f"SELECT {API_KEY.select} FROM api_keys {where}", args)
        return [ApiKeyRecord(**API_KEY.values(r)) for r in rows]

    async def get_key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        found = await self._keys("WHERE key_hash = ? ORDER BY created_at DESC, id", [key_hash])
        return found[0] if found else None

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        found = await self._keys("WHERE id = ?", [key_id])
        return found[0] if found else None

    async def list_keys(self) -> list[ApiKeyRecord]:
        return await self._keys("ORDER BY created_at, id", [])

    async def update_key(self, key_id: str, **fields: Any) -> bool:
        unknown = set(fields) - API_KEY_MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable API key fields: {sorted(unknown)}")
        if not fields:
            return await self.get_key(key_id) is not None
        sets = ", ".join(f"{k} = ?" for k in fields)
        async with self._conn() as c:
            args = [API_KEY.encode(k, v) for k, v in fields.items()] + [key_id]
            return await c.execute(f"UPDATE api_keys SET {sets} WHERE id = ?", args) > 0

    async def delete_key(self, key_id: str) -> bool:
        async with self._conn() as c:
            return await c.execute("DELETE FROM api_keys WHERE id = ?", [key_id]) > 0

    async def touch_key(self, key_id: str, now: float, uses: int = 1) -> None:
        sql = "UPDATE api_keys SET use_count = use_count + ?, last_used_at = ? WHERE id = ?"
        async with self._conn() as c:
            await c.execute(sql, [int(uses), float(now), key_id])

    # -- config overrides --------------------------------------------------
    async def get_config_overrides(self) -> dict[str, Any]:
        async with self._read() as c:
            rows = await c.fetch("SELECT name, value FROM config_overrides")
        return {name: json.loads(value) for name, value in rows}

    async def set_config_overrides(self, values: dict[str, Any], remove: list[str] | None = None) -> None:
        conflict = self.dialect.upsert("config_overrides", ["name"], {"value": "set"})
        async with self._tx() as c:
            if remove:
                await c.execute(f"DELETE FROM config_overrides WHERE name IN ({marks(len(remove))})", remove)
            rows = [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()]
            await self._insert(c, "config_overrides", ("name", "value"), rows, conflict)
            await self._insert(c, "counters", ("topic", "value"), [(TOPIC_CONFIG, 1)], self._bump_clause())

    # -- change counters ---------------------------------------------------
    def _bump_clause(self) -> str:
        return self.dialect.upsert("counters", ["topic"], {"value": "add"})

    async def bump(self, topic: str) -> int:
        sql = f"INSERT INTO counters (topic, value) VALUES (?, 1) {self._bump_clause()} RETURNING value"
        async with self._conn() as c:
            return int((await c.fetch(sql, [topic]))[0][0])

    async def counters(self) -> dict[str, int]:
        async with self._read() as c:
            return {topic: int(value) for topic, value in await c.fetch("SELECT topic, value FROM counters")}

    # -- stats and request log --------------------------------------------
    async def add_stats(self, deltas: list[StatsDelta]) -> None:
        # Repeated buckets are summed first: one statement may not upsert a row twice.
        sums: dict[tuple[Any, ...], list[float]] = {}
        for d in deltas:
            dims = (d.period, int(d.start), d.model, d.key_name, int(d.status), d.error_kind)
            acc = sums.setdefault(dims, [0, 0.0, 0.0])
            acc[0] += int(d.count)
            acc[1] += float(d.latency_ms_sum)
            acc[2] += float(d.ttft_ms_sum)
        rows = [(*dims, int(n), float(lat), float(ttft)) for dims, (n, lat, ttft) in sums.items()]
        conflict = self.dialect.upsert("stats", STATS_DIMS, dict.fromkeys(STATS_SUMS, "add"))
        async with self._tx() as c:
            await self._insert(c, "stats", (*STATS_DIMS, *STATS_SUMS), rows, conflict)

    async def query_stats(self, period: str, since: int) -> list[StatsDelta]:
        sql = f"SELECT {', '.join(STATS_DIMS + STATS_SUMS)} FROM stats WHERE period = ? AND start_ts >= ?"
        async with self._read() as c:
            rows = await c.fetch(sql, [period, int(since)])
        out = [StatsDelta(p, int(s), m, k, int(st), e, int(n), float(lat), float(t)) for p, s, m, k, st, e, n, lat, t in rows]
        # Sorted here, not in SQL: engines collate strings differently.
        out.sort(key=lambda d: (d.start, d.model, d.key_name, d.status, d.error_kind))
        return out

    async def prune_stats(self, period: str, before: int) -> int:
        async with self._conn() as c:
            return await c.execute("DELETE FROM stats WHERE period = ? AND start_ts < ?", [period, int(before)])

    async def append_logs(self, entries: list[LogEntry]) -> None:
        if entries:
            async with self._tx() as c:
                await self._insert(c, "request_log", LOG.cols, [LOG.row(e) for e in entries])

    async def query_logs(self, query: LogQuery) -> tuple[list[LogEntry], int]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if query.since:
            where.append("ts >= ?")
            args.append(float(query.since))
        if query.until:
            where.append("ts <= ?")
            args.append(float(query.until))
        if query.status:
            where.append("status = ?")
            args.append(query.status)
        for column in ("model", "key_name", "error_kind"):  # contains, case-insensitively
            if getattr(query, column):
                where.append(f"LOWER({column}) LIKE ? ESCAPE '!'")
                args.append(like_contains(getattr(query, column).lower()))
        cond = " AND ".join(where)
        offset, limit = max(0, query.offset), max(0, query.limit)
        async with self._read() as c:
            total = int((await c.fetch(f"SELECT COUNT(*) FROM request_log WHERE {cond}", args))[0][0])
            sql = f"SELECT {LOG.select} FROM request_log WHERE {cond} ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?"
            rows = await c.fetch(sql, [*args, limit, offset]) if limit else []
        return [LogEntry(**LOG.values(r)) for r in rows], total

    async def prune_logs(self, max_entries: int, before: float = 0.0) -> int:
        deleted = 0
        async with self._tx() as c:
            if before:
                deleted += await c.execute("DELETE FROM request_log WHERE ts < ?", [float(before)])
            # The newest entry beyond the kept ones bounds the deletion (MySQL cannot
            # DELETE ... WHERE id NOT IN (SELECT ... LIMIT n)).
            sql = "SELECT ts, id FROM request_log ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?"
            edge = await c.fetch(sql, [max(0, int(max_entries))])
            if edge:
                ts, last = edge[0]
                sql = "DELETE FROM request_log WHERE ts < ? OR (ts = ? AND id <= ?)"
                deleted += await c.execute(sql, [float(ts), float(ts), int(last)])
        return deleted

    # -- locks -------------------------------------------------------------
    # Expiry uses the caller's wall clock: every host's clock is assumed in step (NTP).
    async def acquire_lock(self, name: str, owner: str, ttl_sec: float) -> bool:
        now = time.time()
        async with self._conn() as c:
            sql = "UPDATE locks SET owner = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at <= ?)"
            if await c.execute(sql, [owner, now + float(ttl_sec), name, owner, now]):
                return True
            try:  # no row yet; of racing inserts exactly one wins
                await c.execute("INSERT INTO locks (name, owner, expires_at) VALUES (?, ?, ?)", [name, owner, now + float(ttl_sec)])
            except DuplicateKeyError:
                return False
            return True

    async def release_lock(self, name: str, owner: str) -> None:
        async with self._conn() as c:
            await c.execute("DELETE FROM locks WHERE name = ? AND owner = ?", [name, owner])

    async def lock_owner(self, name: str) -> str | None:
        async with self._read() as c:
            rows = await c.fetch("SELECT owner FROM locks WHERE name = ? AND expires_at > ?", [name, time.time()])
        return str(rows[0][0]) if rows else None

    # -- limits ------------------------------------------------------------
    # Expiry uses the caller's wall clock, as locks do: every host's clock is assumed in step (NTP).
    async def hit_counter(self, name: str, limit: int, expires_at: float) -> bool:
        now = time.time()
        # The conditional UPDATE takes the row lock, so concurrent hits never pass the limit
        # together; an expired counter starts again at 1.
        bump = ("UPDATE limit_counters SET value = CASE WHEN expires_at <= ? THEN 1 ELSE value + 1 END, "
                "expires_at = ? WHERE name = ? AND (value < ? OR expires_at <= ?)")
        args = [now, float(expires_at), name, int(limit), now]
        async with self._conn() as c:
            if await c.execute(bump, args):
                return True
            if limit < 1:
                return False
            try:  # no counter yet; of racing inserts one wins and the others count on its row
                await c.execute("INSERT INTO limit_counters (name, value, expires_at) VALUES (?, 1, ?)",
                                [name, float(expires_at)])
                return True
            except DuplicateKeyError:
                return await c.execute(bump, args) > 0

    async def take_slot(self, name: str, lease: str, limit: int, expires_at: float) -> float | None:
        now = time.time()
        mutex = self.dialect.upsert("limit_counters", ["name"], {"expires_at": "set"})
        async with self._tx() as c:
            # The name's row in limit_counters serialises every take of that name (its row lock is
            # held to commit), so count-then-insert is atomic on every engine.
            await self._insert(c, "limit_counters", ("name", "value", "expires_at"), [(name, 0, float(expires_at))],
                               mutex)
            await c.fetch(f"SELECT value FROM limit_counters WHERE name = ?{self.dialect.for_update}", [name])
            await c.execute("DELETE FROM limit_slots WHERE name = ? AND expires_at <= ?", [name, now])
            held, first = (await c.fetch("SELECT COUNT(*), MIN(expires_at) FROM limit_slots WHERE name = ?",
                                         [name]))[0]
            if int(held) >= int(limit):
                return max(0.0, float(first) - now)
            await c.execute("INSERT INTO limit_slots (name, lease, expires_at) VALUES (?, ?, ?)",
                            [name, lease, float(expires_at)])
        return None

    async def drop_slot(self, name: str, lease: str) -> None:
        async with self._conn() as c:
            await c.execute("DELETE FROM limit_slots WHERE name = ? AND lease = ?", [name, lease])

    async def prune_limits(self) -> int:
        now = time.time()
        async with self._conn() as c:
            gone = await c.execute("DELETE FROM limit_slots WHERE expires_at <= ?", [now])
            return gone + await c.execute("DELETE FROM limit_counters WHERE expires_at <= ?", [now])

    # -- documents ---------------------------------------------------------
    async def doc_put(self, namespace: str, key: str, value: dict[str, Any], ttl_sec: float = 0.0) -> None:
        expires = time.time() + ttl_sec if ttl_sec > 0 else 0.0
        row = (namespace, key, json.dumps(value, ensure_ascii=False), float(expires))
        conflict = self.dialect.upsert("docs", ("namespace", "doc_key"), {"value": "set", "expires_at": "set"})
        async with self._conn() as c:
            await self._insert(c, "docs", ("namespace", "doc_key", "value", "expires_at"), [row], conflict)

    async def doc_get(self, namespace: str, key: str) -> dict[str, Any] | None:
        sql = "SELECT value FROM docs WHERE namespace = ? AND doc_key = ? AND (expires_at = 0 OR expires_at > ?)"
        async with self._read() as c:
            rows = await c.fetch(sql, [namespace, key, time.time()])
        return json.loads(rows[0][0]) if rows else None

    async def doc_delete(self, namespace: str, key: str) -> bool:
        sql = "DELETE FROM docs WHERE namespace = ? AND doc_key = ? AND (expires_at = 0 OR expires_at > ?)"
        async with self._tx() as c:
            found = await c.execute(sql, [namespace, key, time.time()])
            await c.execute("DELETE FROM docs WHERE namespace = ? AND doc_key = ?", [namespace, key])
        return found > 0

    async def doc_prune(self) -> int:
        async with self._conn() as c:
            return await c.execute("DELETE FROM docs WHERE expires_at > 0 AND expires_at <= ?", [time.time()])
