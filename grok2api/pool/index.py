"""Incremental candidate indexes per pool and bucket, so selection never scans every account."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable

from .model import Account


class Slots:
    """A list of ids with O(1) add, remove (swap with the last) and position lookup."""

    __slots__ = ("items", "pos")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.pos

    def add(self, item: str) -> int:
        self.pos[item] = len(self.items)
        self.items.append(item)
        return len(self.items) - 1

    def remove(self, item: str) -> tuple[int, int]:
        """Remove `item`; returns (its slot, the former last slot whose item moved into it)."""
        i = self.pos.pop(item)
        last_i = len(self.items) - 1
        last = self.items.pop()
        if i != last_i:
            self.items[i] = last
            self.pos[last] = i
        return i, last_i


class Fenwick:
    """Prefix sums over slot weights: O(log n) update and weighted pick."""

    __slots__ = ("tree", "cap", "weights", "sum")

    def __init__(self, cap: int = 64) -> None:
        self.cap = cap
        self.tree = [0] * (cap + 1)
        self.weights = [0] * cap
        self.sum = 0

    @classmethod
    def from_weights(cls, weights: list[int]) -> Fenwick:
        cap = 64
        while cap < len(weights):
            cap *= 2
        tree = cls(cap)
        tree._rebuild(weights + [0] * (cap - len(weights)))
        return tree

    def _rebuild(self, weights: list[int]) -> None:
        self.cap = len(weights)
        self.weights = weights
        self.sum = sum(weights)
        tree = [0, *weights]  # linear-time build
        cap = self.cap
        for i in range(1, cap + 1):
            j = i + (i & -i)
            if j <= cap:
                tree[j] += tree[i]
        self.tree = tree

    def _grow(self) -> None:
        self._rebuild(self.weights + [0] * self.cap)

    def set(self, slot: int, weight: int) -> None:
        while slot >= self.cap:
            self._grow()
        delta = weight - self.weights[slot]
        if not delta:
            return
        self.weights[slot] = weight
        self.sum += delta
        i = slot + 1
        tree, cap = self.tree, self.cap
        while i <= cap:
            tree[i] += delta
            i += i & -i

    def find(self, target: int) -> int:
        """The slot whose cumulative weight range holds `target` (0 <= target < total)."""
        pos, rem, tree, cap = 0, target, self.tree, self.cap
        step = 1 << (cap.bit_length() - 1)
        while step:
            nxt = pos + step
            if nxt <= cap and tree[nxt] <= rem:
                pos = nxt
                rem -= tree[nxt]
            step >>= 1
        return pos


class BucketIndex:
    """Accounts of one pool that are usable now and hold quota in one bucket.

    Kept three ways so each strategy is cheap: by quota level (max_quota), as flat slots with
    quota weights (random, weighted) and as a lazy heap on last use (lru).
    """

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.level: dict[str, int] = {}  # remaining units as indexed
        self.used: dict[str, float] = {}  # last_used_at as indexed
        self.slots = Slots()
        self.weights = Fenwick()
        self.by_level: dict[int, Slots] = {}
        self.levels: list[int] = []  # non-empty levels, ascending
        self.heap: list[tuple[float, str]] = []

    @classmethod
    def bulk(cls, entries: Iterable[tuple[Account, int]]) -> BucketIndex:
        """Build from (account, remaining) pairs in one pass (a reload of 100k accounts)."""
        idx = cls()
        kept = [(acc, left) for acc, left in entries if left > 0]
        ids = [acc.id for acc, _ in kept]
        idx.slots.items = ids
        idx.slots.pos = {aid: i for i, aid in enumerate(ids)}
        idx.accounts = {acc.id: acc for acc, _ in kept}
        idx.level = {acc.id: left for acc, left in kept}
        idx.used = {acc.id: acc.last_used_at for acc, _ in kept}
        idx.weights = Fenwick.from_weights([left for _, left in kept])
        for aid, left in idx.level.items():
            group = idx.by_level.get(left)
            if group is None:
                group = idx.by_level[left] = Slots()
            group.pos[aid] = len(group.items)
            group.items.append(aid)
        idx.levels = sorted(idx.by_level)
        idx.heap = [(t, aid) for aid, t in idx.used.items()]
        heapq.heapify(idx.heap)
        return idx

    def __len__(self) -> int:
        return len(self.level)

    def __contains__(self, account_id: str) -> bool:
        return account_id in self.level

    def put(self, account: Account, remaining: int) -> None:
        """Insert or re-index an account; one with nothing left leaves the index."""
        aid = account.id
        if remaining <= 0:
            self.discard(aid)
            return
        old = self.level.get(aid)
        if old is None:
            slot = self.slots.add(aid)
            self.weights.set(slot, remaining)
            self._level_add(aid, remaining)
        elif old != remaining:
            self.weights.set(self.slots.pos[aid], remaining)
            self._level_remove(aid, old)
            self._level_add(aid, remaining)
        self.level[aid] = remaining
        self.accounts[aid] = account
        if self.used.get(aid) != account.last_used_at:
            self.used[aid] = account.last_used_at
            heapq.heappush(self.heap, (account.last_used_at, aid))
            if len(self.heap) > 2 * len(self.used) + 64:
                self.heap = [(t, i) for i, t in self.used.items()]
                heapq.heapify(self.heap)

    def discard(self, account_id: str) -> None:
        old = self.level.pop(account_id, None)
        if old is None:
            return
        slot, last = self.slots.remove(account_id)
        if slot != last:
            self.weights.set(slot, self.weights.weights[last])
        self.weights.set(last, 0)
        self._level_remove(account_id, old)
        del self.accounts[account_id]
        del self.used[account_id]  # its heap entries are now stale and skipped

    def _level_add(self, aid: str, lvl: int) -> None:
        group = self.by_level.get(lvl)
        if group is None:
            group = self.by_level[lvl] = Slots()
            bisect.insort(self.levels, lvl)
        group.add(aid)

    def _level_remove(self, aid: str, lvl: int) -> None:
        group = self.by_level[lvl]
        group.remove(aid)
        if not group:
            del self.by_level[lvl]
            self.levels.pop(bisect.bisect_left(self.levels, lvl))

    def ids_at_least(self, cost: int) -> Iterable[str]:
        """Every indexed id with at least `cost` units (walks only the levels that qualify)."""
        for lvl in reversed(self.levels):
            if lvl < cost:
                break
            yield from self.by_level[lvl].items

    def least_recent(self, accept: Callable[[str], bool]) -> str | None:
        """The accepted id used longest ago (ties by id); skipped entries are put back."""
        heap, used = self.heap, self.used
        skipped: list[tuple[float, str]] = []
        found: str | None = None
        while heap:
            entry = heap[0]
            if used.get(entry[1]) != entry[0]:
                heapq.heappop(heap)  # stale: re-indexed or discarded since
                continue
            if accept(entry[1]):
                found = entry[1]
                break
            skipped.append(heapq.heappop(heap))
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found


class Candidates:
    """One pool's accounts: per-bucket indexes of the usable ones, and cooling ones waiting.

    A bucket's index is built on first use, so a reload only pays for the buckets requests
    actually ask for; afterwards every change re-indexes incrementally.
    """

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.usable: dict[str, Account] = {}  # usable at the last put/wake (quota aside)
        self.buckets: dict[str, BucketIndex] = {}
        self.sleeping: list[tuple[float, str]] = []  # (cooldown_until, id)

    @classmethod
    def build(cls, accounts: Iterable[Account], now: float) -> Candidates:
        c = cls()
        for acc in accounts:
            c.put(acc, now)
        return c

    def __len__(self) -> int:
        return len(self.accounts)

    def bucket(self, name: str) -> BucketIndex:
        idx = self.buckets.get(name)
        if idx is None:
            idx = self.buckets[name] = BucketIndex.bulk(
                (acc, q.remaining) for acc in self.usable.values() if (q := acc.quota.get(name)) is not None)
        return idx

    def put(self, account: Account, now: float) -> None:
        """Insert or re-index after any change of status, cooldown, quota or last use."""
        aid = account.id
        self.accounts[aid] = account
        if not account.usable(now):
            self.usable.pop(aid, None)
            self._unindex(aid)
            if account.status == "cooling":
                heapq.heappush(self.sleeping, (account.cooldown_until, aid))
            return
        self.usable[aid] = account
        for name, idx in self.buckets.items():
            q = account.quota.get(name)
            idx.put(account, q.remaining if q is not None else 0)

    def discard(self, account_id: str) -> None:
        self.accounts.pop(account_id, None)
        self.usable.pop(account_id, None)
        self._unindex(account_id)

    def _unindex(self, account_id: str) -> None:
        for idx in self.buckets.values():
            idx.discard(account_id)

    def wake(self, now: float) -> int:
        """Index the cooling accounts whose cooldown is over; returns how many came back."""
        woken = 0
        while self.sleeping and self.sleeping[0][0] <= now:
            until, aid = heapq.heappop(self.sleeping)
            acc = self.accounts.get(aid)
            if acc is not None and acc.cooldown_until == until and acc.usable(now) and aid not in self.usable:
                self.put(acc, now)
                woken += 1
        return woken
