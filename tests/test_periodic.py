"""periodic(): rounds, failures that do not end the loop, at_start, and cancellation at exit."""

from __future__ import annotations

import asyncio

import pytest

from grok2api.periodic import periodic


async def test_runs_round_after_round_and_stops_at_exit() -> None:
    rounds = 0
    third = asyncio.Event()

    async def tick() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            third.set()

    async with periodic("test-rounds", tick, 0) as task:
        await third.wait()
    assert task.cancelled()
    seen = rounds
    await asyncio.sleep(0)
    assert rounds == seen  # nothing runs after the block


async def test_a_failing_round_does_not_end_the_loop() -> None:
    calls = 0
    recovered = asyncio.Event()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        recovered.set()

    async with periodic("test-flaky", flaky, lambda: 0.0):
        await recovered.wait()
    assert calls >= 2


async def test_at_start_runs_before_the_first_period() -> None:
    ran = asyncio.Event()

    async def tick() -> None:
        ran.set()

    async with periodic("test-start", tick, 3600, at_start=True):
        await ran.wait()  # would hang for an hour without at_start
    async with periodic("test-no-start", tick, 3600) as task:
        ran.clear()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not ran.is_set() and not task.done()


async def test_cancelling_the_owner_while_the_loop_stops_propagates() -> None:
    """A shutdown that cancels the owning task during the exit must not be swallowed."""
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_to_stop() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()  # still cleaning up when the owner is cancelled
            raise

    async def owner() -> str:
        async with periodic("test-owner", slow_to_stop, 3600, at_start=True):
            await started.wait()
        return "finished as if nothing happened"

    task = asyncio.create_task(owner())
    await started.wait()
    for _ in range(3):  # let the owner leave the block and wait for the loop to stop
        await asyncio.sleep(0)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
