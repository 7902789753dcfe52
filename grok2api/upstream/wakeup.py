"""One reader woken by callbacks, its timeouts kept by a timer armed lazily: once per period, not per wait.

A stream's reader waits once per token. `asyncio.timeout()` around each wait pushes and cancels a
heap timer and asks for the running loop three times, and on Python 3.11 every such lookup is a
getpid() system call: on the benchmark VM that was a tenth of the gateway's CPU per streamed token.
Here a wait only moves a deadline; the one timer fires when the earliest deadline it was armed for
comes, and either ends the wait or re-arms itself for the deadline that moved on meanwhile.
"""

from __future__ import annotations

import asyncio
import math

# call_at may run a timer up to the loop's clock resolution early; a deadline this close counts as reached.
_EARLY = 1e-3


class Wakeup:
    """The wait of one reader at a time, ended by `wake()` or by its timeout (TimeoutError)."""

    __slots__ = ("_loop", "_waiter", "_timer", "_deadline")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = math.inf

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None = None) -> None:
        """Until the next `wake()`; TimeoutError after `timeout` seconds (None: no limit)."""
        waiter = self._waiter = self._loop.create_future()
        if timeout is None:
            self._deadline = math.inf  # a timer armed for an earlier wait finds nothing to end
        else:
            self._arm(self._loop.time() + timeout)
        try:
            await waiter
        finally:
            self._waiter = None

    def cancel(self) -> None:
        """Drop the timer (the owner is done): a pending TimerHandle would keep the owner alive."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _arm(self, deadline: float) -> None:
        self._deadline = deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._deadline == math.inf:
            return
        if self._loop.time() >= self._deadline - _EARLY:
            waiter.set_exception(TimeoutError())
        else:
            self._timer = self._loop.call_at(self._deadline, self._expire)
