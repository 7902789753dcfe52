"""Request statistics and the request log: recorded in memory, flushed to storage in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..storage.base import LogEntry, StatsDelta, Storage
from .journal import Journal

log = logging.getLogger(__name__)

HOUR = 3600
DAY = 86400


# A finished request is recorded as its request-log entry; the stats buckets are derived from it.
RequestRecord = LogEntry


def _merge_key(d: StatsDelta) -> tuple[str, int, str, str, int, str]:
    return (d.period, d.start, d.model, d.key_name, d.status, d.error_kind)


class Recorder:
    """Never blocks a response: `record` appends to memory; a task writes batches to storage."""

    def __init__(self, storage: Storage, enabled: Callable[[], bool], interval: Callable[[], float],
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.enabled = enabled
        self.interval = interval
        self.clock = clock
        self._deltas: dict[tuple[str, int, str, str, int, str], StatsDelta] = {}
        self._logs: list[LogEntry] = []
        self._flush_lock = asyncio.Lock()
        self.recorded = 0
        # Set at start (stats_ctx): every record is in this file before it waits for the flush.
        self.journal: Journal | None = None
        self._written: list[Path] = []  # journal files whose records a failed flush put back
        # Called with every record, even when stats are disabled (metrics); must not raise or block.
        self.listeners: list[Callable[[RequestRecord], None]] = []

    def record(self, r: RequestRecord, *, replayed: bool = False) -> None:
        """`replayed`: an entry recovered from a dead worker's journal (its metrics were counted then)."""
        for listener in () if replayed else self.listeners:
            try:
                listener(r)
            except Exception:
                log.exception("request record listener failed")
        if not self.enabled():
            return
        self.recorded += 1
        if self.journal is not None:
            try:
                self.journal.append(r)
            except OSError as exc:  # a full disk must not fail the request
                log.warning("request-log journal not written: %s", exc)
        for period, size in (("hour", HOUR), ("day", DAY)):
            start = int(r.ts // size * size)
            key = (period, start, r.model, r.key_name, r.status, r.error_kind)  # as _merge_key, no delta built
            acc = self._deltas.get(key)
            if acc is None:
                acc = self._deltas[key] = StatsDelta(*key, 0, 0.0, 0.0)
            acc.count += 1
            acc.latency_ms_sum += r.latency_ms
            acc.ttft_ms_sum += r.ttft_ms
        self._logs.append(r)

    async def flush(self) -> int:
        """Write what was recorded; on failure keep it for the next flush (nothing is lost)."""
        async with self._flush_lock:
            deltas, logs = list(self._deltas.values()), self._logs
            self._deltas, self._logs = {}, []
            if not deltas and not logs:
                return 0
            if self.journal is not None:
                self._written.append(self.journal.rotate())
            try:
                if deltas:
                    await self.storage.add_stats(deltas)
                if logs:
                    await self.storage.append_logs(logs)
                for path in self._written:  # in storage now: the journal may forget them
                    path.unlink(missing_ok=True)
                self._written.clear()
            except Exception:
                # Put them back, merged with anything recorded meanwhile, for the next attempt.
                for d in deltas:
                    acc = self._deltas.get(_merge_key(d))
                    if acc is None:
                        self._deltas[_merge_key(d)] = d
                    else:
                        acc.count += d.count
                        acc.latency_ms_sum += d.latency_ms_sum
                        acc.ttft_ms_sum += d.ttft_ms_sum
                self._logs = logs + self._logs
                raise
            return len(logs)

    async def prune(self, hourly_retention: int, daily_retention: int, log_max_entries: int) -> None:
        now = self.clock()
        await self.storage.prune_stats("hour", int(now - hourly_retention * HOUR))
        await self.storage.prune_stats("day", int(now - daily_retention * DAY))
        await self.storage.prune_logs(log_max_entries)

    async def close(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            log.error("stats flush at shutdown failed; %d log entries kept in the journal for the next start: %s",
                      len(self._logs), exc)
            return
        if self.journal is not None:
            self.journal.close()
            self.journal = None
