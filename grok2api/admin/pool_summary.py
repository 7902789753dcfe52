"""The pool at a glance (accounts by status and pool, quota per bucket, calls today) for the tokens and stats pages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..storage.base import ACCOUNT_STATUSES, Storage
from .view_models import optional_service, storage_of

DAY = 86400


@dataclass(slots=True)
class PoolHealth:
    by_status: dict[str, int] = field(default_factory=dict)
    by_pool: dict[str, dict[str, int]] = field(default_factory=dict)
    # pool -> bucket -> (remaining, total) over usable accounts
    quota: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    total: int = 0

    def pool_totals(self) -> dict[str, int]:
        """Accounts per pool, whatever their status."""
        return {pool: sum(per.values()) for pool, per in sorted(self.by_pool.items())}

    def bucket_totals(self) -> dict[str, tuple[int, int]]:
        """(remaining, total) per bucket over the usable accounts of every pool."""
        out: dict[str, tuple[int, int]] = {}
        for buckets in self.quota.values():
            for bucket, (rem, tot) in buckets.items():
                r0, t0 = out.get(bucket, (0, 0))
                out[bucket] = (r0 + rem, t0 + tot)
        return dict(sorted(out.items()))


async def pool_health(request: web.Request) -> PoolHealth:
    """From the worker's in-memory pool view when the gateway runs, else read from storage."""
    gateway = optional_service(request, "GATEWAY")
    pool = getattr(gateway, "pool", None) or optional_service(request, "POOL")
    if pool is not None:
        await pool.sync()  # one counter read when nothing changed; picks up edits made a moment ago
        accounts: list[Any] = pool.accounts()
    else:
        accounts = await storage_of(request).all_accounts()
    health = PoolHealth(by_status={s: 0 for s in ACCOUNT_STATUSES})
    for acc in accounts:
        health.total += 1
        health.by_status[acc.status] = health.by_status.get(acc.status, 0) + 1
        per = health.by_pool.setdefault(acc.pool, {})
        per[acc.status] = per.get(acc.status, 0) + 1
        if acc.status in ("active", "cooling"):
            buckets = health.quota.setdefault(acc.pool, {})
            for bucket, q in acc.quota.items():
                rem, tot = buckets.get(bucket, (0, 0))
                buckets[bucket] = (rem + q.remaining, tot + q.total)
    return health


@dataclass(frozen=True, slots=True)
class CallsToday:
    """API calls since 00:00 UTC, from the day's stats bucket (recorded calls, flushed every few seconds)."""

    total: int = 0
    failed: int = 0


async def calls_today(storage: Storage, now: float | None = None) -> CallsToday:
    start = int((time.time() if now is None else now) // DAY * DAY)
    total = failed = 0
    for delta in await storage.query_stats("day", start):
        if delta.start != start:
            continue
        total += delta.count
        failed += delta.count if delta.status >= 400 or delta.error_kind else 0
    return CallsToday(total, failed)


@dataclass(frozen=True, slots=True)
class TokensSummary:
    """The tokens page's summary bar."""

    health: PoolHealth
    calls: CallsToday


async def tokens_summary(request: web.Request) -> TokensSummary:
    return TokensSummary(await pool_health(request), await calls_today(storage_of(request)))
