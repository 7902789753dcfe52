"""Upstream health: per upstream step, the last hour's successes and failures by kind, and the last error and when.

Fed by a transport tap (gateway/observe.py) with (step, outcome, redacted error); read by the stats
page and /metrics. In memory, per worker: each worker sees the calls it made itself.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

WINDOW_SEC = 3600
SLOT_SEC = 60
_IGNORED = frozenset({"cancelled"})  # the client went away: nothing about grok.com

Listener = Callable[[str, str], None]  # (step, outcome)


@dataclass(slots=True)
class StepHealth:
    """One step over the last hour."""

    step: str
    label: str = ""
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    last_error: str = ""
    last_error_at: float = 0.0  # unix seconds, 0 = never (since start)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def to_json(self) -> dict[str, object]:
        return {"step": self.step, "label": self.label, "ok": self.ok, "failed": self.failed, "failures": dict(self.failures),
                "last_error": self.last_error, "last_error_at": self.last_error_at}


class UpstreamHealth:
    """Minute slots per step, an hour of them kept; `snapshot` sums the hour."""

    def __init__(self, steps: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        """`steps`: step id -> label, in the order the panel lists them (the upstream client knows them)."""
        self.labels = dict(steps)
        self.steps = tuple(steps)
        self._clock = clock
        self._slots: dict[str, deque[tuple[int, Counter[str]]]] = {s: deque() for s in self.steps}
        self._last: dict[str, tuple[str, float]] = {}
        self.listeners: list[Listener] = []

    def note(self, step: str, outcome: str, error: str = "") -> None:
        if outcome in _IGNORED:
            return
        now = self._clock()
        minute = int(now // SLOT_SEC)
        slots = self._slots.setdefault(step, deque())
        if not slots or slots[-1][0] != minute:
            slots.append((minute, Counter()))
            while slots and slots[0][0] <= minute - WINDOW_SEC // SLOT_SEC:
                slots.popleft()
        slots[-1][1][outcome] += 1
        if outcome != "ok":
            self._last[step] = (error, now)
        for listener in self.listeners:
            try:
                listener(step, outcome)
            except Exception:  # metrics must never break a call
                log.exception("upstream health listener failed")

    def snapshot(self) -> list[StepHealth]:
        """Every known step (the configured ones first), summed over the last hour."""
        oldest = int(self._clock() // SLOT_SEC) - WINDOW_SEC // SLOT_SEC
        out = []
        for step in [*self.steps, *(s for s in self._slots if s not in self.steps)]:
            counts: Counter[str] = Counter()
            for minute, counter in self._slots.get(step, ()):
                if minute > oldest:
                    counts.update(counter)
            error, at = self._last.get(step, ("", 0.0))
            failures = {kind: n for kind, n in sorted(counts.items()) if kind != "ok"}
            out.append(StepHealth(step, self.labels.get(step, step), counts.get("ok", 0), failures, error, at))
        return out
