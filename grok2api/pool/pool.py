"""The account pool: an in-memory view kept fresh from storage, leases reserved atomically in storage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from ..catalog import ModelRoute
from ..storage.base import TOPIC_ACCOUNTS, AccountRecord, Storage, StorageError
from ..upstream.errors import UpstreamError
from .index import Candidates
from .model import USABLE_STATUSES, Account
from .options import PoolConfig
from .policy import AccountChange, eligible_pools, on_failure, on_success
from .select import select

log = logging.getLogger(__name__)


class NoAccountAvailable(Exception):
    """No eligible account can serve the route now.

    code: "no_accounts" (no usable account in any eligible tier), "exhausted" (all cooling or
    spent; `retry_after` is the seconds until the next one comes back, 0 = unknown) or
    "all_tried" (every remaining candidate is in the caller's exclude set).
    """

    def __init__(self, reason: str, retry_after: float = 0.0, *, code: str = "exhausted") -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.code = code


@dataclass(eq=False)
class Lease:
    """`cost` units of `bucket` reserved on one account for one request: settle or release once."""

    account: Account
    route: ModelRoute
    bucket: str
    cost: int
    remaining: int  # units left in the bucket right after this reservation
    _pool: Pool = field(repr=False)
    state: str = "reserved"  # reserved | settled | spent | released

    async def settle(self) -> bool:
        """The request succeeded: the units are spent. False when already settled or released."""
        if self.state != "reserved":
            return False
        self.state = "settled"
        self._pool.reserved -= 1
        await self._pool._settled(self)
        return True

    def spend(self) -> bool:
        """The request failed or was abandoned after grok.com counted it: the units stay taken (no
        storage write: the reservation already took them), nothing is recorded as served."""
        if self.state != "reserved":
            return False
        self.state = "spent"
        self._pool.reserved -= 1
        return True

    async def release(self) -> bool:
        """The request never reached grok.com (or was refused uncounted): give the units back.
        False when already done."""
        if self.state != "reserved":
            return False
        self.state = "released"
        self._pool.reserved -= 1
        await self._pool._released(self)
        return True


class Pool:
    """Selects accounts for requests across every worker sharing one storage."""

    def __init__(self, storage: Storage, config: PoolConfig, *, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self._accounts: dict[str, Account] = {}
        self._pools: dict[str, Candidates] = {}
        self._seen = -1  # the accounts change counter the view was built at
        self._loaded_at = float("-inf")
        self._reload_lock = asyncio.Lock()
        self.reserved = 0  # leases not yet settled or released (a metrics gauge)
        # Usage not yet written: account id -> [units, last_used_at]. Settling a lease is one
        # storage round trip per request otherwise; save_delay_sec batches them per account.
        self._usage: dict[str, list[float]] = {}
        self._usage_task: asyncio.Task[None] | None = None

    # -- the view ------------------------------------------------------------
    async def load(self) -> None:
        """Build the view from storage (and give accounts the default quota of missing buckets)."""
        async with self._reload_lock:
            await self._reload()

    async def sync(self) -> bool:
        """Reload when another worker changed accounts, or the view is older than the reload
        interval. One counter read when nothing moved, so calling it every second is cheap."""
        counters = await self.storage.counters()
        moved = counters.get(TOPIC_ACCOUNTS, 0) != self._seen
        if not moved and self.clock() - self._loaded_at < self.config.reload_interval_sec:
            return False
        async with self._reload_lock:
            await self._reload()
        return True

    async def _reload(self) -> None:
        # The counter is read first: a change racing with the read below moves it again.
        seen = (await self.storage.counters()).get(TOPIC_ACCOUNTS, 0)
        records = await self.storage.all_accounts()
        now = self.clock()
        for rec in records:
            await self._fill_missing_buckets(rec)
        accounts = {rec.id: Account.from_record(rec) for rec in records}
        for aid, (units, at) in self._usage.items():  # storage does not have these yet
            acc = accounts.get(aid)
            if acc is not None:
                acc.use_count += int(units)
                acc.last_used_at = max(acc.last_used_at, at)
        pools: dict[str, Candidates] = {}
        for acc in accounts.values():
            cands = pools.get(acc.pool)
            if cands is None:
                cands = pools[acc.pool] = Candidates()
            cands.put(acc, now)
        self._accounts, self._pools = accounts, pools
        self._seen, self._loaded_at = seen, now

    async def _fill_missing_buckets(self, rec: AccountRecord) -> None:
        """Accounts added without quotas get their tier's defaults until the refresher reads them.
        Two workers doing this at once write the same defaults; only an account's first
        appearance is affected."""
        if rec.status not in USABLE_STATUSES:
            return
        for bucket in self.config.buckets_for(rec.pool):
            if bucket not in rec.quota:
                quota = self.config.default_quota(rec.pool, bucket)
                if quota is not None:
                    await self.storage.set_quota(rec.id, bucket, quota)
                    rec.quota[bucket] = quota

    def accounts(self) -> list[Account]:
        """The current view (admin pages, readiness, stats); treat as read-only."""
        return list(self._accounts.values())

    @property
    def loaded(self) -> bool:
        """The view has been built from storage at least once."""
        return self._seen >= 0

    def serving(self, now: float | None = None) -> int:
        """Accounts of this view that could take a request now: usable, with quota left in some bucket."""
        now = self.clock() if now is None else now
        return sum(1 for acc in self._accounts.values()
                   if acc.usable(now) and any(q.remaining > 0 for q in acc.quota.values()))

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def summary(self) -> dict[str, dict[str, int]]:
        """Account counts per pool and status."""
        out: dict[str, dict[str, int]] = {}
        for acc in self._accounts.values():
            per = out.setdefault(acc.pool, {})
            per[acc.status] = per.get(acc.status, 0) + 1
        return out

    def _put(self, acc: Account, now: float) -> None:
        self._accounts[acc.id] = acc
        cands = self._pools.get(acc.pool)
        if cands is None:
            cands = self._pools[acc.pool] = Candidates()
        cands.put(acc, now)

    def _drop(self, account_id: str) -> None:
        acc = self._accounts.pop(account_id, None)
        if acc is not None and acc.pool in self._pools:
            self._pools[acc.pool].discard(account_id)

    async def _reread(self, account_id: str) -> None:
        """Replace one account of the view with what storage holds now."""
        rec = await self.storage.get_account(account_id)
        old = self._accounts.get(account_id)
        if old is not None and (rec is None or rec.pool != old.pool):
            self._drop(account_id)
        if rec is not None:
            self._put(Account.from_record(rec), self.clock())

    # -- leases --------------------------------------------------------------
    async def acquire(self, route: ModelRoute, exclude: AbstractSet[str] = frozenset(), *,
                      prefer_higher_tier: bool = False) -> Lease:
        """Reserve `route.cost` units of `route.bucket` on an eligible account, tier by tier.

        A reservation refused by storage (another worker spent the units) re-reads that
        account and tries the next candidate. Raises NoAccountAvailable when none is left.
        """
        pools = eligible_pools(route, prefer_higher_tier)
        skip: set[str] | None = None
        refusals = 0
        for name in pools:
            cands = self._pools.get(name)
            if cands is None:
                continue
            cands.wake(self.clock())
            while refusals < self.config.max_reserve_attempts:
                acc = select(cands, route.bucket, self.config.strategy, self.rng,
                             cost=route.cost, exclude=skip if skip is not None else exclude)
                if acc is None:
                    break
                left = await self.storage.reserve(acc.id, route.bucket, route.cost)
                if left is not None:
                    current = self._accounts.get(acc.id, acc)
                    q = current.quota.get(route.bucket)
                    if q is not None:
                        q.remaining = left
                        self._put(current, self.clock())
                    self.reserved += 1
                    return Lease(current, route, route.bucket, route.cost, left, self)
                refusals += 1
                skip = set(exclude) if skip is None else skip
                skip.add(acc.id)
                await self._reread(acc.id)
        raise self._unavailable(route, pools, exclude)

    def _unavailable(self, route: ModelRoute, pools: tuple[str, ...],
                     exclude: AbstractSet[str]) -> NoAccountAvailable:
        """Why nothing was found, and when the next account comes back (scans; failure path only)."""
        now = self.clock()
        tiers = "/".join(pools) or route.min_tier
        usable = [a for p in pools if p in self._pools for a in self._pools[p].accounts.values()
                  if a.status in USABLE_STATUSES and route.bucket in a.quota]
        if not usable:
            return NoAccountAvailable(
                f"no usable {tiers} account for `{route.id}` (needs tier {route.min_tier} or above)",
                code="no_accounts")
        untried = [a for a in usable if a.id not in exclude]
        if not untried:
            return NoAccountAvailable(
                f"every eligible account ({len(usable)}) was already tried", code="all_tried")
        next_at: float | None = None
        for acc in untried:
            ready = now
            if acc.status == "cooling" and acc.cooldown_until > now:
                ready = acc.cooldown_until
            q = acc.quota[route.bucket]
            if q.remaining < route.cost:
                if q.resets_at <= now:
                    continue  # spent with no known reset: the refresher will read it
                ready = max(ready, q.resets_at)
            next_at = ready if next_at is None else min(next_at, ready)
        if next_at is None:
            interval = min(self.config.interval_for(p) for p in pools) if pools else 0
            return NoAccountAvailable(
                f"all {len(untried)} eligible accounts are cooling or spent in bucket "
                f"'{route.bucket}'; reset time unknown (spent accounts are re-read every "
                f"{int(interval)} s)", code="exhausted")
        wait = max(0.0, next_at - now)
        return NoAccountAvailable(
            f"all {len(untried)} eligible accounts are cooling or spent in bucket "
            f"'{route.bucket}'; next reset in {int(wait + 0.999)} s", retry_after=wait, code="exhausted")

    async def _settled(self, lease: Lease) -> None:
        now = self.clock()
        aid = lease.account.id
        acc = self._accounts.get(aid)
        if acc is not None:
            acc.last_used_at = now
            acc.use_count += lease.cost
            acc.fail_count = 0
            self._put(acc, now)
        if self.config.save_delay_sec <= 0:
            await self.storage.settle(aid, lease.cost, now)
            return
        pending = self._usage.get(aid)
        if pending is None:
            self._usage[aid] = [lease.cost, now]
        else:
            pending[0] += lease.cost
            pending[1] = now
        if self._usage_task is None or self._usage_task.done():
            self._usage_task = asyncio.create_task(self._flush_later(), name="pool-usage-flush")

    async def _flush_later(self) -> None:
        while self._usage:
            await asyncio.sleep(self.config.save_delay_sec)
            try:
                await self.flush_usage()
            except StorageError as exc:  # storage down: keep the usage, try again after the delay
                log.warning("account usage write failed (will retry): %s", exc)

    async def flush_usage(self, account_id: str | None = None) -> None:
        """Write batched usage now (of one account, or all); what fails to write is kept."""
        if account_id is None:
            batch, self._usage = list(self._usage.items()), {}
        else:
            one = self._usage.pop(account_id, None)
            batch = [(account_id, one)] if one is not None else []
        for i, (aid, (units, at)) in enumerate(batch):
            try:
                await self.storage.settle(aid, int(units), at)
            except BaseException:
                for back_id, (back_units, back_at) in batch[i:]:
                    pending = self._usage.setdefault(back_id, [0, back_at])
                    pending[0] += back_units
                    pending[1] = max(pending[1], back_at)
                raise

    async def close(self) -> None:
        """Stop the batching and write what is pending (at shutdown)."""
        task, self._usage_task = self._usage_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush_usage()

    async def _released(self, lease: Lease) -> None:
        await self.storage.release(lease.account.id, lease.bucket, lease.cost)
        acc = self._accounts.get(lease.account.id)
        q = acc.quota.get(lease.bucket) if acc is not None else None
        if acc is not None and q is not None:
            new = q.remaining + lease.cost
            q.remaining = max(q.total, q.remaining) if q.total and new > q.total else new
            self._put(acc, self.clock())

    # -- outcomes ------------------------------------------------------------
    async def report_failure(self, lease: Lease, error: UpstreamError) -> AccountChange:
        """Apply the failure policy to the lease's account and publish the change."""
        acc = self._accounts.get(lease.account.id, lease.account)
        now = self.clock()
        change = on_failure(acc, error, self.config.fail_threshold, now,
                            bucket=lease.bucket, rules=self.config.cooldowns)
        if change:
            await self.apply(acc, change)
            log.info("account %s (%s): %s -> %s", acc.id, acc.masked, change.reason, acc.status)
        return change

    async def report_success(self, lease: Lease) -> AccountChange:
        acc = self._accounts.get(lease.account.id, lease.account)
        change = on_success(acc, self.clock())
        if change:
            await self.apply(acc, change)
        return change

    async def apply(self, acc: Account, change: AccountChange) -> None:
        """Write a policy change to storage, mirror it in the view, tell the other workers."""
        if acc.id in self._usage:
            # Batched usage resets fail_count when written: it must land before this change.
            await self.flush_usage(acc.id)
        if change.fields():
            await self.storage.update_account(acc.id, **change.fields())
        for bucket, quota in change.quota:
            await self.storage.set_quota(acc.id, bucket, quota)
        change.apply(acc)
        if acc.id in self._accounts:
            self._put(acc, self.clock())
        await self.published()

    async def bind_egress(self, bindings: list[tuple[str, str]]) -> None:
        """Store which egress each account leaves through (the egress pool decides), mirror it in
        the view and tell the other workers once."""
        for account_id, egress in bindings:
            await self.storage.update_account(account_id, egress=egress)
            acc = self._accounts.get(account_id)
            if acc is not None:
                acc.egress = egress
        if bindings:
            await self.published()

    async def published(self) -> None:
        """Bump the accounts counter after a write; skip our own reload when nobody else moved it."""
        value = await self.storage.bump(TOPIC_ACCOUNTS)
        if value == self._seen + 1:
            self._seen = value
