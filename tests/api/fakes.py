"""A hand-written fake gateway that plays scripted events (used until the tests run on fakegrok)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from grok2api.gateway.jobs import ChatJob
from grok2api.upstream.events import Done, Event, TextDelta

# A script step: an event to yield, a number of seconds to sleep, an asyncio.Event to wait for
# (a gate the test opens), or an exception to raise.
Step = Any


class FakeGateway:
    """Records jobs and counts open "reservations" (generators not yet finished or closed)."""

    def __init__(self, script: Callable[[ChatJob], list[Step]] | None = None) -> None:
        self.script = script or (lambda job: [TextDelta("Hello"), TextDelta(" world"), Done()])
        self.jobs: list[ChatJob] = []
        self.open = 0
        self.released = 0
        self.raise_on_call: Exception | None = None
        self.started = asyncio.Event()

    def chat(self, job: ChatJob) -> AsyncIterator[Event]:
        if self.raise_on_call is not None:
            raise self.raise_on_call
        self.jobs.append(job)
        return self._play(self.script(job))

    async def _play(self, steps: list[Step]) -> AsyncIterator[Event]:
        self.open += 1
        self.started.set()
        try:
            for step in steps:
                if isinstance(step, (int, float)):
                    await asyncio.sleep(step)
                elif isinstance(step, asyncio.Event):
                    await step.wait()
                elif isinstance(step, BaseException):
                    raise step
                else:
                    yield step
        finally:
            self.open -= 1
            self.released += 1
