"""Selection strategies: which usable account with enough quota serves the next request."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .index import BucketIndex, Candidates
    from .model import Account

STRATEGIES = ("max_quota", "random", "weighted", "lru")
# Names the seed (and its forks) accepted; the seed silently fell back on `weighted` for any
# name it did not know, so a typo changed behaviour without a word. Unknown names now fail.
ALIASES = {"weighted_random": "weighted", "least_recent": "lru", "least_recently_used": "lru"}

# Random picks tried before falling back to an exact filtered draw (only when many ids are
# excluded or lack quota); keeps the common case O(1) / O(log n) and the result exact.
_TRIES = 8


def normalize_strategy(name: str) -> str:
    """The canonical strategy name; raises ValueError naming the valid ones."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in STRATEGIES:
        valid = ", ".join(STRATEGIES + tuple(ALIASES))
        raise ValueError(f"unknown selection strategy {name!r}; use one of {valid}")
    return key


def select(
    candidates: Candidates,
    bucket: str,
    strategy: str,
    rng: random.Random,
    *,
    cost: int = 1,
    exclude: AbstractSet[str] = frozenset(),
) -> Account | None:
    """Pick an indexed account with at least `cost` units in `bucket`, not in `exclude`.

    max_quota: the most units left, uniformly among ties. random: uniform. weighted: with
    probability proportional to units left. lru: used longest ago (ties by id). None when
    nobody qualifies. Never changes which accounts are indexed or their quota; it only builds a
    bucket's index on first use and lets lru drop stale heap entries.
    """
    idx = candidates.bucket(bucket)
    if not idx.level:
        return None
    key = normalize_strategy(strategy)
    if key == "max_quota":
        picked = _max_quota(idx, rng, cost, exclude)
    elif key == "random":
        picked = _random(idx, rng, cost, exclude)
    elif key == "weighted":
        picked = _weighted(idx, rng, cost, exclude)
    else:
        level = idx.level
        picked = idx.least_recent(lambda aid: level[aid] >= cost and aid not in exclude)
    return idx.accounts[picked] if picked is not None else None


def _uniform(items: Sequence[str], rng: random.Random, ok: Callable[[str], bool] | None) -> str | None:
    """Uniform among `items` passing `ok`: rejection first, an exact filtered draw if that fails."""
    if not items:
        return None
    if ok is None:
        return items[rng.randrange(len(items))]
    for _ in range(_TRIES):
        item = items[rng.randrange(len(items))]
        if ok(item):
            return item
    passing = [i for i in items if ok(i)]
    return passing[rng.randrange(len(passing))] if passing else None


def _max_quota(idx: BucketIndex, rng: random.Random, cost: int, exclude: AbstractSet[str]) -> str | None:
    ok = (lambda aid: aid not in exclude) if exclude else None
    for lvl in reversed(idx.levels):
        if lvl < cost:
            return None
        picked = _uniform(idx.by_level[lvl].items, rng, ok)
        if picked is not None:
            return picked
    return None


def _accept(idx: BucketIndex, cost: int, exclude: AbstractSet[str]) -> Callable[[str], bool] | None:
    if cost <= idx.levels[0] and not exclude:
        return None  # every indexed id qualifies
    level = idx.level
    return lambda aid: level[aid] >= cost and aid not in exclude


def _random(idx: BucketIndex, rng: random.Random, cost: int, exclude: AbstractSet[str]) -> str | None:
    ok = _accept(idx, cost, exclude)
    items = idx.slots.items
    if ok is None:
        return items[rng.randrange(len(items))]
    for _ in range(_TRIES):
        item = items[rng.randrange(len(items))]
        if ok(item):
            return item
    passing = [aid for aid in idx.ids_at_least(cost) if aid not in exclude]
    return passing[rng.randrange(len(passing))] if passing else None


def _weighted(idx: BucketIndex, rng: random.Random, cost: int, exclude: AbstractSet[str]) -> str | None:
    ok = _accept(idx, cost, exclude)
    items, tree = idx.slots.items, idx.weights
    for _ in range(_TRIES):
        item = items[tree.find(rng.randrange(tree.sum))]
        if ok is None or ok(item):
            return item
    passing = [aid for aid in idx.ids_at_least(cost) if aid not in exclude]
    if not passing:
        return None
    return rng.choices(passing, weights=[idx.level[aid] for aid in passing])[0]
