"""Pool settings: strategy, failure threshold, cooldowns, refresh intervals and default quotas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..catalog import TIERS
from ..storage.base import Quota
from .select import normalize_strategy

if TYPE_CHECKING:
    from ..config.settings import Settings

HOUR = 3600
DAY = 86400


def _q(total: int, window_sec: int) -> Quota:
    return Quota(remaining=total, total=total, window_sec=window_sec)


# What a fresh account of each tier is given until the refresher reads the real numbers.
# Chat buckets follow the current per-mode windows (protocol §9.1/§9.4, GO tier inference):
# free accounts get `fast` 30 per 24 h and little or no auto/expert; Super `fast` 140 and
# `auto` 50 per 2 h; Heavy `fast` 400, `auto` 150 and the heavy mode. The seed's "80 / 20 h
# basic, 140 / 2 h super" was the old shared token budget and no longer holds. Imagine
# buckets (image, image_edit, video) are guesses: the upstream publishes no totals, so these
# only last until the first quota_info reading or the first 429 (which zeroes the bucket).
DEFAULT_QUOTAS: Mapping[str, Mapping[str, Quota]] = MappingProxyType({
    "basic": MappingProxyType({
        "fast": _q(30, DAY), "auto": _q(7, DAY), "expert": _q(0, DAY), "heavy": _q(0, DAY),
        "image": _q(20, DAY), "image_edit": _q(10, DAY), "video": _q(5, DAY),
    }),
    "super": MappingProxyType({
        "fast": _q(140, 2 * HOUR), "auto": _q(50, 2 * HOUR), "expert": _q(50, 2 * HOUR),
        "heavy": _q(0, 2 * HOUR),
        "image": _q(100, DAY), "image_edit": _q(100, DAY), "video": _q(30, DAY),
    }),
    "heavy": MappingProxyType({
        "fast": _q(400, 2 * HOUR), "auto": _q(150, 2 * HOUR), "expert": _q(150, 2 * HOUR),
        "heavy": _q(50, 2 * HOUR),
        "image": _q(200, DAY), "image_edit": _q(200, DAY), "video": _q(60, DAY),
    }),
})


@dataclass(frozen=True, slots=True)
class CooldownRules:
    """How long an account rests after a failure that is (partly) its own."""

    # 429 without a wait time while quota is left (a burst limit): short, retry soon.
    rate_limited_sec: float = 600.0
    # 429 with no quota left and no reset time known: the bucket's window, else this.
    rate_limited_empty_sec: float = 2 * HOUR
    # 5xx / malformed stream / timeout on this account: a brief rest spreads load elsewhere.
    upstream_sec: float = 30.0


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Everything the pool, its policies and the refresher read; built once from Settings."""

    strategy: str = "max_quota"
    fail_threshold: int = 5
    refresh_interval_sec: Mapping[str, float] = field(
        default_factory=lambda: {"basic": 8 * HOUR, "super": 2 * HOUR, "heavy": 2 * HOUR})
    default_quotas: Mapping[str, Mapping[str, Quota]] = field(default_factory=lambda: DEFAULT_QUOTAS, repr=False)
    reload_interval_sec: float = 120.0  # maximum staleness of the in-memory view
    auto_refresh: bool = True
    refresh_tick_sec: float = 60.0  # how often the refresher looks for due accounts
    refresh_concurrency: int = 5  # background upstream calls at once (the seed's scheduler used 5)
    cooldowns: CooldownRules = CooldownRules()
    max_reserve_attempts: int = 32  # refused reservations tolerated in one acquire
    # Usage writes (use_count, last_used_at) are batched this long; 0 = written at each settle.
    # Quota reservations are never delayed: they stay atomic in storage across workers.
    save_delay_sec: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", normalize_strategy(self.strategy))
        if self.fail_threshold < 1:
            raise ValueError(f"fail_threshold must be at least 1, got {self.fail_threshold}")
        for tier in TIERS:
            if tier not in self.refresh_interval_sec:
                raise ValueError(f"refresh_interval_sec lacks the {tier!r} pool")

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolConfig:
        token = settings.token
        return cls(
            strategy=token.selection_strategy,
            fail_threshold=token.fail_threshold,
            refresh_interval_sec={
                "basic": token.refresh_interval_hours * HOUR,
                "super": token.super_refresh_interval_hours * HOUR,
                "heavy": token.super_refresh_interval_hours * HOUR,
            },
            reload_interval_sec=float(token.reload_interval_sec),
            auto_refresh=token.auto_refresh,
            refresh_tick_sec=token.refresh_tick_sec,
            save_delay_sec=token.save_delay_ms / 1000,
        )

    def interval_for(self, pool: str) -> float:
        return self.refresh_interval_sec.get(pool, self.refresh_interval_sec["basic"])

    def default_quota(self, pool: str, bucket: str) -> Quota | None:
        """A fresh copy of the default for one bucket, or None when the pool has no such bucket."""
        q = self.default_quotas.get(pool, {}).get(bucket)
        return Quota(q.remaining, q.total, q.window_sec, 0.0) if q is not None else None

    def buckets_for(self, pool: str) -> list[str]:
        return list(self.default_quotas.get(pool, {}))

    def tier_quotas(self, pool: str) -> dict[str, Quota]:
        """Fresh copies of every bucket's default for one pool (a new account, or one moved to it)."""
        return {b: q for b in self.buckets_for(pool) if (q := self.default_quota(pool, b)) is not None}
