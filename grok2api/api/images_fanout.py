"""Image fan-out: a request's n images as parallel upstream rounds feeding one queue.

Generations run as ceil(n / per_round) rounds, each asking for at most
`image.image_ws_max_per_request` (capped at 6) images; all rounds of all requests share one
semaphore of `performance.media_max_concurrent` (MEDIA_SLOTS, sized when the app starts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, UpstreamFailed
from ..upstream.events import Event, ImageProgress, ImageReady

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    """The images of one request as they arrive from one or more upstream rounds."""

    n: int
    images: dict[int, ImageReady] = field(default_factory=dict)
    moderated: int = 0
    errors: list[ApiError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return max(0, self.n - len(self.images) - self.moderated)


async def _round(events: Callable[[], AsyncIterator[Event]], offset: int, slots: asyncio.Semaphore,
                 out: asyncio.Queue[Any]) -> None:
    async with slots:
        try:
            async for event in events():
                if isinstance(event, (ImageReady, ImageProgress)):
                    event.slot += offset
                    await out.put(event)
        except ApiError as exc:
            await out.put(exc)
        except Exception:  # a bug in one round must not hide the other rounds' images
            log.exception("image round failed")
            await out.put(UpstreamFailed("internal error while generating an image", code="internal_error"))


def plan_rounds(n: int, per_round: int) -> list[tuple[int, int]]:
    """(offset, count) of each upstream round."""
    per_round = max(1, min(6, per_round))
    return [(start, min(per_round, n - start)) for start in range(0, n, per_round)]


class Producer:
    """Runs the rounds as tasks feeding one queue; `None` marks the end."""

    def __init__(self, rounds: list[Callable[[], AsyncIterator[Event]]], offsets: list[int],
                 slots: asyncio.Semaphore) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.tasks = [asyncio.create_task(_round(r, o, slots, self.queue)) for r, o in zip(rounds, offsets)]
        self._waiter = asyncio.create_task(self._finish())

    async def _finish(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.queue.put(None)

    async def close(self) -> None:
        for task in (*self.tasks, self._waiter):
            task.cancel()
        await asyncio.gather(*self.tasks, self._waiter, return_exceptions=True)
