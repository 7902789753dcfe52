"""1,000 mixed requests over two worker processes: stats, request log and /metrics agree with what was sent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from grok2api.storage import make_storage
from grok2api.storage.base import LogQuery, Quota, account_id_for
from tests.benchmarks.rig import free_port, wait_http

KEY = "sk-two-workers-0123456789"
TOKEN = "heavy-two-workers-account-01"


def _env(tmp: Path, fake: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROK2API_", "PROMETHEUS_"))}
    env.update(DATA_DIR=str(tmp), SERVER_HOST="127.0.0.1", SERVER_PORT=str(port), LOG_LEVEL="WARNING",
               GROK2API_APP_API_KEY=KEY, GROK2API_APP_APP_PASSWORD="two-workers-password",
               GROK2API_NETWORK_GROK_URL=fake, GROK2API_NETWORK_ASSETS_URL=fake, GROK2API_NETWORK_ACCOUNTS_URL=fake,
               GROK2API_SECURITY_RATE_LIMIT_ENABLED="false", GROK2API_TOKEN_AUTO_REFRESH="false",
               GROK2API_STATS_LOG_MAX_ENTRIES="5000", GROK2API_STATS_FLUSH_INTERVAL_SEC="0.5")
    return env


async def _prepare(tmp: Path) -> None:
    storage = make_storage("sqlite", "", tmp)
    await storage.open()
    await storage.set_quota(account_id_for(TOKEN), "fast", Quota(100_000, 100_000, 7200))
    await storage.close()


@pytest.mark.timeout(240)
async def test_thousand_mixed_requests_over_two_workers(tmp_path: Path) -> None:
    fake_port, port = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    env = _env(tmp_path, fake, port)
    procs = [subprocess.Popen([sys.executable, "-m", "grok2api", "fake-grok", "--port", str(fake_port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_http(fake + "/_fake/config", time.time() + 30)
        body = json.dumps({"token": TOKEN, "tier": "heavy", "quotas": {"fast": 100_000}}).encode()
        urllib.request.urlopen(urllib.request.Request(fake + "/_fake/accounts", body,
                                                      {"Content-Type": "application/json"}), timeout=5).read()
        subprocess.run([sys.executable, "-m", "grok2api", "tokens", "add", "--pool", "heavy", TOKEN], env=env,
                       check=True, capture_output=True)
        await _prepare(tmp_path)
        log_path = tmp_path / "gateway.log"
        with log_path.open("w") as log:
            gateway = subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--workers", "2"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=log)
        procs.append(gateway)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health", time.time() + 60)
        sent = {"ok": 0, "stream": 0, "unauthorized": 0}
        workers: set[str] = set()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as http:
            deadline = time.monotonic() + 30
            while len(workers) < 2 and time.monotonic() < deadline:  # the second worker may start later
                async with http.get(base + "/health") as r:  # new connections spread over the workers
                    workers.add((await r.json())["worker"])
            sem = asyncio.Semaphore(32)

            async def one(i: int) -> None:
                kind = "unauthorized" if i % 5 == 0 else "stream" if i % 5 == 1 else "ok"
                key = "sk-wrong" if kind == "unauthorized" else KEY
                payload = {"model": "grok-4", "stream": kind == "stream",
                           "messages": [{"role": "user", "content": f"request {i}"}]}
                async with sem, http.post(base + "/v1/chat/completions", json=payload,
                                          headers={"Authorization": f"Bearer {key}"}) as r:
                    text = await r.text()
                    assert r.status == (401 if kind == "unauthorized" else 200), text
                    if kind == "stream":
                        assert text.rstrip().endswith("data: [DONE]")
                sent[kind] += 1

            await asyncio.gather(*(one(i) for i in range(1000)))
            await asyncio.sleep(1.5)  # two flush intervals
            async with http.get(base + "/metrics") as r:
                metrics_text = await r.text()
        assert len(workers) == 2, workers
        assert sum(sent.values()) == 1000
        # Graceful stop flushes whatever each worker still holds.
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=60) == 0, log_path.read_text()

        requests = [s for f in text_string_to_metric_families(metrics_text) if f.name == "grok2api_requests"
                    for s in f.samples if s.name == "grok2api_requests_total"]
        by_status: dict[str, float] = {}
        for s in requests:
            by_status[s.labels["status"]] = by_status.get(s.labels["status"], 0) + s.value
        assert by_status == {"200": 800, "401": 200}

        storage = make_storage("sqlite", "", tmp_path)
        await storage.open()
        try:
            _, total = await storage.query_logs(LogQuery(limit=1))
            _, ok = await storage.query_logs(LogQuery(status=200, limit=1))
            _, unauthorized = await storage.query_logs(LogQuery(status=401, limit=1))
            hours = await storage.query_stats("hour", 0)
            days = await storage.query_stats("day", 0)
        finally:
            await storage.close()
        assert (total, ok, unauthorized) == (1000, 800, 200)
        assert sum(d.count for d in hours) == 1000 and sum(d.count for d in days) == 1000
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
