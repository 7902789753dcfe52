"""The lazily armed timeout of one reader's wait (upstream/wakeup.py): it ends a wait that overran,
never one that was woken or whose deadline moved on, and keeps one timer for many waits."""

from __future__ import annotations

import asyncio

import pytest

from grok2api.upstream.wakeup import Wakeup


async def test_a_wait_ends_with_wake() -> None:
    loop = asyncio.get_running_loop()
    w = Wakeup(loop)
    loop.call_later(0.01, w.wake)
    await w.wait(5.0)
    w.cancel()


async def test_a_wait_without_a_wake_times_out() -> None:
    w = Wakeup(asyncio.get_running_loop())
    with pytest.raises(TimeoutError):
        await w.wait(0.02)


async def test_many_woken_waits_share_one_timer_and_a_late_one_still_times_out() -> None:
    loop = asyncio.get_running_loop()
    w = Wakeup(loop)
    timers = set()
    for _ in range(50):
        loop.call_soon(w.wake)
        await w.wait(0.3)
        timers.add(id(w._timer))
    assert len(timers) == 1  # armed once: later waits only moved the deadline
    with pytest.raises(TimeoutError):
        await w.wait(0.05)


async def test_the_deadline_moves_with_each_wait() -> None:
    # The first wait arms the timer for 0.1 s; the second, woken at 0.08 s, is then waited on again with a
    # fresh 0.1 s: the old timer fires meanwhile and must re-arm rather than end the new wait.
    loop = asyncio.get_running_loop()
    w = Wakeup(loop)
    loop.call_later(0.08, w.wake)
    await w.wait(0.1)
    loop.call_later(0.08, w.wake)
    await w.wait(0.1)  # would raise if the first timer ended it at 0.1 s
    w.cancel()


async def test_a_shorter_timeout_re_arms_earlier() -> None:
    w = Wakeup(asyncio.get_running_loop())
    asyncio.get_running_loop().call_soon(w.wake)
    await w.wait(60.0)
    with pytest.raises(TimeoutError):
        await w.wait(0.02)  # not held to the 60 s timer of the wait before


async def test_a_wait_without_timeout_is_not_ended_by_an_earlier_timer() -> None:
    loop = asyncio.get_running_loop()
    w = Wakeup(loop)
    loop.call_soon(w.wake)
    await w.wait(0.02)
    loop.call_later(0.1, w.wake)
    await w.wait(None)  # the 0.02 s timer fires during it and must leave it alone


async def test_cancel_drops_the_timer_and_a_cancelled_wait_leaves_no_waiter() -> None:
    loop = asyncio.get_running_loop()
    w = Wakeup(loop)
    task = asyncio.create_task(w.wait(30.0))
    await asyncio.sleep(0)
    assert w._timer is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert w._waiter is None
    w.cancel()
    assert w._timer is None
    w.wake()  # nothing waits: a no-op
