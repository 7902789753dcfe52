"""Selection strategies over the incremental candidate index, checked against brute force."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from grok2api.pool.index import BucketIndex, Candidates, Fenwick
from grok2api.pool.model import Account
from grok2api.pool.select import STRATEGIES, normalize_strategy, select
from grok2api.storage.base import Quota


def acc(aid: str, fast: int | None = None, *, status: str = "active", cooldown: float = 0.0,
        used: float = 0.0, **buckets: int) -> Account:
    quota = {b: Quota(n, max(n, 1)) for b, n in buckets.items()}
    if fast is not None:
        quota["fast"] = Quota(fast, max(fast, 1))
    return Account(id=aid, token=f"token-{aid}-xxxxxxxxxxxx", status=status, quota=quota,
                   cooldown_until=cooldown, last_used_at=used)


def cands(*accounts: Account, now: float = 0.0) -> Candidates:
    return Candidates.build(accounts, now)


def test_strategy_names_and_aliases() -> None:
    assert [normalize_strategy(s) for s in STRATEGIES] == list(STRATEGIES)
    assert normalize_strategy("weighted_random") == "weighted"
    assert normalize_strategy("least_recent") == "lru"
    assert normalize_strategy(" Max_Quota ") == "max_quota"
    with pytest.raises(ValueError, match="unknown selection strategy 'wieghted'"):
        normalize_strategy("wieghted")  # the seed silently fell back on weighted here


def test_unknown_strategy_fails_at_select() -> None:
    with pytest.raises(ValueError):
        select(cands(acc("a", 1)), "fast", "roundrobin", random.Random(0))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empty_and_missing_bucket_give_none(strategy: str) -> None:
    rng = random.Random(0)
    assert select(Candidates(), "fast", strategy, rng) is None
    assert select(cands(acc("a", 5)), "image", strategy, rng) is None
    assert select(cands(acc("a", 0)), "fast", strategy, rng) is None


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cost_and_exclude_filter(strategy: str) -> None:
    c = cands(acc("a", 1), acc("b", 3), acc("c", 5))
    rng = random.Random(1)
    for _ in range(50):
        picked = select(c, "fast", strategy, rng, cost=4)
        assert picked is not None and picked.id == "c"
        picked = select(c, "fast", strategy, rng, cost=2, exclude={"c"})
        assert picked is not None and picked.id == "b"
    assert select(c, "fast", strategy, rng, cost=6) is None
    assert select(c, "fast", strategy, rng, exclude={"a", "b", "c"}) is None


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_unusable_accounts_are_never_picked(strategy: str) -> None:
    c = cands(acc("ok", 1), acc("bad", 50, status="invalid"), acc("off", 50, status="disabled"),
              acc("cool", 50, status="cooling", cooldown=100.0), now=10.0)
    rng = random.Random(2)
    assert {select(c, "fast", strategy, rng).id for _ in range(40)} == {"ok"}  # type: ignore[union-attr]


def test_max_quota_takes_the_most_and_breaks_ties_randomly() -> None:
    c = cands(acc("a", 3), acc("b", 9), acc("c", 9), acc("d", 1))
    rng = random.Random(3)
    seen = Counter(select(c, "fast", "max_quota", rng).id for _ in range(400))  # type: ignore[union-attr]
    assert set(seen) == {"b", "c"} and min(seen.values()) > 140


def test_random_is_uniform() -> None:
    c = cands(*(acc(f"a{i}", 1 + i * 10) for i in range(4)))
    rng = random.Random(4)
    seen = Counter(select(c, "fast", "random", rng).id for _ in range(4000))  # type: ignore[union-attr]
    assert set(seen) == {"a0", "a1", "a2", "a3"}
    assert all(850 < n < 1150 for n in seen.values()), seen


def test_weighted_is_proportional_to_quota() -> None:
    c = cands(acc("a", 1), acc("b", 3), acc("c", 6))
    rng = random.Random(5)
    seen = Counter(select(c, "fast", "weighted", rng).id for _ in range(10000))  # type: ignore[union-attr]
    assert 800 < seen["a"] < 1200 and 2700 < seen["b"] < 3300 and 5600 < seen["c"] < 6400, seen


def test_weighted_with_cost_stays_proportional_among_the_rest() -> None:
    c = cands(acc("a", 1), acc("b", 2), acc("c", 4), *(acc(f"x{i}", 1) for i in range(30)))
    rng = random.Random(6)
    seen = Counter(select(c, "fast", "weighted", rng, cost=2).id for _ in range(6000))  # type: ignore[union-attr]
    assert set(seen) == {"b", "c"} and 1750 < seen["b"] < 2250, seen


def test_lru_takes_the_least_recently_used() -> None:
    c = cands(acc("a", 5, used=30.0), acc("b", 5, used=10.0), acc("c", 5, used=20.0))
    rng = random.Random(7)
    first = select(c, "fast", "lru", rng)
    assert first is not None and first.id == "b"
    first.last_used_at = 40.0
    c.put(first, 0.0)
    second = select(c, "fast", "lru", rng)
    assert second is not None and second.id == "c"
    assert select(c, "fast", "lru", rng, exclude={"c"}).id == "a"  # type: ignore[union-attr]
    assert select(c, "fast", "lru", rng).id == "c"  # skipped entries were put back  # type: ignore[union-attr]


def test_cooling_account_returns_when_cooldown_passes() -> None:
    a = acc("a", 5, status="cooling", cooldown=100.0)
    c = cands(a, now=50.0)
    rng = random.Random(8)
    assert select(c, "fast", "max_quota", rng) is None
    assert c.wake(99.0) == 0
    assert c.wake(100.0) == 1
    assert select(c, "fast", "max_quota", rng) is a


def test_a_stale_wake_entry_does_not_revive_a_recooled_account() -> None:
    a = acc("a", 5, status="cooling", cooldown=100.0)
    c = cands(a, now=50.0)
    a.cooldown_until = 500.0
    c.put(a, 60.0)
    assert c.wake(200.0) == 0
    assert select(c, "fast", "random", random.Random(0)) is None
    assert c.wake(500.0) == 1


def test_buckets_are_independent() -> None:
    c = cands(acc("a", 0, image=4), acc("b", 7, image=0))
    rng = random.Random(9)
    assert select(c, "fast", "max_quota", rng).id == "b"  # type: ignore[union-attr]
    assert select(c, "image", "max_quota", rng).id == "a"  # type: ignore[union-attr]


def test_fenwick_find_matches_prefix_sums() -> None:
    rng = random.Random(10)
    weights = [rng.randint(0, 5) for _ in range(300)]
    tree = Fenwick()
    for i, w in enumerate(weights):
        tree.set(i, w)
    assert tree.sum == sum(weights)
    bulk = Fenwick.from_weights(weights)
    acc_sum = 0
    for slot, w in enumerate(weights):
        for t in range(acc_sum, acc_sum + w):
            assert tree.find(t) == slot
            assert bulk.find(t) == slot
        acc_sum += w


def _check_index(idx: BucketIndex, truth: dict[str, int]) -> None:
    """Every structure of the index agrees with the plain truth."""
    live = {k: v for k, v in truth.items() if v > 0}
    assert idx.level == live
    assert sorted(idx.slots.items) == sorted(live)
    assert all(idx.slots.items[i] == k for k, i in idx.slots.pos.items())
    assert idx.weights.sum == sum(live.values())
    for slot, aid in enumerate(idx.slots.items):
        assert idx.weights.weights[slot] == live[aid]
    assert idx.levels == sorted(set(live.values()))
    for lvl, group in idx.by_level.items():
        assert sorted(group.items) == sorted(k for k, v in live.items() if v == lvl)


def test_incremental_updates_agree_with_a_rebuild() -> None:
    rng = random.Random(11)
    accounts = {f"a{i}": acc(f"a{i}", rng.randint(0, 6), used=rng.random()) for i in range(60)}
    c = cands(*accounts.values())
    idx = c.bucket("fast")
    for step in range(3000):
        a = accounts[f"a{rng.randrange(60)}"]
        op = rng.random()
        if op < 0.6:
            a.quota["fast"].remaining = rng.randint(0, 6)
            a.last_used_at = step
            c.put(a, 0.0)
        elif op < 0.8:
            c.discard(a.id)
            c.put(a, 0.0)
        else:
            a.status = "disabled" if a.status == "active" else "active"
            c.put(a, 0.0)
        if step % 200 == 0:
            truth = {k: v.remaining("fast") for k, v in accounts.items() if v.status == "active"}
            _check_index(idx, truth)
            fresh = cands(*accounts.values()).bucket("fast")
            assert fresh.level == idx.level
    truth = {k: v.remaining("fast") for k, v in accounts.items() if v.status == "active"}
    _check_index(idx, truth)
    # each strategy answers what brute force says it should
    best = max(truth.values())
    assert select(c, "fast", "max_quota", rng).remaining("fast") == best  # type: ignore[union-attr]
    oldest = min((a.last_used_at, a.id) for a in accounts.values() if a.status == "active" and a.remaining("fast") > 0)
    assert select(c, "fast", "lru", rng).id == oldest[1]  # type: ignore[union-attr]


def test_exact_fallback_when_most_candidates_are_excluded() -> None:
    c = cands(*(acc(f"a{i}", 5) for i in range(200)))
    exclude = {f"a{i}" for i in range(199)}
    for strategy in STRATEGIES:
        assert select(c, "fast", strategy, random.Random(12), exclude=exclude).id == "a199"  # type: ignore[union-attr]
