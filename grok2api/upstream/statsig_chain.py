"""The x-statsig-id strategy chain: per (path, egress) order, demotion on refusal, promotion on success."""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .statsig import StatsigUnavailable, Strategy, is_acceptable

log = logging.getLogger(__name__)

STRATEGY_NAMES = ("local", "signer", "manual", "fallback")
OUTCOMES = ("ok", "refused", "stale", "unavailable")

Listener = Callable[[str, str, str], None]  # (strategy, path, outcome)


@dataclass(frozen=True, slots=True)
class Signed:
    """One value and the strategy that gave it, so the answer can be credited to it."""

    strategy: str
    value: str


class NoStrategy(Exception):
    """No strategy of the chain could give a value."""


class StatsigChain:
    """Tries strategies in the configured order; a strategy refused (C1) or stale (C3) on a path and
    egress goes to the back of the order for that pair for `demote_seconds`, and comes back to its
    place as soon as it passes again."""

    def __init__(self, strategies: Sequence[Strategy], *, demote_seconds: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not strategies:
            raise ValueError("the statsig chain needs at least one strategy")
        self.strategies = list(strategies)
        self.demote_seconds = demote_seconds
        self._clock = clock
        self._demoted: dict[tuple[str, str, str], float] = {}  # (strategy, path, egress) -> until
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (strategy, path, outcome)
        self.listeners: list[Listener] = []

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.strategies]

    def strategy(self, name: str) -> Strategy:
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(name)

    def order(self, path: str, egress: str) -> list[Strategy]:
        """The strategies to try for one path on one egress: healthy ones first, in configured order."""
        if not self._demoted:  # nothing refused lately (the usual case): the configured order as it is
            return list(self.strategies)
        now = self._clock()
        healthy, demoted = [], []
        for s in self.strategies:
            until = self._demoted.get((s.name, path, egress), 0.0)
            if until > now:
                demoted.append((until, s))
            else:
                self._demoted.pop((s.name, path, egress), None)
                healthy.append(s)
        return healthy + [s for _, s in sorted(demoted, key=lambda pair: pair[0])]

    async def value(self, method: str, path: str, egress: str, exclude: Sequence[str] = ()) -> Signed:
        """The first value a strategy gives, skipping `exclude` and strategies that cannot give one."""
        reasons = []
        for s in self.order(path, egress):
            if s.name in exclude:
                continue
            try:
                value = await self.from_strategy(s, method, path, egress)
            except StatsigUnavailable as exc:
                reasons.append(f"{s.name}: {exc}")
                continue
            return Signed(s.name, value)
        raise NoStrategy("; ".join(reasons) or "every strategy was already tried")

    async def from_strategy(self, s: Strategy, method: str, path: str, egress: str) -> str:
        """One strategy's value, held to the rules every value obeys (70/72 bytes, never `e:`)."""
        try:
            value = await s.value(method, path, egress)
            if not is_acceptable(value):
                raise StatsigUnavailable("value does not decode to 70 or 72 bytes, or is an e: fallback")
        except StatsigUnavailable:
            self.note(s.name, path, "unavailable")
            raise
        return value

    def passed(self, signed: Signed, path: str, egress: str) -> None:
        """grok.com accepted the value: the strategy gets its place back on this path and egress."""
        self._demoted.pop((signed.strategy, path, egress), None)
        self.note(signed.strategy, path, "ok")

    def refused(self, signed: Signed, method: str, path: str, egress: str, *, stale: bool) -> None:
        """Anti-bot (C1) or stale page (C3): drop the strategy's cached value and demote it here."""
        self.strategy(signed.strategy).invalidate(method, path, egress)
        self._demoted[(signed.strategy, path, egress)] = self._clock() + self.demote_seconds
        self.note(signed.strategy, path, "stale" if stale else "refused")
        log.info("x-statsig-id strategy %s %s on %s; demoted for %gs", signed.strategy,
                 "went stale" if stale else "was refused", path, self.demote_seconds)

    def note(self, strategy: str, path: str, outcome: str) -> None:
        path = route_of(path)
        self.counts[(strategy, path, outcome)] += 1
        for listener in self.listeners:
            try:
                listener(strategy, path, outcome)
            except Exception:  # metrics must never break a request
                log.exception("statsig listener failed")

    def totals(self) -> dict[str, dict[str, int]]:
        """strategy -> outcome -> count, over every path (for the admin's one-line summary)."""
        out: dict[str, dict[str, int]] = {name: dict.fromkeys(OUTCOMES, 0) for name in self.names}
        for (strategy, _path, outcome), n in self.counts.items():
            out.setdefault(strategy, dict.fromkeys(OUTCOMES, 0))[outcome] += n
        return out


@functools.lru_cache(maxsize=512)  # a handful of routes; ids in paths only evict each other
def route_of(path: str) -> str:
    """The path with id-like segments (asset ids ...) replaced by `{id}`, so counters stay few."""
    return "/".join("{id}" if len(seg) >= 16 and any(c.isdigit() for c in seg) else seg for seg in path.split("/"))


def summary(totals: dict[str, dict[str, int]]) -> str:
    """`local 412 ok / 3 refused · fallback 0 ok / 0 refused` (stale counts as refused here)."""
    parts = []
    for name, counts in totals.items():
        refused = counts.get("refused", 0) + counts.get("stale", 0)
        part = f"{name} {counts.get('ok', 0)} ok / {refused} refused"
        if counts.get("unavailable"):
            part += f" / {counts['unavailable']} unavailable"
        parts.append(part)
    return " · ".join(parts)
