"""Limiter pieces without the app: bucket mapping, fail-open, CIDR trust; metrics over two processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from grok2api.edge.client_ip import is_trusted
from grok2api.edge.rate_limit import Limiter, bucket_item
from grok2api.storage.base import ApiKeyRecord


def test_bucket_item_keeps_rate_and_burst() -> None:
    item = bucket_item(120, 60)  # the defaults: 60 per 30 s
    assert (item.amount, item.get_expiry()) == (60, 30)
    item = bucket_item(600, 5)  # a window under a second is raised to 1 s: 10 per second
    assert (item.amount, item.get_expiry()) == (10, 1)
    item = bucket_item(60, 0)  # no burst: the per-minute rate
    assert (item.amount, item.get_expiry()) == (60, 60)


def test_trusted_proxies_accept_addresses_and_networks() -> None:
    trusted = ["127.0.0.1", "::1", "10.0.0.0/8", "not-an-ip"]
    assert is_trusted("127.0.0.1", trusted) and is_trusted("::1", trusted) and is_trusted("10.2.3.4", trusted)
    assert not is_trusted("11.0.0.1", trusted) and not is_trusted("", trusted) and not is_trusted("x", trusted)


async def test_limits_fail_open_when_redis_is_down() -> None:
    limiter = Limiter("redis", "redis://127.0.0.1:1/0")
    key = ApiKeyRecord(id="k", name="k", key_hash="", prefix="", rpm=1, daily_quota=1, max_concurrent=1)
    for _ in range(3):
        await limiter.check_ip("203.0.113.1", 60, 1)
        await limiter.check_key(key)
        async with limiter.slot(key):
            pass
    await limiter.close()


def test_metrics_aggregate_over_worker_processes(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, any worker's /metrics answers for all of them."""
    script = textwrap.dedent("""
        import asyncio, sys, time
        from grok2api.keys import METRICS
        from grok2api.stats.metrics import Metrics, metrics_handler
        from grok2api.stats.recorder import RequestRecord
        m = Metrics()
        n = int(sys.argv[1])
        for _ in range(n):
            m.on_record(RequestRecord(ts=time.time(), request_id="r", key_name="k", model="grok-4", stream=False,
                                      status=200, error_kind="", latency_ms=10, ttft_ms=5, account="", client_ip=""))
        if len(sys.argv) > 2:
            from aiohttp import web
            from aiohttp.test_utils import make_mocked_request
            app = web.Application()
            app[METRICS] = m
            resp = asyncio.run(metrics_handler(make_mocked_request("GET", "/metrics", app=app)))
            sys.stdout.write(resp.body.decode())
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    cwd = Path(__file__).resolve().parents[2]
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", script, str(n)], env=env, cwd=cwd, check=True, timeout=30)
    out = subprocess.run([sys.executable, "-c", script, "5", "scrape"], env=env, cwd=cwd, check=True,
                         timeout=30, capture_output=True, text=True).stdout
    from prometheus_client.parser import text_string_to_metric_families

    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(out) for s in f.samples}
    assert values[("grok2api_requests_total", (("kind", ""), ("model", "grok-4"), ("status", "200")))] == 12
    assert values[("grok2api_time_to_first_token_seconds_count", (("model", "grok-4"),))] == 12
