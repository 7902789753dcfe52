"""Repeated identical log lines are rate-limited (issue 18, point 5: 731 MB of one line in two minutes)."""

from __future__ import annotations

import logging

from grok2api.logsetup import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, level: int = logging.ERROR, name: str = "asyncio") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_flood_of_one_line_becomes_one_line_per_window_with_a_count() -> None:
    clock = Clock()
    flt = RepeatFilter(window=10, clock=clock)
    shown = [r for r in (_record("socket.accept() out of system resource: %s", "Too many open files")
                         for _ in range(100_000)) if flt.filter(r)]
    assert len(shown) == 1 and shown[0].getMessage().endswith("Too many open files")
    clock.now = 10.5
    later = _record("socket.accept() out of system resource: %s", "Too many open files")
    assert flt.filter(later)
    assert later.getMessage() == "socket.accept() out of system resource: Too many open files " \
                                 "(repeated 99999 more times in 10 s)"


def test_different_lines_levels_and_loggers_are_not_merged() -> None:
    flt = RepeatFilter(window=10, clock=Clock())
    records = [_record("request %s failed", 1), _record("request %s failed", 2),
               _record("request %s failed", 1, level=logging.WARNING), _record("request %s failed", 1, name="other")]
    assert all(flt.filter(r) for r in records)
    assert not flt.filter(_record("request %s failed", 1))
