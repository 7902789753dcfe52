"""How a reader (an API writer, a video job) takes a gateway call's events, with a timeout per event.

`EventPump` runs the generator in its own task and the writer waits on a list (cancel-safe) instead
of on the generator itself, so sending a keepalive never throws into the gateway mid-call.
`InlineEvents` runs it in the reader's own task, for readers that only wait (a non-streamed
answer). Either way `close()` closes the generator, which is how the gateway learns to release the
account's reservation when a client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..upstream.wakeup import LazyTimer, Wakeup

END = object()  # the generator finished normally


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class EventPump:
    """A list and two wakeups instead of an asyncio.Queue and a timeout context: the reader waits once
    per token, and those cost a timer and several running-loop lookups (getpid calls) per wait."""

    def __init__(self, events: AsyncIterator[Any], maxsize: int = 64) -> None:
        loop = asyncio.get_running_loop()
        self._events = events
        self._items: list[Any] = []  # a few at most: the reader takes them as they come
        self._max = maxsize
        self._ready = Wakeup(loop)  # the reader waits here for an item
        self._room = Wakeup(loop)  # the pump waits here while the reader is `maxsize` behind
        self._failure: BaseException | None = None
        self._task = loop.create_task(self._run(), name="event-pump")

    async def _run(self) -> None:
        try:
            async for event in self._events:
                await self._put(event)
        except Exception as exc:  # handed to the writer, which knows how to report it
            await self._put(_Failed(exc))
            return
        await self._put(END)

    async def _put(self, item: Any) -> None:
        while len(self._items) >= self._max:
            await self._room.wait()
        self._items.append(item)
        self._ready.wake()

    def _take(self) -> Any:
        item = self._items.pop(0)
        self._room.wake()
        return item

    async def next(self, timeout: float) -> Any:
        """The next event or END; raises the generator's exception, or TimeoutError."""
        if self._failure is not None:
            raise self._failure
        if not self._items:
            await self._ready.wait(max(0.0, timeout))  # only an append wakes it: an item is there
        item = self._take()
        if isinstance(item, _Failed):
            raise item.error
        return item

    def ready(self) -> list[Any]:
        """Events already waiting, without blocking; a failure among them is kept for next()."""
        items = []
        while self._items:
            item = self._take()
            if isinstance(item, _Failed):
                self._failure = item.error
                break
            items.append(item)
        return items

    async def close(self) -> None:
        self._ready.cancel()
        self._room.cancel()
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


class InlineEvents(LazyTimer):
    """The generator run by its reader's task: no task and no hand-off per event, which a non-streamed
    answer (it sends no keepalives, so never stops waiting to do something else) does not need.

    A timeout ends the call as asyncio.timeout() would: the reader is cancelled inside the generator,
    which cleans up as for a client that left, and the wait raises TimeoutError. The deadline moves
    with each event on one lazily armed timer (wakeup.LazyTimer), since on Python 3.11 an
    asyncio.timeout() per event costs three getpid calls and a heap timer."""

    __slots__ = ("_events", "_task", "_expired")

    def __init__(self, events: AsyncIterator[Any]) -> None:
        super().__init__(asyncio.get_running_loop())
        self._events = events
        self._task: asyncio.Task[Any] | None = None
        self._expired = False

    async def next(self, timeout: float) -> Any:
        """The next event or END; raises the generator's exception, or TimeoutError."""
        if self._task is None:
            self._task = asyncio.current_task()
        self._arm(self._loop.time() + max(0.0, timeout))
        try:
            return await anext(self._events)
        except StopAsyncIteration:
            return END
        except asyncio.CancelledError:
            if self._expired and self._task is not None and self._task.uncancel() == 0:
                raise TimeoutError from None  # our own cancel, and nobody else's is pending
            raise
        finally:
            self._clear()  # between events nothing is timed
            self._expired = False

    def ready(self) -> list[Any]:
        """Nothing waits here: each event is taken when the generator yields it."""
        return []

    async def close(self) -> None:
        self._cancel_timer()
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    def _reached(self) -> None:
        if self._task is not None:
            self._expired = True
            self._task.cancel()
