"""Moving accounts to another pool (tier): the new tier's default quotas, then grok.com's real ones."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..storage.base import TOPIC_ACCOUNTS, Storage
from .model import Account
from .ops import normalize_pool, stored_records
from .options import PoolConfig
from .refresher import FetchLimits, refresh_account


@dataclass(slots=True)
class PoolChange:
    """What moving accounts to another pool did: who moved, and how re-reading their quotas went."""

    pool: str
    moved: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # account id -> why its quotas were not read


async def set_pool(storage: Storage, account_ids: Sequence[str], pool: str, *, config: PoolConfig,
                   fetch_limits: FetchLimits | None = None, now: float | None = None) -> PoolChange:
    """Move accounts to `pool`. A moved account gets the tier's default quotas and is due for a refresh;
    with `fetch_limits` its quotas are re-read from grok.com at once (disabled accounts are left to
    the refresher once enabled). Accounts already in `pool` are untouched."""
    change = PoolChange(normalize_pool(pool))
    now = time.time() if now is None else now
    for rec in await stored_records(storage, account_ids):
        if rec.pool == change.pool:
            continue
        await storage.update_account(rec.id, pool=change.pool, last_sync_at=0.0)
        for bucket, quota in config.tier_quotas(change.pool).items():
            await storage.set_quota(rec.id, bucket, quota)
        change.moved.append(rec.id)
    if change.moved:
        await storage.bump(TOPIC_ACCOUNTS)
    if fetch_limits is not None and change.moved:
        await reread_quotas(storage, change, fetch_limits, config=config, now=now)
    return change


async def reread_quotas(storage: Storage, change: PoolChange, fetch_limits: FetchLimits, *, config: PoolConfig,
                        now: float) -> None:
    """Re-read the moved accounts' quotas now (their new tier's buckets), noting each failure."""
    for rec in await stored_records(storage, change.moved):
        if rec.status == "disabled":
            change.errors[rec.id] = "disabled: its quotas are read once it is enabled"
            continue
        result = await refresh_account(storage, Account.from_record(rec), fetch_limits, config, now)
        if result.ok:
            change.refreshed.append(rec.id)
        else:
            change.errors[rec.id] = result.error
    await storage.bump(TOPIC_ACCOUNTS)
