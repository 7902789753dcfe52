"""The storage protocol: what grok2api keeps, independent of the engine that keeps it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Bump together with a migration in every backend. A database whose stored schema
# version is higher than this is refused at open (StorageSchemaError).
SCHEMA_VERSION = 3  # 2: accounts.egress; 3: per-key limit counters and slots

ACCOUNT_STATUSES = ("active", "cooling", "invalid", "disabled")

# Change-counter topics: workers poll `counters()` and reload a view when its topic moved.
TOPIC_ACCOUNTS = "accounts"
TOPIC_KEYS = "keys"
TOPIC_CONFIG = "config"


class StorageError(Exception):
    """Any failure of the storage engine (unreachable, bad URL, query error)."""


class StorageSchemaError(StorageError):
    """The database holds a schema newer than this code understands."""


# How a token is shown wherever it may be seen: its first MASK_HEAD and last MASK_TAIL characters
# around "…"; a token shorter than MASK_MIN shows nothing. Account search matches that text too.
MASK_HEAD, MASK_TAIL, MASK_MIN, MASK_MARK = 6, 4, 16, "…"


def masked_parts(token: str) -> tuple[str, str] | None:
    """The (head, tail) a masked token shows, or None when it shows neither."""
    return (token[:MASK_HEAD], token[-MASK_TAIL:]) if len(token) >= MASK_MIN else None


def masked_match(token: str, needle: str) -> bool:
    """`needle` (lower-case) appears in the masked form of `token`: in its head, in its tail, or
    across the mark ("ab…cd" as copied from a page)."""
    parts = masked_parts(token)
    if parts is None or not needle:
        return False
    head, tail = parts[0].lower(), parts[1].lower()
    if MASK_MARK in needle:
        before, _, after = needle.partition(MASK_MARK)
        return head.endswith(before) and tail.startswith(after)
    return needle in head or needle in tail


def account_id_for(token: str) -> str:
    """Stable, non-reversible id of an account: the first 24 hex chars of sha256(token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


@dataclass(slots=True)
class Quota:
    """One quota bucket of one account (e.g. bucket "chat" or "image")."""

    remaining: int
    total: int
    window_sec: int = 0
    resets_at: float = 0.0  # unix seconds; 0 = unknown


@dataclass(slots=True)
class AccountRecord:
    """A Grok account as stored. `token` is secret: never log or render it in full."""

    id: str
    token: str
    pool: str = "basic"  # basic | super | heavy
    status: str = "active"  # one of ACCOUNT_STATUSES
    quota: dict[str, Quota] = field(default_factory=dict)
    cooldown_until: float = 0.0
    fail_count: int = 0
    last_fail_reason: str = ""
    last_used_at: float = 0.0
    use_count: int = 0
    last_sync_at: float = 0.0
    tags: list[str] = field(default_factory=list)
    note: str = ""
    egress: str = ""  # the name of the egress the account is bound to ("" = not yet bound)
    created_at: float = 0.0
    updated_at: float = 0.0


# Account fields `update_account` may change (quota changes go through set_quota/reserve).
ACCOUNT_MUTABLE_FIELDS = frozenset(
    {
        "pool",
        "status",
        "cooldown_until",
        "fail_count",
        "last_fail_reason",
        "last_used_at",
        "use_count",
        "last_sync_at",
        "tags",
        "note",
        "egress",
    }
)


@dataclass(slots=True)
class ApiKeyRecord:
    """An API key as stored: only the sha256 of the secret is kept."""

    id: str
    name: str
    key_hash: str
    prefix: str  # first characters of the key, shown in lists ("sk-ab12…")
    enabled: bool = True
    expires_at: float = 0.0  # 0 = never
    allowed_models: list[str] = field(default_factory=list)  # empty = all
    rpm: int = 0  # 0 = unlimited
    max_concurrent: int = 0
    daily_quota: int = 0
    reasoning_format: str = ""  # "" = global default
    created_at: float = 0.0
    last_used_at: float = 0.0
    use_count: int = 0


API_KEY_MUTABLE_FIELDS = frozenset(
    {
        "name",
        "enabled",
        "expires_at",
        "allowed_models",
        "rpm",
        "max_concurrent",
        "daily_quota",
        "reasoning_format",
        "last_used_at",
        "use_count",
    }
)


@dataclass(slots=True)
class StatsDelta:
    """Counts to add to one stats bucket; buckets are keyed by (period, start, dims)."""

    period: str  # "hour" | "day"
    start: int  # unix seconds of the bucket start (UTC)
    model: str
    key_name: str
    status: int
    error_kind: str  # "" on success
    count: int = 1
    latency_ms_sum: float = 0.0
    ttft_ms_sum: float = 0.0


@dataclass(slots=True)
class LogEntry:
    """One request-log line. Account is stored already masked."""

    ts: float
    request_id: str
    key_name: str
    model: str
    stream: bool
    status: int
    error_kind: str
    latency_ms: float
    ttft_ms: float
    account: str
    client_ip: str
    path: str = ""
    detail: str = ""


@dataclass(slots=True)
class LogQuery:
    """Filters for `query_logs`; empty values do not filter. `model`, `key_name` and `error_kind`
    match entries containing the text (case-insensitively); `status` matches exactly."""

    since: float = 0.0
    until: float = 0.0
    model: str = ""
    key_name: str = ""
    status: int = 0
    error_kind: str = ""
    offset: int = 0
    limit: int = 50


@dataclass(slots=True)
class AccountQuery:
    """Filters for `list_accounts`; empty values do not filter. `search` (case-insensitive) matches the
    note, a tag, the id, or the masked token's visible head and tail (see masked_match)."""

    pool: str = ""
    status: str = ""
    tag: str = ""
    search: str = ""
    offset: int = 0
    limit: int = 50


@runtime_checkable
class Storage(Protocol):
    """One protocol, four engines (sqlite, redis, postgres, mysql). All methods are async."""

    kind: str

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        """Connect and apply migrations; raises StorageSchemaError on a newer schema."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StorageError when the engine is unreachable."""

    # -- accounts ----------------------------------------------------------
    async def upsert_accounts(self, records: list[AccountRecord]) -> tuple[int, int]:
        """Add new accounts and merge known ones (pool, tags union, note if non-empty, quota
        buckets given). Never drops fields that are not given. Returns (added, updated)."""

    async def get_account(self, account_id: str) -> AccountRecord | None: ...

    async def list_accounts(self, query: AccountQuery) -> tuple[list[AccountRecord], int]:
        """A page of accounts ordered by created_at then id, and the total matching."""

    async def all_accounts(self) -> list[AccountRecord]:
        """Every account with its quota (the in-memory pool view is built from this)."""

    async def update_account(self, account_id: str, **fields: Any) -> bool:
        """Set fields from ACCOUNT_MUTABLE_FIELDS; False when the account does not exist."""

    async def delete_accounts(self, account_ids: list[str]) -> int: ...

    async def set_quota(self, account_id: str, bucket: str, quota: Quota) -> None:
        """Replace one bucket (learnt from the upstream or reset at window end)."""

    async def reserve(self, account_id: str, bucket: str, cost: int) -> int | None:
        """Atomically take `cost` units if at least that many remain, across every worker
        and host. Returns the remaining units after, or None if refused (too few or no bucket)."""

    async def release(self, account_id: str, bucket: str, cost: int) -> None:
        """Give back a reservation that was not spent (never above the bucket's total)."""

    async def settle(self, account_id: str, cost: int, now: float) -> None:
        """Record a spent reservation: use_count += cost, last_used_at = now, fail_count = 0."""

    # -- api keys ----------------------------------------------------------
    async def create_key(self, record: ApiKeyRecord) -> None: ...

    async def get_key_by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...

    async def get_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self) -> list[ApiKeyRecord]: ...

    async def update_key(self, key_id: str, **fields: Any) -> bool: ...

    async def delete_key(self, key_id: str) -> bool: ...

    async def touch_key(self, key_id: str, now: float, uses: int = 1) -> None:
        """last_used_at = now, use_count += uses (atomic increment)."""

    # -- config overrides (values saved from the admin) -------------------
    async def get_config_overrides(self) -> dict[str, Any]:
        """{"section.key": value} as saved; values are JSON-compatible."""

    async def set_config_overrides(self, values: dict[str, Any], remove: list[str] | None = None) -> None:
        """Merge `values` over the stored overrides, drop the `remove` keys, bump TOPIC_CONFIG."""

    # -- change counters ---------------------------------------------------
    async def bump(self, topic: str) -> int:
        """Increment a topic's counter atomically and return the new value."""

    async def counters(self) -> dict[str, int]:
        """Current value of every topic's counter (missing topics are absent)."""

    # -- stats and request log --------------------------------------------
    async def add_stats(self, deltas: list[StatsDelta]) -> None:
        """Add counts into buckets atomically (increments, never read-modify-write)."""

    async def query_stats(self, period: str, since: int) -> list[StatsDelta]:
        """All buckets of `period` starting at or after `since`."""

    async def prune_stats(self, period: str, before: int) -> int: ...

    async def append_logs(self, entries: list[LogEntry]) -> None: ...

    async def query_logs(self, query: LogQuery) -> tuple[list[LogEntry], int]:
        """Newest first, and the total matching."""

    async def prune_logs(self, max_entries: int, before: float = 0.0) -> int:
        """Keep at most `max_entries` newest entries, and none older than `before` if given."""

    # -- locks (leader election) ------------------------------------------
    async def acquire_lock(self, name: str, owner: str, ttl_sec: float) -> bool:
        """Take the lock if free or expired, or renew it if `owner` holds it."""

    async def release_lock(self, name: str, owner: str) -> None:
        """Free the lock only if `owner` holds it."""

    async def lock_owner(self, name: str) -> str | None: ...

    # -- limits (per-key rpm, daily quota, concurrency: one count for every worker and host) ------
    async def hit_counter(self, name: str, limit: int, expires_at: float) -> bool:
        """Atomically add one to counter `name` if it is below `limit`; False (and no change) when
        it is at the limit. The counter is forgotten after `expires_at` (unix seconds): a window is
        named by putting its start in `name`."""

    async def take_slot(self, name: str, lease: str, limit: int, expires_at: float) -> float | None:
        """Atomically hold one of `limit` slots of `name` as `lease` until `expires_at` or drop_slot.
        None when taken; else the seconds until the first held slot frees. Slots past their expiry
        are free (a crashed worker's, or a moving window's old hits)."""

    async def drop_slot(self, name: str, lease: str) -> None:
        """Give a slot back before its expiry."""

    async def prune_limits(self) -> int:
        """Delete expired counters and slots (engines without native expiry)."""

    # -- documents (video jobs, stored responses, batch state) -------------
    async def doc_put(self, namespace: str, key: str, value: dict[str, Any], ttl_sec: float = 0.0) -> None:
        """Store a JSON document; ttl 0 = keep until deleted."""

    async def doc_get(self, namespace: str, key: str) -> dict[str, Any] | None: ...

    async def doc_delete(self, namespace: str, key: str) -> bool: ...

    async def doc_prune(self) -> int:
        """Delete expired documents (engines without native expiry)."""
