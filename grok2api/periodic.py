"""periodic(name, fn, every): the one way a background loop runs, is cancelled and is awaited."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Every = float | Callable[[], float]


async def _tick(name: str, fn: Callable[[], Awaitable[Any]]) -> None:
    try:
        await fn()
    except Exception as exc:  # a storage or network hiccup must not end the loop: the next tick retries
        log.warning("%s failed (next try in one period): %s", name, exc)


async def _loop(name: str, fn: Callable[[], Awaitable[Any]], every: Every, at_start: bool) -> None:
    if at_start:
        await _tick(name, fn)
    while True:
        # Read each period: a callable `every` follows live settings without a restart.
        await asyncio.sleep(every() if callable(every) else every)
        await _tick(name, fn)


@contextlib.asynccontextmanager
async def periodic(name: str, fn: Callable[[], Awaitable[Any]], every: Every, *,
                   at_start: bool = False) -> AsyncIterator[asyncio.Task[None]]:
    """Run `fn` every `every` seconds (first after one period, or at once with `at_start`) while the
    block runs; on exit the task is cancelled and awaited. A failing `fn` is logged, never fatal."""
    task = asyncio.create_task(_loop(name, fn, every, at_start), name=name)
    try:
        yield task
    finally:
        task.cancel()
        # asyncio.wait rather than `await task` under suppress(CancelledError): a cancellation of the
        # task running this block (a shutdown arriving right now) must propagate, never be swallowed.
        await asyncio.wait({task})
