"""Transcript capture: a transport tap writing each upstream exchange, redacted, as one JSON file.

File format (`"format": "grok2api-transcript/1"`), one exchange per file, named so that a directory
listing is in time order (`<UTC time>-<sequence>-<step>.json`):

    {"format", "kind": "http"|"stream"|"ws", "step", "started_at", "egress": "direct"|"proxy",
     "request": {"method", "url", "headers", "json"|"base64"|"multipart"},
     "response": {"status", "headers", "latency_ms", "text"|"base64"},
     "frames": [{"t": seconds since the start, "dir": "send"|"recv", "text"}],
     "closed_by": "server"|"client"|"", "outcome": "ok"|<error kind>, "error": "...",
     "duration_ms", "truncated": bool}

Redaction (redact.py) happens in the writer thread before a byte reaches the disk. The directory is
kept under `max_bytes` (oldest files go first) and files older than `max_age` are deleted.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime
import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exchange import Exchange
from .redact import Redactor

log = logging.getLogger(__name__)

FORMAT = "grok2api-transcript/1"
_SWEEP_EVERY = 60.0  # seconds between age sweeps even when the size bound is not reached
_ID_LIKE = re.compile(r"^[0-9a-fA-F-]{16,}$|\d{6,}")


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """Where and how much to capture; read afresh for every exchange, so live settings apply at once."""

    enabled: bool = True
    directory: str = ""
    max_bytes: int = 200 * 1024 * 1024
    max_age: float = 24 * 3600.0  # seconds
    max_body: int = 4 * 1024 * 1024  # bytes kept of one body or frame; longer ones are cut (truncated: true)


def _body(data: bytes, limit: int) -> tuple[dict[str, Any], bool]:
    cut = len(data) > limit
    data = data[:limit]
    try:
        return {"text": data.decode("utf-8")}, cut
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}, cut


def _text(value: str, limit: int) -> tuple[str, bool]:
    return (value[:limit], True) if len(value) > limit else (value, False)


def document(ex: Exchange, max_body: int) -> dict[str, Any]:
    """The exchange as a (not yet redacted) transcript document."""
    truncated = False
    request: dict[str, Any] = {"method": ex.method, "url": ex.url, "headers": dict(ex.request_headers)}
    if ex.request_json is not None:
        request["json"] = ex.request_json
    elif ex.request_multipart:
        request["multipart"] = True  # the parts stay in curl; only the shape is known
    elif ex.request_bytes:
        part, cut = _body(ex.request_bytes, max_body)
        request["base64" if "base64" in part else "text"] = part.get("base64", part.get("text"))
        truncated |= cut
    response: dict[str, Any] = {"status": ex.status, "headers": dict(ex.response_headers),
                                "latency_ms": round(ex.latency * 1000, 1)}
    if ex.response_body:
        part, cut = _body(ex.response_body, max_body)
        response.update(part)
        truncated |= cut
    frames = []
    for frame in ex.frames:
        text, cut = _text(frame.text, max_body)
        truncated |= cut
        frames.append({"t": frame.t, "dir": frame.dir, "text": text})
    return {
        "format": FORMAT, "kind": ex.kind, "step": ex.step,
        "started_at": datetime.datetime.fromtimestamp(ex.started_at, datetime.timezone.utc).isoformat(),
        "egress": "proxy" if ex.egress else "direct",
        "request": request, "response": response, "frames": frames, "closed_by": ex.closed_by,
        "outcome": ex.outcome, "error": ex.error_message, "duration_ms": round(ex.duration * 1000, 1),
        "truncated": truncated,
    }


def file_name(ex: Exchange, seq: int) -> str:
    """`<UTC time>-<sequence>-<step>[-<last path word>].json`: ids (which may be user ids) stay out of names."""
    stamp = datetime.datetime.fromtimestamp(ex.started_at, datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
    words = [w for w in ex.path.split("/") if w and not _ID_LIKE.search(w)]
    tail = re.sub(r"[^A-Za-z0-9_.-]", "_", words[-1])[:40] if words else "root"
    return f"{stamp}-{seq:06d}-{ex.step}-{tail}.json"


class Capture:
    """The tap: hands each finished exchange to one writer thread (redact, write, keep the bounds)."""

    def __init__(self, options: CaptureOptions | Callable[[], CaptureOptions],
                 redactor: Redactor | None = None) -> None:
        self._options = options if callable(options) else (lambda: options)
        self.redactor = redactor or Redactor()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self._pending: set[concurrent.futures.Future[None]] = set()
        self._pending_lock = threading.Lock()  # done-callbacks run in the writer thread
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._sizes: dict[str, int] | None = None  # directory -> bytes, learnt on the first write there
        self._swept_at = 0.0
        self._closed = False
        self.written = 0

    @property
    def wants_frames(self) -> bool:
        return self._options().enabled

    def __call__(self, ex: Exchange) -> None:
        opts = self._options()
        if self._closed or not opts.enabled or not opts.directory:
            return
        future = self._executor.submit(self._write, opts, ex, file_name(ex, next(self._seq)))
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: concurrent.futures.Future[None]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    async def flush(self) -> None:
        """Wait until every exchange handed over so far is on disk."""
        with self._pending_lock:
            pending = list(self._pending)
        if pending:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in pending), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        await self.flush()
        self._executor.shutdown(wait=True)

    # -- the writer thread ---------------------------------------------------------------
    def _write(self, opts: CaptureOptions, ex: Exchange, name: str) -> None:
        try:
            doc = self.redactor.document(document(ex, opts.max_body))
            data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
            directory = Path(opts.directory)
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, directory / name)
        except Exception:
            log.exception("could not write an upstream transcript")
            return
        with self._lock:
            self.written += 1
            total = self._used(directory) + len(data)
            self._sizes = {str(directory): total}
            if total > opts.max_bytes or time.monotonic() - self._swept_at > _SWEEP_EVERY:
                self._sweep(directory, opts)

    def _used(self, directory: Path) -> int:
        if self._sizes is None or str(directory) not in self._sizes:
            return sum(p.stat().st_size for p in directory.glob("*.json"))
        return self._sizes[str(directory)]

    def _sweep(self, directory: Path, opts: CaptureOptions) -> None:
        """Delete files older than max_age, then the oldest until the directory fits max_bytes."""
        self._swept_at = time.monotonic()
        now = time.time()
        files = []
        for path in sorted(directory.glob("*.json")):
            try:
                st = path.stat()
            except OSError:
                continue
            if now - st.st_mtime > opts.max_age:
                path.unlink(missing_ok=True)
            else:
                files.append((path, st.st_size))
        total = sum(size for _, size in files)
        for path, size in files:
            if total <= opts.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._sizes = {str(directory): total}
