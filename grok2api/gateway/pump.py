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

END = object()  # the generator finished normally


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class EventPump:
    def __init__(self, events: AsyncIterator[Any], maxsize: int = 64) -> None:
        self._events = events
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self._failure: BaseException | None = None
        self._task = asyncio.create_task(self._run(), name="event-pump")

    async def _run(self) -> None:
        try:
            async for event in self._events:
                await self._queue.put(event)
        except Exception as exc:  # handed to the writer, which knows how to report it
            await self._queue.put(_Failed(exc))
            return
        await self._queue.put(END)

    async def next(self, timeout: float) -> Any:
        """The next event or END; raises the generator's exception, or TimeoutError."""
        if self._failure is not None:
            raise self._failure
        if self._queue.empty():
            async with asyncio.timeout(max(0.0, timeout)):
                item = await self._queue.get()
        else:
            item = self._queue.get_nowait()
        if isinstance(item, _Failed):
            raise item.error
        return item

    def ready(self) -> list[Any]:
        """Events already waiting, without blocking; a failure among them is kept for next()."""
        items = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Failed):
                self._failure = item.error
                break
            items.append(item)
        return items

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
