"""Pool policies: eligible tiers, failure and success effects, cooldowns, refresh due."""

from __future__ import annotations

import pytest

from grok2api.catalog import load_catalog
from grok2api.pool.model import Account, QuotaReading, mask_token
from grok2api.pool.options import CooldownRules, PoolConfig
from grok2api.pool.policy import (
    NO_CHANGE,
    AccountChange,
    cooldown_for,
    eligible_pools,
    on_failure,
    on_success,
    refresh_due,
)
from grok2api.storage.base import Quota
from grok2api.upstream.errors import ErrorKind, UpstreamError

NOW = 1_000_000.0
RULES = CooldownRules(rate_limited_sec=600, rate_limited_empty_sec=7200, upstream_sec=30)


def account(**kw: object) -> Account:
    base: dict[str, object] = {"id": "a1", "token": "t" * 30, "quota": {"fast": Quota(10, 30, 86400)}}
    base.update(kw)
    return Account(**base)  # type: ignore[arg-type]


def err(kind: ErrorKind, **kw: object) -> UpstreamError:
    return UpstreamError(kind, "boom", **kw)  # type: ignore[arg-type]


def test_eligible_pools_follow_tier_order() -> None:
    cat = load_catalog(None)
    assert eligible_pools(cat.get("grok-chat-fast")) == ("basic", "super", "heavy")  # type: ignore[arg-type]
    assert eligible_pools(cat.get("grok-chat-expert")) == ("super", "heavy")  # type: ignore[arg-type]
    assert eligible_pools(cat.get("grok-chat-heavy")) == ("heavy",)  # type: ignore[arg-type]


def test_auth_counts_to_the_threshold_then_invalid() -> None:
    a = account()
    for n in range(1, 3):
        change = on_failure(a, err(ErrorKind.AUTH), 3, NOW)
        assert change.fail_count == n and change.status is None
        change.apply(a)
    change = on_failure(a, err(ErrorKind.AUTH), 3, NOW)
    assert change.fail_count == 3 and change.status == "invalid"
    change.apply(a)
    assert a.status == "invalid" and not a.usable(NOW)
    assert on_failure(a, err(ErrorKind.AUTH), 3, NOW) is NO_CHANGE


def test_threshold_of_one_invalidates_at_once() -> None:
    assert on_failure(account(), err(ErrorKind.AUTH), 1, NOW).status == "invalid"


@pytest.mark.parametrize("kind", [ErrorKind.CLOUDFLARE, ErrorKind.NETWORK, ErrorKind.MODERATED, ErrorKind.BAD_REQUEST])
def test_errors_that_do_not_blame_the_account(kind: ErrorKind) -> None:
    a = account(fail_count=2)
    change = on_failure(a, err(kind), 3, NOW, bucket="fast", rules=RULES)
    assert change is NO_CHANGE and not change
    assert cooldown_for(err(kind), a, "fast", NOW, RULES) == 0


def test_rate_limited_with_wait_time_cools_until_then() -> None:
    change = on_failure(account(), err(ErrorKind.RATE_LIMITED, retry_after=45), 5, NOW, bucket="fast", rules=RULES)
    assert change.status == "cooling" and change.cooldown_until == NOW + 45
    assert change.quota == () and change.fail_count is None


def test_rate_limited_without_wait_and_quota_left_uses_the_short_default() -> None:
    change = on_failure(account(), err(ErrorKind.RATE_LIMITED), 5, NOW, bucket="fast", rules=RULES)
    assert change.cooldown_until == NOW + 600 and change.quota == ()


def test_rate_limited_with_nothing_left_zeroes_the_bucket() -> None:
    a = account()
    change = on_failure(a, err(ErrorKind.RATE_LIMITED, retry_after=120, remaining=0), 5, NOW,
                        bucket="fast", rules=RULES)
    assert change.cooldown_until == NOW + 120
    assert change.quota == (("fast", Quota(0, 30, 86400, NOW + 120)),)
    change.apply(a)
    assert a.quota["fast"].remaining == 0 and a.status == "cooling"


def test_rate_limited_empty_without_wait_uses_known_reset_then_window_then_default() -> None:
    e = err(ErrorKind.RATE_LIMITED, remaining=0)
    with_reset = account(quota={"fast": Quota(3, 30, 86400, NOW + 500)})
    assert cooldown_for(e, with_reset, "fast", NOW, RULES) == 500
    with_window = account(quota={"fast": Quota(3, 30, 7200, 0.0)})
    assert cooldown_for(e, with_window, "fast", NOW, RULES) == 7200
    unknown = account(quota={})
    assert cooldown_for(e, unknown, "fast", NOW, RULES) == RULES.rate_limited_empty_sec
    change = on_failure(unknown, e, 5, NOW, bucket="fast", rules=RULES)
    assert change.quota == (("fast", Quota(0, 0, 0, NOW + 7200)),)


