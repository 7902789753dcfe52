"""The several-hosts recipe: two instances (own ports, own DATA_DIR) sharing one Redis, PostgreSQL
or MariaDB share accounts, quota and API keys exactly as workers of one instance do."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from grok2api.access import api_keys as apikeys
from grok2api.pool.ops import import_tokens
from grok2api.storage.base import Quota, account_id_for
from tests.storage.conftest import Backend

from .test_workers_quota import (  # noqa: F401
    SCALE_URLS,
    fake_url,
    free_port,
    gateway_env,
    remaining,
    stop,
    wait_http,
)

pytestmark = pytest.mark.slow
QUOTA = 60


async def seed(backend: Backend) -> tuple[str, str]:
    await backend.wipe()
    storage = await backend.open()
    token = f"super-two-hosts-{backend.kind}"
    try:
        await import_tokens(storage, token, default_pool="super")
        aid = account_id_for(token)
        await storage.set_quota(aid, "fast", Quota(QUOTA, QUOTA, 7200, time.time() + 7200))
        key = (await apikeys.create_key(storage, "shared")).key  # a managed key, made once, used on both hosts
        return aid, key
    finally:
        await storage.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["redis", "pgsql", "mysql"])
async def test_two_instances_share_quota_and_keys(kind: str, fake_url: str, tmp_path: Path) -> None:  # noqa: F811
    backend = Backend(kind, SCALE_URLS[kind], tmp_path)
    aid, key = await seed(backend)
    procs, ports = [], []
    for host in ("a", "b"):
        port = free_port()
        data_dir = tmp_path / host
        data_dir.mkdir()
        env = gateway_env(Backend(kind, SCALE_URLS[kind], data_dir), fake_url, port)
        env.pop("GROK2API_APP_API_KEY")  # only the managed key from shared storage
        log = (data_dir / "serve.log").open("w")
        procs.append(subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--host", "127.0.0.1",
                                       "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        ports.append(port)
    try:
        for proc, port in zip(procs, ports):
            wait_http(f"http://127.0.0.1:{port}/health", proc)
        statuses: dict[int, list[int]] = {port: [] for port in ports}
        body = {"model": "grok-4", "messages": [{"role": "user", "content": "two hosts"}]}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async def client(port: int) -> None:
                for _ in range(QUOTA):
                    async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                                         headers={"Authorization": f"Bearer {key}"}) as resp:
                        await resp.read()
                        statuses[port].append(resp.status)

            await asyncio.gather(*(client(ports[i % 2]) for i in range(4)))
        granted = sum(s.count(200) for s in statuses.values())
        assert granted == QUOTA, statuses
        assert all(s.count(200) > 0 for s in statuses.values()), "both hosts served"
        assert {x for s in statuses.values() for x in s} <= {200, 503}
        assert await remaining(backend, aid) == 0
        for proc in procs:
            assert stop(proc) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
