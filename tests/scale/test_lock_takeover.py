"""Background jobs move on: kill the worker holding the "refresher" lock and another takes it over.

The lock is taken for `max(3 * refresh_tick_sec, 30)` seconds and renewed every tick; a killed
holder never releases it, so another worker must take it once it expires, at its next tick.
The test sets token.refresh_tick_sec to 5 s, so the lock lasts 30 s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grok2api.pool.refresher import LOCK_NAME
from tests.storage.conftest import Backend

from .test_workers_quota import fake_url, free_port, gateway_env, stop, wait_http  # noqa: F401

pytestmark = pytest.mark.slow

TICK = 5.0
TTL = max(3 * TICK, 30.0)  # as Refresher computes it


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


async def owner(backend: Backend) -> str | None:
    storage = await backend.open()
    try:
        return await storage.lock_owner(LOCK_NAME)
    finally:
        await storage.close()


@pytest.mark.timeout(TTL + 2 * TICK + 120)
async def test_killed_lock_holder_is_replaced_within_the_lock_expiry(fake_url: str, tmp_path: Path) -> None:  # noqa: F811
    backend = Backend("sqlite", "", tmp_path)
    port = free_port()
    env = gateway_env(backend, fake_url, port)
    env["GROK2API_TOKEN_AUTO_REFRESH"] = "true"  # the refresher is the job under test
    env["GROK2API_TOKEN_REFRESH_TICK_SEC"] = str(TICK)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "grok2api", "serve", "--workers", "3", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        first = None
        deadline = time.monotonic() + 30
        while first is None and time.monotonic() < deadline:
            first = await owner(backend)
            await asyncio.sleep(0.2)
        assert first, log_path.read_text()[-3000:]
        holder = int(first.split("-", 1)[0])
        assert pid_alive(holder)
        os.kill(holder, signal.SIGKILL)
        killed = time.monotonic()

        new = first
        while new == first or new is None:
            assert time.monotonic() - killed < TTL + TICK + 10, f"no takeover; owner still {new}"
            await asyncio.sleep(1)
            new = await owner(backend)
        took = time.monotonic() - killed
        print(f"\nrefresher lock: {first} killed; {new} took over after {took:.0f}s (ttl {TTL:.0f}s, tick {TICK:.0f}s)")
        assert pid_alive(int(new.split("-", 1)[0]))
        assert "restarting it" in log_path.read_text()  # the supervisor replaced the killed worker
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