def test_rate_limited_never_shortens_a_longer_cooldown() -> None:
    a = account(status="cooling", cooldown_until=NOW + 1000)
    change = on_failure(a, err(ErrorKind.RATE_LIMITED, retry_after=10), 5, NOW, bucket="fast", rules=RULES)
    assert change.cooldown_until == NOW + 1000


@pytest.mark.parametrize("kind", [ErrorKind.UPSTREAM, ErrorKind.TIMEOUT])
def test_upstream_and_timeout_rest_briefly(kind: ErrorKind) -> None:
    change = on_failure(account(), err(kind), 5, NOW, bucket="fast", rules=RULES)
    assert change.status == "cooling" and change.cooldown_until == NOW + 30 and change.fail_count is None


def test_failures_leave_disabled_accounts_alone() -> None:
    a = account(status="disabled")
    for kind in ErrorKind:
        assert on_failure(a, err(kind, retry_after=5), 5, NOW, bucket="fast") is NO_CHANGE


def test_on_success() -> None:
    assert on_success(account(), NOW) is NO_CHANGE
    assert on_success(account(fail_count=3), NOW) == AccountChange(fail_count=0, reason="success")
    over = on_success(account(status="cooling", cooldown_until=NOW - 1), NOW)
    assert over.status == "active" and over.cooldown_until == 0.0
    assert on_success(account(status="cooling", cooldown_until=NOW + 1), NOW).status is None


def test_change_fields_exclude_unset() -> None:
    change = AccountChange(status="cooling", cooldown_until=5.0)
    assert change.fields() == {"status": "cooling", "cooldown_until": 5.0}
    assert bool(change) and not bool(AccountChange(reason="x"))


def test_refresh_due_rules() -> None:
    day = 86400.0
    synced = NOW - 10
    assert not refresh_due(account(last_sync_at=synced), NOW, day).due
    never = refresh_due(account(), NOW, day)
    assert never.due and never.buckets == ()
    # still cooling by time: wait
    assert not refresh_due(account(status="cooling", cooldown_until=NOW + 5), NOW, 1).due
    # cooling over, last sync stale
    plan = refresh_due(account(status="cooling", cooldown_until=NOW - 5, last_sync_at=NOW - 2 * day), NOW, day)
    assert plan.due and plan.reason == "cooling"
    # cooling over but synced recently
    assert not refresh_due(account(status="cooling", cooldown_until=NOW - 5, last_sync_at=synced), NOW, day).due
    # a known reset passed: due at once, only that bucket
    reset = account(quota={"fast": Quota(0, 30, 86400, NOW - 1), "image": Quota(5, 5)}, last_sync_at=synced)
    assert refresh_due(reset, NOW, day).buckets == ("fast",)
    # spent with no known reset: after the interval
    spent = {"fast": Quota(0, 30, 86400, 0.0)}
    assert not refresh_due(account(quota=spent, last_sync_at=synced), NOW, day).due
    assert refresh_due(account(quota=spent, last_sync_at=NOW - day), NOW, day).buckets == ("fast",)
    for status in ("invalid", "disabled"):
        assert not refresh_due(account(status=status), NOW, day).due


def test_quota_reading_to_quota() -> None:
    assert QuotaReading(3, 30, 86400, wait_sec=100).to_quota(NOW) == Quota(3, 30, 86400, NOW + 100)
    assert QuotaReading(3, 30, 86400).to_quota(NOW) == Quota(3, 30, 86400, NOW + 86400)
    assert QuotaReading(30, 30, 86400).to_quota(NOW) == Quota(30, 30, 86400, 0.0)


def test_mask_token() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.payload.signature1234"
    assert mask_token(token) == "eyJhbG…1234"
    assert "payload" not in mask_token(token)
    assert mask_token("short-token") == "******"
    assert mask_token("") == "******"
    assert "t" * 30 not in repr(account())


def test_pool_config_validates() -> None:
    assert PoolConfig(strategy="weighted_random").strategy == "weighted"
    with pytest.raises(ValueError):
        PoolConfig(strategy="bogus")
    with pytest.raises(ValueError):
        PoolConfig(fail_threshold=0)
    cfg = PoolConfig()
    q = cfg.default_quota("basic", "fast")
    assert q is not None and (q.remaining, q.total, q.window_sec) == (30, 30, 86400)
    q.remaining = 0  # a copy: the defaults are untouched
    assert cfg.default_quota("basic", "fast").remaining == 30  # type: ignore[union-attr]
    assert cfg.default_quota("basic", "nope") is None
    assert set(cfg.buckets_for("super")) == load_catalog(None).buckets()


def test_pool_config_from_settings(settings: object) -> None:
    cfg = PoolConfig.from_settings(settings)  # type: ignore[arg-type]
    assert cfg.strategy == "max_quota" and cfg.fail_threshold == 5
    assert cfg.refresh_interval_sec == {"basic": 8 * 3600, "super": 2 * 3600, "heavy": 2 * 3600}
    assert cfg.reload_interval_sec == 120
