"""Runs an event generator in its own task so its reader (an API writer, a video job) can wait with timeouts.

The writer waits on a queue (cancel-safe) instead of on the generator itself, so sending a
keepalive or giving up on an idle upstream never throws into the gateway mid-call; `close()`
cancels the task and closes the generator, which is how the gateway learns to release the
account's reservation when a client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..upstream.wakeup import Wakeup

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
