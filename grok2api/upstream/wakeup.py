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


class LazyTimer:
    """A deadline that moves with every wait and is seldom reached, kept by one timer: moving it later
    keeps the armed timer (which, fired early, re-arms for where the deadline went), moving it earlier
    re-arms now. A base class rather than a member, so that no reference cycle runs through its callback:
    its owners (one or two per stream) are freed by reference counting the moment their stream ends."""

    __slots__ = ("_loop", "_timer", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._when = math.inf

    def _arm(self, when: float) -> None:
        self._when = when
        timer = self._timer
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(when, self._fire)

    def _clear(self) -> None:
        """No deadline until the next _arm(): a timer armed meanwhile finds nothing to end."""
        self._when = math.inf

    def _cancel_timer(self) -> None:
        """Drop the timer (the owner is done): a pending TimerHandle would keep the owner alive."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        self._timer = None
        if self._when == math.inf:
            return
        if self._loop.time() >= self._when - _EARLY:
            self._reached()
        else:
            self._timer = self._loop.call_at(self._when, self._fire)

    def _reached(self) -> None:
        """The deadline has come (called on the loop)."""
        raise NotImplementedError


class Wakeup(LazyTimer):
    """The wait of one reader at a time, ended by `wake()` or by its timeout (TimeoutError)."""

    __slots__ = ("_waiter",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None = None) -> None:
        """Until the next `wake()`; TimeoutError after `timeout` seconds (None: no limit)."""
        waiter = self._waiter = self._loop.create_future()
        if timeout is not None:
            self._arm(self._loop.time() + timeout)
        try:
            await waiter
        finally:
            self._waiter = None
            self._clear()

    def cancel(self) -> None:
        """Drop the timer (the owner is done)."""
        self._cancel_timer()

    def _reached(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())
