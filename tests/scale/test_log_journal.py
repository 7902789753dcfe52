"""kill -9 loses no request-log entry (issue 18, point 8): the journal holds them until the next start."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from grok2api.storage.base import LogQuery
from tests.storage.conftest import Backend

from .test_workers_quota import base_env, free_port, wait_http

pytestmark = pytest.mark.slow


def start(tmp_path: Path, port: int, run: int) -> subprocess.Popen[bytes]:
    env = base_env(tmp_path)
    # A flush window far longer than the test: without the journal every entry would be lost.
    env.update({"GROK2API_APP_API_KEY": "sk-journal-000000000001", "GROK2API_STATS_FLUSH_INTERVAL_SEC": "600",
                "GROK2API_TOKEN_AUTO_REFRESH": "false", "GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false"})
    with (tmp_path / f"serve-{run}.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc


@pytest.mark.timeout(120)
async def test_entries_recorded_before_a_kill_9_reach_the_request_log(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port, 1)
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(40):  # refused with 401: each is one request-log entry
                async with http.get(f"http://127.0.0.1:{port}/v1/models",
                                    headers={"Authorization": f"Bearer sk-wrong-{i}"}) as resp:
                    assert resp.status == 401
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = start(tmp_path, port, 2)  # replays what the killed worker journaled
        proc.send_signal(signal.SIGTERM)  # a clean stop flushes
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    storage = await Backend("sqlite", "", tmp_path).open()
    try:
        logs, total = await storage.query_logs(LogQuery(limit=100))
    finally:
        await storage.close()
    assert total == 40 and {(e.status, e.path) for e in logs} == {(401, "/v1/models")}, (total, logs[:3])
    assert list((tmp_path / "journal").iterdir()) == []  # replayed and written: nothing left behind
