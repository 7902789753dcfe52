"""`serve --workers 2` on each storage engine: a key's limits hold for the whole deployment (issue 18, point 2).

A key with `daily_quota 10` gets exactly 10 answers however the kernel spreads its connections over
the two workers, and none more after a restart the same day; `rpm 5` gets exactly 5 in a minute;
`max_concurrent 1` runs exactly one stream at a time. Per-worker counters would grant 20, 10 and 2.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from grok2api.access.api_keys import hash_key
from grok2api.pool.ops import import_tokens
from grok2api.storage.base import ApiKeyRecord, Quota, account_id_for
from tests.storage.conftest import Backend

from .test_workers_quota import (  # noqa: F401
    SCALE_URLS,
    fake_url,
    free_port,
    gateway_env,
    stop,
    wait_http,
)

pytestmark = pytest.mark.slow

DAY_KEY, RPM_KEY, CONC_KEY = "sk-limits-day-000000000001", "sk-limits-rpm-000000000002", "sk-limits-conc-00000000003"


async def seed(backend: Backend, token: str) -> None:
    await backend.wipe()
    storage = await backend.open()
    try:
        await import_tokens(storage, token, default_pool="super")
        await storage.set_quota(account_id_for(token), "fast", Quota(100, 100, 7200, time.time() + 7200))
        for secret, fields in ((DAY_KEY, {"daily_quota": 10}), (RPM_KEY, {"rpm": 5}), (CONC_KEY, {"max_concurrent": 1})):
            await storage.create_key(ApiKeyRecord(id=secret[-6:], name=secret[3:14], key_hash=hash_key(secret),
                                                  prefix=secret[:6], created_at=time.time(), **fields))
    finally:
        await storage.close()


def start(backend: Backend, fake: str, tmp_path: Path, run: int) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log_path = tmp_path / f"serve-{run}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grok2api", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
            env=gateway_env(backend, fake, port), stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    deadline = time.monotonic() + 60
    while log_path.read_text().count("grok2api listening") < 2:  # both workers share the port
        assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()[-3000:]
        time.sleep(0.1)
    return proc, port, log_path


async def statuses(port: int, key: str, n: int, *, chat: str = "", parallel: int = 8) -> list[int]:
    """n requests with `key`, `parallel` at a time, each on a fresh connection (spread over the workers)."""
    out: list[int] = []
    gate = asyncio.Semaphore(parallel)
    conn = aiohttp.TCPConnector(force_close=True, limit=parallel)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def one() -> None:
            async with gate:
                headers = {"Authorization": f"Bearer {key}"}
                if chat:
                    body = {"model": "grok-4", "messages": [{"role": "user", "content": chat}]}
                    resp = await http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=headers)
                else:
                    resp = await http.get(f"http://127.0.0.1:{port}/v1/models", headers=headers)
                await resp.read()
                out.append(resp.status)

        await asyncio.gather(*(one() for _ in range(n)))
    return out


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", list(SCALE_URLS))
async def test_two_workers_and_a_restart_grant_exactly_each_limit(kind: str, fake_url: str,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    backend = Backend(kind, SCALE_URLS[kind], tmp_path)
    await seed(backend, f"super-key-limits-{kind}")
    proc, port, log_path = start(backend, fake_url, tmp_path, 1)
    try:
        day = await statuses(port, DAY_KEY, 20)
        assert sorted(day) == [200] * 10 + [429] * 10, day
        rpm = await statuses(port, RPM_KEY, 10)
        assert sorted(rpm) == [200] * 5 + [429] * 5, rpm
        async with aiohttp.ClientSession() as http, \
                http.patch(fake_url + "/_fake/config", json={"token_interval": 0.05}) as r:
            assert r.status == 200  # 30 tokens: each chat holds its slot for about 1.5 s
        try:
            conc = await statuses(port, CONC_KEY, 4, chat="[[tokens:30]] slow", parallel=4)
        finally:
            async with aiohttp.ClientSession() as http:
                await http.patch(fake_url + "/_fake/config", json={"token_interval": 0.0})
        assert sorted(conc) == [200, 429, 429, 429], conc
        assert await statuses(port, CONC_KEY, 2, chat="again", parallel=1) == [200, 200]  # slots were given back
        assert stop(proc) == 0, log_path.read_text()[-3000:]

        # A restart forgets nothing: the same key gets no more answers the same (UTC) day.
        proc, port, log_path = start(backend, fake_url, tmp_path, 2)
        assert await statuses(port, DAY_KEY, 5) == [429] * 5
        assert stop(proc) == 0, log_path.read_text()[-3000:]
        assert "Traceback" not in log_path.read_text(), log_path.read_text()[-5000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
