"""No overspend: 8 OS processes race for one account's 100 units; exactly 100 are granted."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from grok2api.storage.base import AccountRecord, Quota, Storage

from .conftest import Backend

PROCESSES = 8
UNITS = 100
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_processes_never_overspend(backend: Backend, storage: Storage) -> None:
    await storage.upsert_accounts([AccountRecord(id="shared", token="t", quota={"chat": Quota(UNITS, UNITS)})])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    args = [backend.kind, backend.url, str(backend.data_dir), "shared"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.storage.overspend_worker", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
        )
        for _ in range(PROCESSES)
    ]
    try:
        # Every worker has opened its storage before any starts: the race is real.
        for proc in procs:
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
        started = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 60)
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert [p.returncode for p in procs] == [0] * PROCESSES
    results = [out.decode().split() for out, _ in outputs]
    assert all(r[0] == "done" and r[2] == "200" for r in results), results
    assert sum(int(r[1]) for r in results) == UNITS
    account = await storage.get_account("shared")
    assert account is not None and account.quota["chat"].remaining == 0
    assert elapsed < 20, f"{PROCESSES} x 200 reservations took {elapsed:.1f} s"
