"""Pool policies as pure functions: eligible tiers, failure/success effects, cooldowns, refresh due.

Whether a failure fails over to another account is the gateway's retry policy (gateway/retry.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog import TIERS, ModelRoute
from ..storage.base import Quota
from ..upstream.errors import ErrorKind, UpstreamError
from .model import Account
from .options import CooldownRules

@dataclass(frozen=True, slots=True)
class AccountChange:
    """What a policy decided for one account; empty means leave it alone."""

    status: str | None = None
    cooldown_until: float | None = None
    fail_count: int | None = None
    last_fail_reason: str | None = None
    quota: tuple[tuple[str, Quota], ...] = ()  # buckets to replace
    reason: str = ""  # why, for logs

    def fields(self) -> dict[str, Any]:
        """The `update_account` arguments (quota goes through set_quota)."""
        names = ("status", "cooldown_until", "fail_count", "last_fail_reason")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def __bool__(self) -> bool:
        return bool(self.fields() or self.quota)

    def apply(self, account: Account) -> None:
        """Mirror the change into the in-memory view."""
        for name, value in self.fields().items():
            setattr(account, name, value)
        for bucket, quota in self.quota:
            account.quota[bucket] = Quota(quota.remaining, quota.total, quota.window_sec, quota.resets_at)


NO_CHANGE = AccountChange()


def eligible_pools(route: ModelRoute, prefer_higher_tier: bool = False) -> tuple[str, ...]:
    """Pools that may serve a model, in the order to try: its own tier first, then higher ones.

    A basic model uses super then heavy accounts once basic ones are spent; a super model
    never touches basic accounts. `prefer_higher_tier` tries the higher tiers first (a job
    only they make natively, such as a 720p video) and the model's own tier last.
    """
    if route.min_tier not in TIERS:
        return ()
    pools = TIERS[TIERS.index(route.min_tier):]
    return pools[1:] + pools[:1] if prefer_higher_tier else pools


def cooldown_for(error: UpstreamError, account: Account, bucket: str, now: float,
                 rules: CooldownRules = CooldownRules()) -> float:
    """Seconds the account should rest after `error`; 0 when the account is not to blame.

    RATE_LIMITED: the upstream's wait time when it gave one; with no quota left, until the
    bucket's known reset, else one window of the bucket, else `rate_limited_empty_sec`; with
    quota left (a burst limit) `rate_limited_sec`. UPSTREAM and TIMEOUT: a brief
    `upstream_sec`, so the next requests spread over other accounts. AUTH: no cooldown (it
    counts toward the failure threshold instead). CLOUDFLARE, ANTI_BOT, STALE_PAGE and NETWORK
    blame the egress, MODERATED and BAD_REQUEST the request, TRANSIENT (a concurrency or global
    limit), MODEL_UNAVAILABLE and CONVERSATION_GONE nobody: no cooldown.
    """
    kind = error.kind
    if kind is ErrorKind.RATE_LIMITED:
        if error.retry_after > 0:
            return float(error.retry_after)
        if error.remaining == 0:
            q = account.quota.get(bucket)
            if q is not None and q.resets_at > now:
                return q.resets_at - now
            if q is not None and q.window_sec > 0:
                return float(q.window_sec)
            return rules.rate_limited_empty_sec
        return rules.rate_limited_sec
    if kind in (ErrorKind.UPSTREAM, ErrorKind.TIMEOUT):
        return rules.upstream_sec
    return 0.0


def on_failure(account: Account, error: UpstreamError, threshold: int, now: float, *,
               bucket: str = "", rules: CooldownRules = CooldownRules()) -> AccountChange:
    """The account change a failed call implies.

    AUTH: fail_count + 1; at `threshold` the account becomes invalid (never chosen again).
    RATE_LIMITED: cooling until now + cooldown_for(); the bucket drops to 0 (reset at the end
    of the cooldown) when the upstream said nothing is left. UPSTREAM/TIMEOUT: a short
    cooling. Anything else (CLOUDFLARE, ANTI_BOT, STALE_PAGE, NETWORK, TRANSIENT, MODERATED, ...): no change.
    """
    kind = error.kind
    reason = f"{kind.value}: {error.message}"[:200]
    if kind is ErrorKind.AUTH:
        if account.status in ("invalid", "disabled"):
            return NO_CHANGE
        fails = account.fail_count + 1
        status = "invalid" if fails >= threshold else None
        return AccountChange(status=status, fail_count=fails, last_fail_reason=reason, reason=reason)
    wait = cooldown_for(error, account, bucket, now, rules)
    if wait <= 0 or account.status in ("invalid", "disabled"):
        return NO_CHANGE
    until = max(now + wait, account.cooldown_until)
    quota: tuple[tuple[str, Quota], ...] = ()
    if kind is ErrorKind.RATE_LIMITED and error.remaining == 0 and bucket:
        q = account.quota.get(bucket)
        total, window = (q.total, q.window_sec) if q is not None else (0, 0)
        quota = ((bucket, Quota(0, total, window, now + wait)),)
    return AccountChange(status="cooling", cooldown_until=until, last_fail_reason=reason,
                         quota=quota, reason=reason)


def on_success(account: Account, now: float) -> AccountChange:
    """A served request clears the failure count and ends a cooling that is over."""
    status = "active" if account.status == "cooling" and account.cooldown_until <= now else None
    fails = 0 if account.fail_count else None
    if status is None and fails is None:
        return NO_CHANGE
    return AccountChange(status=status, fail_count=fails,
                         cooldown_until=0.0 if status else None, reason="success")


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """Whether the refresher should re-read an account's quotas, and why."""

    due: bool
    reason: str = ""
    buckets: tuple[str, ...] = field(default=())  # empty = every bucket of the account's pool


def refresh_due(account: Account, now: float, interval_sec: float) -> RefreshPlan:
    """Re-read quotas of: cooling accounts whose cooldown passed and whose last sync is older
    than the pool's interval; accounts with a bucket whose known reset time passed (at once);
    accounts with a spent bucket and no known reset, once the interval passed; accounts never
    synced (their quotas are still the defaults). Invalid and
    disabled accounts, and accounts still inside a cooldown, are left alone."""
    if account.status not in ("active", "cooling") or account.cooldown_until > now:
        return RefreshPlan(False)
    stale = now - account.last_sync_at >= interval_sec
    reset = tuple(b for b, q in account.quota.items()
                  if q.resets_at and q.resets_at <= now and q.remaining < q.total)
    if reset:
        return RefreshPlan(True, "window reset passed", reset)
    if not stale:
        return RefreshPlan(False)
    if account.last_sync_at <= 0:
        return RefreshPlan(True, "never synced")
    if account.status == "cooling":
        return RefreshPlan(True, "cooling")
    spent = tuple(b for b, q in account.quota.items() if q.remaining <= 0 and q.total > 0 and not q.resets_at)
    if spent:
        return RefreshPlan(True, "spent bucket", spent)
    return RefreshPlan(False)
