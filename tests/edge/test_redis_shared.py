"""Two app instances (as two workers) on one Redis share the per-IP and per-key limits."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from grok2api.upstream.events import Done, TextDelta
from tests.api.fakes import FakeGateway
from tests.edge.conftest import REDIS_URL, Gw, MakeGw

CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], "stream": False}


@pytest.fixture
async def redis_db() -> None:
    client = redis.asyncio.from_url(REDIS_URL)  # CI runs every backend: no Redis is a failure, not a skip
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def test_ip_rate_shared_across_two_workers(redis_db: None, make_gw: MakeGw) -> None:
    rate, burst = 300, 10  # → at most 10 in any 2 s, 5 per second in the long run
    env = {"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": str(rate), "GROK2API_SECURITY_RATE_LIMIT_BURST": str(burst)}
    a, b = await make_gw(env=env, redis=True), await make_gw(env=env, redis=True)
    ok = {"a": 0, "b": 0}
    refused = {"a": 0, "b": 0}
    duration = 5.9
    start = time.monotonic()

    async def hammer(name: str, gw: Gw) -> None:
        while time.monotonic() - start < duration:
            resp = await gw.http.get("/v1/models", headers=gw.headers())
            if resp.status == 200:
                ok[name] += 1
            else:
                assert resp.status == 429
                assert "Retry-After" in resp.headers
                refused[name] += 1
            await resp.release()
            await asyncio.sleep(0.01)

    await asyncio.gather(hammer("a", a), hammer("b", b), hammer("a", a), hammer("b", b))
    allowed = ok["a"] + ok["b"]
    expected = rate / 60 * duration  # 29.5; per-worker counters would let ~60 through
    assert abs(allowed - expected) <= 0.1 * expected, (ok, refused)
    assert ok["a"] and ok["b"] and refused["a"] and refused["b"], (ok, refused)


async def test_key_concurrency_shared_across_two_workers(redis_db: None, make_gw: MakeGw) -> None:
    env = {"GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false"}
    fakes = [FakeGateway(lambda job: [0.4, TextDelta("slow"), Done()]) for _ in range(2)]
    a = await make_gw(env=env, redis=True, gateway=fakes[0])
    b = await make_gw(env=env, redis=True, gateway=fakes[1])
    await a.add_key("sk-shared-conc-000000001", max_concurrent=3, rpm=100)  # b reads the same storage
    headers = a.headers("sk-shared-conc-000000001")

    async def one(gw: Gw) -> int:
        resp = await gw.http.post("/v1/chat/completions", json=CHAT, headers=headers)
        await resp.release()
        return resp.status

    statuses = await asyncio.gather(*(one(gw) for gw in (a, b) * 4))
    assert sorted(statuses) == [200] * 3 + [429] * 5, statuses
    # Leases are returned: three more succeed afterwards.
    assert await asyncio.gather(one(a), one(b), one(a)) == [200, 200, 200]
