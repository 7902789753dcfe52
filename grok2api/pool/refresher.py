"""Background quota refresher: one worker at a time re-reads quotas of cooling and spent accounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..periodic import periodic
from ..storage.base import TOPIC_ACCOUNTS, Quota, Storage
from ..upstream.errors import ErrorKind, UpstreamError
from .model import Account, QuotaReading
from .options import PoolConfig
from .policy import AccountChange, on_failure, refresh_due

log = logging.getLogger(__name__)

# Reads one bucket's quota of one account from the upstream (rate-limits per chat mode,
# Imagine quota_info for media). None = the upstream reports nothing for this bucket.
FetchLimits = Callable[[str, str], Awaitable[QuotaReading | None]]

LOCK_NAME = "refresher"


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """The outcome of re-reading one account."""

    account_id: str
    ok: bool
    error: str = ""
    change: AccountChange | None = None  # a status change (auth failure, end of cooling)


def _roll(q: Quota, now: float) -> Quota | None:
    """A window the upstream said nothing about: refill it locally once its reset passed."""
    if q.remaining < q.total and q.resets_at and q.resets_at <= now:
        return Quota(q.total, q.total, q.window_sec, 0.0)
    return None


async def refresh_account(storage: Storage, account: Account, fetch_limits: FetchLimits,
                          config: PoolConfig, now: float, buckets: tuple[str, ...] = ()) -> RefreshResult:
    """Read the account's quotas (all buckets of its pool unless `buckets` names some), store
    them, and end a cooling that is over. An AUTH answer counts toward the failure threshold;
    any other failure leaves the account untouched (retried on the next round). Does not bump
    the accounts counter: callers do once per batch."""
    names = buckets or tuple(dict.fromkeys([*account.quota, *config.buckets_for(account.pool)]))
    readings: dict[str, Quota] = {}
    for bucket in names:
        try:
            reading = await fetch_limits(account.token, bucket)
        except UpstreamError as err:
            if err.kind is ErrorKind.AUTH:
                failure = on_failure(account, err, config.fail_threshold, now, rules=config.cooldowns)
                if failure:
                    await storage.update_account(account.id, **failure.fields())
                return RefreshResult(account.id, False, f"{err.kind.value}: {err.message}", failure or None)
            return RefreshResult(account.id, False, f"{err.kind.value}: {err.message}")
        if reading is not None:
            readings[bucket] = reading.to_quota(now)
        elif bucket in account.quota:
            rolled = _roll(account.quota[bucket], now)
            if rolled is not None:
                readings[bucket] = rolled
    for bucket, quota in readings.items():
        await storage.set_quota(account.id, bucket, quota)
    fields: dict[str, object] = {"last_sync_at": now}
    change: AccountChange | None = None
    if account.fail_count:
        fields["fail_count"] = 0
    if account.status == "cooling" and account.cooldown_until <= now:
        change = AccountChange(status="active", cooldown_until=0.0, reason="refreshed")
        fields.update(change.fields())
    await storage.update_account(account.id, **fields)
    return RefreshResult(account.id, True, change=change)


@dataclass(frozen=True, slots=True)
class RefreshReport:
    ran: bool  # False when another worker holds the lock
    checked: int = 0
    refreshed: int = 0
    failed: int = 0


class Refresher:
    """Runs on every worker; only the holder of the storage lock "refresher" does the work."""

    def __init__(self, storage: Storage, config: PoolConfig, fetch_limits: FetchLimits, *, owner: str,
                 clock: Callable[[], float] = time.time, batch_max: int = 500) -> None:
        self.storage = storage
        self.config = config
        self.fetch_limits = fetch_limits
        self.owner = owner
        self.clock = clock
        self.batch_max = batch_max  # accounts re-read per round; the rest wait for the next
        self.lock_ttl = max(3 * config.refresh_tick_sec, 30.0)

    async def _hold(self) -> bool:
        return await self.storage.acquire_lock(LOCK_NAME, self.owner, self.lock_ttl)

    async def run_once(self) -> RefreshReport:
        """One round: take (or renew) the lock, re-read the due accounts, publish the changes."""
        if not await self._hold():
            return RefreshReport(ran=False)
        now = self.clock()
        accounts = [Account.from_record(r) for r in await self.storage.all_accounts()]
        due = []
        for acc in accounts:
            plan = refresh_due(acc, now, self.config.interval_for(acc.pool))
            if plan.due:
                due.append((acc, plan.buckets))
        due.sort(key=lambda item: item[0].last_sync_at)  # the stalest first
        due = due[: self.batch_max]
        sem = asyncio.Semaphore(self.config.refresh_concurrency)
        lost = asyncio.Event()

        async def renew() -> None:
            if lost.is_set():
                return
            try:
                held = await self._hold()
            except Exception:  # storage unreachable: another worker may take the lock meanwhile
                held = False
            if not held:
                log.warning("refresher %s lost its lock; stopping this round", self.owner)
                lost.set()

        async def one(acc: Account, buckets: tuple[str, ...]) -> RefreshResult:
            async with sem:
                if lost.is_set():  # stop spending upstream calls
                    return RefreshResult(acc.id, False, "refresher lock lost")
                return await refresh_account(self.storage, acc, self.fetch_limits, self.config,
                                             self.clock(), buckets)

        async with periodic("refresher-lock", renew, self.lock_ttl / 3):
            results = await asyncio.gather(*(one(a, b) for a, b in due))
        ok = sum(1 for r in results if r.ok)
        if results:
            await self.storage.bump(TOPIC_ACCOUNTS)
        for r in results:
            if not r.ok:
                log.info("quota refresh of account %s failed: %s", r.account_id, r.error)
        return RefreshReport(ran=True, checked=len(accounts), refreshed=ok, failed=len(results) - ok)

    def reconfigure(self, config: PoolConfig) -> None:
        """New pool settings from the next round on (intervals, tick, concurrency, auto_refresh)."""
        self.config = config
        self.lock_ttl = max(3 * config.refresh_tick_sec, 30.0)

    async def run_if_enabled(self) -> RefreshReport:
        """One round when `token.auto_refresh` is on; off, the lock is given up for whoever turns it on."""
        if not self.config.auto_refresh:
            await self.release()
            return RefreshReport(ran=False)
        return await self.run_once()

    async def release(self) -> None:
        """Free the lock at shutdown so another worker takes over at once (best effort)."""
        with contextlib.suppress(Exception):
            await self.storage.release_lock(LOCK_NAME, self.owner)


# Imagine buckets: quota_info reports what is left but never a total, so a reading would
# invent one; those buckets keep their stored numbers (rolled over locally at window end).
_NO_TOTALS = frozenset({"image", "image_edit", "video"})


def limits_reader(rate_limits: Callable[..., Awaitable[Any]]) -> FetchLimits:
    """The pool's FetchLimits over GrokClient.rate_limits: a chat bucket is a rate-limits mode."""

    async def fetch(token: str, bucket: str) -> QuotaReading | None:
        if bucket in _NO_TOTALS:
            return None
        reading = await rate_limits(token, mode=bucket)
        if reading.remaining is None or reading.total is None:
            return None
        return QuotaReading(reading.remaining, reading.total, reading.window_seconds, reading.wait_seconds)

    return fetch
