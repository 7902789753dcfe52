"""The stats recorder: buckets and log entries reach storage in batches, and survive a failed flush."""

from __future__ import annotations

from pathlib import Path

import pytest

from grok2api.stats.recorder import Recorder, RequestRecord
from grok2api.storage import make_storage
from grok2api.storage.base import LogQuery


def rec(ts: float, model: str, status: int = 200, kind: str = "") -> RequestRecord:
    return RequestRecord(ts=ts, request_id=f"r{ts}", key_name="k", model=model, stream=False, status=status,
                         error_kind=kind, latency_ms=10.0, ttft_ms=4.0, account="abc…wxyz", client_ip="127.0.0.1")


async def test_flush_writes_buckets_and_log(tmp_path: Path) -> None:
    storage = make_storage("sqlite", "", tmp_path)
    await storage.open()
    try:
        r = Recorder(storage, enabled=lambda: True, interval=lambda: 1.0)
        base = 1_800_000_000.0  # a fixed hour boundary keeps the buckets predictable
        for i in range(5):
            r.record(rec(base + i, "grok-4"))
        r.record(rec(base + 3700, "grok-4", 502, "upstream"))
        assert await r.flush() == 6
        assert await r.flush() == 0
        hours = await storage.query_stats("hour", 0)
        by = {(d.start, d.status): d for d in hours}
        assert by[(int(base // 3600 * 3600), 200)].count == 5
        assert by[(int(base // 3600 * 3600), 200)].latency_ms_sum == pytest.approx(50.0)
        assert by[(int((base + 3700) // 3600 * 3600), 502)].error_kind == "upstream"
        days = await storage.query_stats("day", 0)
        assert sum(d.count for d in days) == 6
        entries, total = await storage.query_logs(LogQuery(limit=10))
        assert total == 6 and entries[0].status == 502  # newest first
    finally:
        await storage.close()


async def test_failed_flush_keeps_everything_for_the_next_one(tmp_path: Path) -> None:
    storage = make_storage("sqlite", "", tmp_path)
    r = Recorder(storage, enabled=lambda: True, interval=lambda: 1.0)
    r.record(rec(1_800_000_000.0, "grok-4"))
    with pytest.raises(Exception):
        await r.flush()  # storage not opened yet: the write fails
    r.record(rec(1_800_000_001.0, "grok-4"))
    await storage.open()
    try:
        assert await r.flush() == 2
        hours = await storage.query_stats("hour", 0)
        assert sum(d.count for d in hours) == 2
    finally:
        await storage.close()


def test_disabled_records_nothing(tmp_path: Path) -> None:
    r = Recorder(make_storage("sqlite", "", tmp_path), enabled=lambda: False, interval=lambda: 1.0)
    r.record(rec(1.0, "grok-4"))
    assert r.recorded == 0
