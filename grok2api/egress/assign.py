"""Balanced account->egress assignment as pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def least_loaded(counts: Mapping[str, int], candidates: Sequence[str]) -> str | None:
    """The candidate holding the fewest accounts; ties go to the one configured first."""
    best: str | None = None
    for name in candidates:
        if best is None or counts.get(name, 0) < counts.get(best, 0):
            best = name
    return best


def spread(accounts: Iterable[str], counts: Mapping[str, int], candidates: Sequence[str]) -> dict[str, str]:
    """Each account (in the given order) to the least-loaded candidate, counting as it goes: the
    result keeps the candidates balanced. Empty when there is no candidate."""
    load = {name: counts.get(name, 0) for name in candidates}
    plan: dict[str, str] = {}
    for account in accounts:
        target = least_loaded(load, candidates)
        if target is None:
            return {}
        plan[account] = target
        load[target] += 1
    return plan
