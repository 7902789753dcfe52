"""A semaphore over bytes: how much attachment data one worker lets fetches and uploads hold at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class BudgetExhausted(Exception):
    """No room came free within the wait: the worker is busy with other attachments."""


class ByteBudget:
    """`hold(n)` waits until n bytes fit under the capacity (n above it is taken as the whole
    capacity, so one big holder runs alone instead of never). Each holder takes its share once and
    gives it back when done, so holders never wait on one another while holding: no deadlock."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.used = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, n: int, wait: float) -> AsyncIterator[None]:
        n = max(0, min(n, self.capacity))
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.used + n <= self.capacity), wait)
            except TimeoutError:
                raise BudgetExhausted(f"{self.used} of {self.capacity} attachment bytes are in use") from None
            self.used += n
        try:
            yield
        finally:
            async with self._changed:
                self.used -= n
                self._changed.notify_all()
