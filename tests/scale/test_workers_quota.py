"""`serve --workers 4` on each storage engine: 8 clients spending one account's quota of 100 get exactly 100.

The gateway runs as `python -m grok2api serve --workers 4` against fakegrok run as
`python -m grok2api fake-grok` in its own process; every worker reserves from the same bucket
through storage, so no engine may grant the 101st completion or lose one of the 100.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from grok2api.pool.ops import import_tokens
from grok2api.storage.base import Quota, account_id_for
from tests.storage.conftest import URLS, Backend

pytestmark = pytest.mark.slow

KEY = "sk-scale-test-key-0001"
# fakegrok's tier rule: super… is SuperGrok (fast: 140 per 2 h); one token per engine, since
# the fake (shared by the module) keeps counting each token's use.
TOKEN = "super-scale-{kind}-account"
QUOTA = 100
CLIENTS = 8
PER_CLIENT = 16  # 128 attempts for 100 units
SCALE_URLS = {**URLS, "redis": os.environ.get("GROK2API_TEST_SCALE_REDIS_URL", "redis://127.0.0.1:6379/10")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never answered 200")


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROK2API_", "SERVER_")) and k != "DATA_DIR"}
    env["DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def fake_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("fake") / "fake.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "grok2api", "fake-grok", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_fake/config", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def gateway_env(backend: Backend, fake: str, port: int) -> dict[str, str]:
    env = base_env(backend.data_dir)
    env.update({
        "SERVER_STORAGE_TYPE": backend.kind, "SERVER_STORAGE_URL": backend.url,
        "GROK2API_APP_API_KEY": KEY, "GROK2API_APP_APP_URL": f"http://127.0.0.1:{port}",
        "GROK2API_NETWORK_GROK_URL": fake, "GROK2API_NETWORK_ASSETS_URL": fake,
        "GROK2API_NETWORK_ACCOUNTS_URL": fake,
        "GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false",
        "GROK2API_TOKEN_AUTO_REFRESH": "false",  # the refresher would re-read fakegrok's 140
    })
    return env


async def seed_one_account(backend: Backend) -> str:
    await backend.wipe()
    storage = await backend.open()  # applies migrations
    token = TOKEN.format(kind=backend.kind)
    try:
        result = await import_tokens(storage, token, default_pool="super")
        assert result.added == 1
        aid = account_id_for(token)
        await storage.set_quota(aid, "fast", Quota(QUOTA, QUOTA, 7200, time.time() + 7200))
        return aid
    finally:
        await storage.close()


async def remaining(backend: Backend, aid: str) -> int:
    storage = await backend.open()
    try:
        acc = await storage.get_account(aid)
        assert acc is not None
        return acc.quota["fast"].remaining
    finally:
        await storage.close()


def stop(proc: subprocess.Popen[bytes], timeout: float = 45) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", list(SCALE_URLS))
async def test_four_workers_grant_exactly_the_quota(kind: str, fake_url: str, tmp_path: Path) -> None:
    backend = Backend(kind, SCALE_URLS[kind], tmp_path)
    aid = await seed_one_account(backend)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "grok2api", "serve", "--workers", "4", "--host", "127.0.0.1", "--port", str(port)],
            env=gateway_env(backend, fake_url, port), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        # Every worker has bound the port (each logs "listening") before the clients start.
        deadline = time.monotonic() + 60
        while log_path.read_text().count("grok2api listening") < 4:
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()[-3000:]
            await asyncio.sleep(0.1)

        statuses: list[int] = []
        body = {"model": "grok-4", "messages": [{"role": "user", "content": "spend one"}]}
        headers = {"Authorization": f"Bearer {KEY}"}
        # force_close: a fresh connection per request, so the kernel spreads them over the workers.
        conn = aiohttp.TCPConnector(force_close=True, limit=CLIENTS)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as http:
            async def client() -> None:
                for _ in range(PER_CLIENT):
                    async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                         json=body, headers=headers) as resp:
                        data = await resp.json(content_type=None)
                        if resp.status == 200:
                            assert "spend one" in data["choices"][0]["message"]["content"]
                        statuses.append(resp.status)

            await asyncio.gather(*(client() for _ in range(CLIENTS)))

        granted = statuses.count(200)
        refused = {s for s in statuses if s != 200}
        print(f"\n{kind}: {granted} granted, {len(statuses) - granted} refused ({sorted(refused)})")
        assert granted == QUOTA, (statuses, log_path.read_text()[-3000:])
        assert refused <= {429, 503}, statuses
        assert await remaining(backend, aid) == 0
        assert stop(proc) == 0, log_path.read_text()[-3000:]
        assert "Traceback" not in log_path.read_text(), log_path.read_text()[-5000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
