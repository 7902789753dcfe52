"""The two ways a reader takes a gateway call's events: EventPump (own task) and InlineEvents (the reader's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from grok2api.gateway.pump import END, EventPump, InlineEvents


class Call:
    """A gateway call's stand-in: yields `items` (pausing where an item is a float, in seconds) and
    records how it ended, as Gateway._run settles or releases the account."""

    def __init__(self, *items: Any) -> None:
        self.items = items
        self.ended = ""

    async def events(self) -> AsyncIterator[Any]:
        try:
            for item in self.items:
                if isinstance(item, float):
                    await asyncio.sleep(item)
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item
        except BaseException as exc:
            self.ended = type(exc).__name__
            raise
        self.ended = "finished"


async def drain(source: EventPump | InlineEvents, timeout: float = 5.0) -> list[Any]:
    """Every event until END, taken as Answer takes them (what is ready goes with the one awaited)."""
    out: list[Any] = []
    while True:
        for item in [await source.next(timeout), *source.ready()]:
            if item is END:
                return out
            out.append(item)


@pytest.mark.parametrize("kind", [EventPump, InlineEvents])
async def test_events_arrive_in_order_then_the_end(kind: type[EventPump] | type[InlineEvents]) -> None:
    call = Call("a", 0.01, "b", "c", 0.01, "d")
    source = kind(call.events())
    assert await drain(source) == ["a", "b", "c", "d"]
    await source.close()
    assert call.ended == "finished"


@pytest.mark.parametrize("kind", [EventPump, InlineEvents])
async def test_the_generators_error_reaches_the_reader(kind: type[EventPump] | type[InlineEvents]) -> None:
    call = Call("a", ValueError("upstream said no"))
    source = kind(call.events())
    assert await source.next(5) == "a"
    with pytest.raises(ValueError, match="upstream said no"):
        await source.next(5)
    await source.close()
    assert call.ended == "ValueError"


@pytest.mark.parametrize("kind", [EventPump, InlineEvents])
async def test_close_before_the_end_ends_the_call(kind: type[EventPump] | type[InlineEvents]) -> None:
    """A client that leaves: the call is ended inside the generator (where the account is released)."""
    call = Call("a", 30.0, "never")
    source = kind(call.events())
    assert await source.next(5) == "a"
    if kind is EventPump:
        await asyncio.sleep(0.01)  # the pump's task is now parked in the generator's wait
    await source.close()
    assert call.ended in ("CancelledError", "GeneratorExit")


async def test_the_pumps_timeout_leaves_the_call_running() -> None:
    """EventPump: a writer that stops waiting (a keepalive is due) does not touch the call."""
    call = Call("a", 0.2, "b")
    pump = EventPump(call.events())
    assert await pump.next(5) == "a"
    with pytest.raises(TimeoutError):
        await pump.next(0.02)
    assert call.ended == ""
    assert await pump.next(5) == "b"
    assert await pump.next(5) is END
    await pump.close()


async def test_an_inline_timeout_ends_the_call_and_is_a_timeout() -> None:
    """InlineEvents: silence past the timeout cancels the call inside the generator (its cleanup runs)
    and the reader sees TimeoutError, not a cancellation of its own task."""
    call = Call("a", 30.0, "never")
    source = InlineEvents(call.events())
    assert await source.next(5) == "a"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await source.next(0.05)
    assert loop.time() - started < 5  # ended by the timeout, not by the 30 s wait
    assert call.ended == "CancelledError"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left to cancel this task later
    await source.close()


async def test_an_inline_deadline_moves_with_each_event() -> None:
    """Events that keep coming within the timeout never time out, however long the whole call takes."""
    call = Call(*[x for i in range(8) for x in (0.03, i)])
    source = InlineEvents(call.events())
    assert await drain(source, timeout=0.1) == list(range(8))
    await source.close()
    assert call.ended == "finished"


async def test_cancelling_the_inline_reader_stays_a_cancellation() -> None:
    """Shutdown cancels the handler: that must not turn into a TimeoutError (a 504 to the client)."""
    call = Call(30.0, "never")
    source = InlineEvents(call.events())
    reader = asyncio.ensure_future(source.next(0.5))
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert call.ended == "CancelledError"
    await source.close()
