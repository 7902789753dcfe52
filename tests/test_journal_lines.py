"""The request log's journal lines: whichever encoder wrote them, a dead worker's replay reads back the entries."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from grok2api.stats import journal
from grok2api.storage.base import LogEntry

BASE = LogEntry(ts=1796525923.2538002, request_id="0123456789abcdef", key_name="clé «prod»", model="grok-4",
                stream=True, status=200, error_kind="", latency_ms=12.345, ttft_ms=0.1 + 0.2, account="abc…xyz",
                client_ip="::1", path="/v1/chat/completions", detail='quote " backslash \\ newline \n nul \x00 🙂')


def test_a_line_reads_back_as_the_stdlib_line_does() -> None:
    line = journal._line(BASE)
    stdlib = json.dumps(dataclasses.asdict(BASE), ensure_ascii=False).encode() + b"\n"
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == json.loads(stdlib)
    assert LogEntry(**json.loads(line)) == BASE


@pytest.mark.parametrize("field", ["ts", "latency_ms", "ttft_ms"])
def test_non_finite_numbers_keep_the_stdlib_line(field: str) -> None:
    entry = dataclasses.replace(BASE, **{field: math.nan})
    line = journal._line(entry)
    assert line == json.dumps(dataclasses.asdict(entry), ensure_ascii=False).encode() + b"\n"
    assert math.isnan(getattr(LogEntry(**json.loads(line)), field))  # not null: the entry replays whole


def test_a_dead_workers_lines_are_replayed(tmp_path: Path) -> None:
    entries = [BASE, dataclasses.replace(BASE, request_id="second", status=502, error_kind="upstream")]
    (tmp_path / "dead.lock").touch()  # nobody holds its lock: the worker is gone
    (tmp_path / "dead.0.jsonl").write_bytes(b"".join(journal._line(e) for e in entries))
    assert journal.orphans(tmp_path) == entries
