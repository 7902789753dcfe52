"""The request log's journal: each record is appended to a local file before it waits for the batched
storage write, so a worker killed with -9 loses none of them; the next worker to start replays them.

One file per worker and flush generation under DATA_DIR/journal, next to a lock file the worker holds
(flock) while it lives: the kernel drops the lock when the process dies however it dies, so a lock
that can be taken belongs to a dead worker whose files are left to replay. Lines are written
unbuffered (in the kernel at once: a killed process loses nothing; a power cut may lose the last
seconds, as the storage write would have).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import math
import os
from pathlib import Path
from typing import BinaryIO

import orjson

from ..storage.base import LogEntry

log = logging.getLogger(__name__)


class Journal:
    """The journal of one worker (`owner`): append, rotate at each flush, forget what was written."""

    def __init__(self, directory: Path, owner: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.owner = owner
        self._lock_path = directory / f"{owner}.lock"
        self._lock = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._generation = 0
        self._file: BinaryIO = self._open()

    def _path(self, generation: int) -> Path:
        return self.directory / f"{self.owner}.{generation}.jsonl"

    def _open(self) -> BinaryIO:
        return self._path(self._generation).open("ab", buffering=0)

    def append(self, entry: LogEntry) -> None:
        self._file.write(_line(entry))

    def rotate(self) -> Path:
        """Start a new file; the returned one holds what is about to be written to storage."""
        done = self._path(self._generation)
        self._file.close()
        self._generation += 1
        self._file = self._open()
        return done

    def close(self) -> None:
        """At shutdown, after the last flush: nothing is left to replay."""
        self._file.close()
        self._path(self._generation).unlink(missing_ok=True)
        self._lock_path.unlink(missing_ok=True)
        os.close(self._lock)


def _line(entry: LogEntry) -> bytes:
    """The entry as one JSON line. orjson reads the dataclass directly (a tenth of asdict + json.dumps,
    on every request); it would write a NaN as null and refuses a lone surrogate, so such an entry
    takes the stdlib path, which writes what it always wrote."""
    if math.isfinite(entry.ts) and math.isfinite(entry.latency_ms) and math.isfinite(entry.ttft_ms):
        try:
            return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            pass
    return json.dumps(dataclasses.asdict(entry), ensure_ascii=False).encode() + b"\n"


def orphans(directory: Path) -> list[LogEntry]:
    """The entries dead workers left (their files are deleted once read: the caller records them anew)."""
    if not directory.is_dir():
        return []
    entries: list[LogEntry] = []
    for lock_path in sorted(directory.glob("*.lock")):
        owner = lock_path.name.removesuffix(".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # replayed by another worker a moment ago
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its worker is alive
            for path in sorted(directory.glob(f"{owner}.*.jsonl")):
                for line in path.read_bytes().splitlines():
                    with contextlib.suppress(ValueError, TypeError):  # a line cut by the kill
                        entries.append(LogEntry(**json.loads(line)))
                path.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    if entries:
        log.info("request log: %d entries of stopped workers recovered from the journal", len(entries))
    return entries
