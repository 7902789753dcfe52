"""Limiter pieces without the app: bucket mapping, fail-open, CIDR trust; metrics over two processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from grok2api.edge.client_ip import is_trusted
from grok2api.edge.key_limits import KeyLimits
from grok2api.edge.rate_limit import Limiter, bucket_item
from grok2api.storage import make_storage
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


async def test_limits_fail_open_when_their_storage_is_down() -> None:
    limiter = Limiter("redis", "redis://127.0.0.1:1/0")
    down = make_storage("redis", "redis://127.0.0.1:1/0", Path("."))  # never opened: every call fails
    key_limits = KeyLimits(down)
    key = ApiKeyRecord(id="k", name="k", key_hash="", prefix="", rpm=1, daily_quota=1, max_concurrent=1)
    for _ in range(3):
        await limiter.check_ip("203.0.113.1", 60, 1)
        await key_limits.check(key)
        async with key_limits.slot(key):
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


def test_client_ip_is_always_a_valid_address() -> None:
    """Only valid IPs become the client address; a malformed forwarded hop falls back to the peer."""
    from aiohttp.test_utils import make_mocked_request

    from grok2api.edge.client_ip import client_ip, valid_ip

    assert valid_ip("203.0.113.7:5678") == "203.0.113.7" and valid_ip("[2001:DB8::1]:443") == "2001:db8::1"
    assert valid_ip("<script>") == "" and valid_ip("1.2.3.4 extra") == "" and valid_ip("") == ""

    def ip(headers: dict[str, str], trusted: list[str]) -> str:
        request = make_mocked_request("GET", "/v1/models", headers=headers,
                                      transport=_Transport(("127.0.0.1", 40000)))
        return client_ip(request, trusted)

    trusted = ["127.0.0.1"]
    assert ip({"X-Forwarded-For": "203.0.113.7"}, []) == "127.0.0.1"  # nobody is trusted by default
    assert ip({"X-Forwarded-For": "203.0.113.7"}, trusted) == "203.0.113.7"
    assert ip({"X-Forwarded-For": "203.0.113.7:1234, 127.0.0.1"}, trusted) == "203.0.113.7"
    assert ip({"X-Forwarded-For": "evil'); DROP TABLE--"}, trusted) == "127.0.0.1"
    assert ip({"X-Forwarded-For": "1.1.1.1, not-an-ip"}, trusted) == "127.0.0.1"
    assert ip({"X-Real-IP": "<b>x</b>"}, trusted) == "127.0.0.1"
    assert ip({"X-Real-IP": "198.51.100.1"}, trusted) == "198.51.100.1"


class _Transport:
    """The peer address a mocked request reports."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default


def test_connection_cap_stays_inside_the_open_file_limit() -> None:
    from grok2api.edge.connections import connection_cap

    # A quarter held back, a third of the rest: the client socket, the upstream socket, an mgw multi's eventfd.
    assert connection_cap(0, 256) == (64, 32)
    assert connection_cap(0, 1024) == (256, 128)
    assert connection_cap(0, 1 << 20) == (((1 << 20) - 2048) // 3, 1024)
    assert connection_cap(50, 1024) == (50, 128)  # a configured cap below the ceiling wins
    assert connection_cap(10_000, 1024) == (256, 128)  # never above what the descriptors allow


def test_record_metrics_make_series_only_when_observed() -> None:
    """The cached label children change nothing in the exposition: a histogram series appears with its
    first observation, counters count per label set."""
    from prometheus_client import generate_latest

    from grok2api.stats.metrics import Metrics
    from grok2api.stats.recorder import RequestRecord

    def rec(model: str, status: int, kind: str, ttft: float) -> RequestRecord:
        return RequestRecord(ts=time.time(), request_id="r", key_name="k", model=model, stream=False, status=status,
                             error_kind=kind, latency_ms=10, ttft_ms=ttft, account="a", client_ip="")

    m = Metrics(known_model=lambda model: model == "grok-4")
    m.on_record(rec("", 400, "invalid_json", 0))
    m.on_record(rec("grok-4", 200, "", 0))
    text = generate_latest(m.registry).decode()
    assert 'grok2api_request_latency_seconds_count{model="-"}' not in text
    assert "grok2api_time_to_first_token_seconds_count" not in text
    for _ in range(2):
        m.on_record(rec("grok-4", 200, "", 5))
        m.on_record(rec("nope", 502, "upstream", 5))
    text = generate_latest(m.registry).decode()
    assert 'grok2api_requests_total{kind="",model="grok-4",status="200"} 3.0' in text
    assert 'grok2api_request_errors_total{kind="upstream",model="unknown",status="502"} 2.0' in text
    assert 'grok2api_request_errors_total{kind="",model="grok-4"' not in text
    assert 'grok2api_request_latency_seconds_count{model="grok-4"} 3.0' in text
    assert 'grok2api_time_to_first_token_seconds_count{model="grok-4"} 2.0' in text
    assert 'grok2api_upstream_errors_total{kind="upstream"} 2.0' in text
