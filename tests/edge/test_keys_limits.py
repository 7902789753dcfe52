"""Per-key errors and limits, per-IP limit, trusted proxies: all as OpenAI errors."""

from __future__ import annotations

import asyncio
import time

from grok2api.keys import API_KEYS, LIVE_SETTINGS, STORAGE
from grok2api.storage import make_storage
from grok2api.upstream.events import Done, TextDelta
from tests.api.fakes import FakeGateway
from tests.edge.conftest import MakeGw, error_of

CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def test_disabled_expired_and_wrong_model_keys(make_gw: MakeGw) -> None:
    gw = await make_gw()
    await gw.add_key("sk-disabled-000000000001", enabled=False)
    await gw.add_key("sk-expired-0000000000002", expires_at=time.time() - 60)
    await gw.add_key("sk-limited-0000000000003", allowed_models=["grok-3"])
    resp = await gw.http.post("/v1/chat/completions", json=CHAT, headers=gw.headers("sk-disabled-000000000001"))
    assert resp.status == 401
    assert await error_of(resp) == {"message": "This API key is disabled.", "type": "invalid_request_error",
                                    "param": None, "code": "invalid_api_key"}
    resp = await gw.http.post("/v1/chat/completions", json=CHAT, headers=gw.headers("sk-expired-0000000000002"))
    assert resp.status == 401
    assert (await error_of(resp))["message"] == "This API key has expired."
    resp = await gw.http.post("/v1/chat/completions", json=CHAT, headers=gw.headers("sk-limited-0000000000003"))
    assert resp.status == 403
    err = await error_of(resp)
    assert (err["type"], err["code"], err["param"]) == ("permission_error", "model_not_allowed", "model")
    assert gw.gateway.jobs == []


async def test_key_usage_is_counted_and_written_in_batches(make_gw: MakeGw) -> None:
    """Each request with a managed key counts once; the counters reach storage on the flush
    (every stats.flush_interval_sec) and at shutdown, never one write per request."""
    gw = await make_gw(env={"GROK2API_STATS_FLUSH_INTERVAL_SEC": "3600"})
    rec = await gw.add_key("sk-counted-0000000000001")
    before = time.time()
    for _ in range(3):
        assert (await gw.http.get("/v1/models", headers=gw.headers("sk-counted-0000000000001"))).status == 200
    assert (await gw.http.get("/v1/models", headers=gw.headers())).status == 200  # the global key: not counted
    stored = await gw.app[STORAGE].get_key(rec.id)
    assert stored is not None and (stored.use_count, stored.last_used_at) == (0, 0.0)  # not yet flushed
    await gw.app[API_KEYS].flush_uses()
    stored = await gw.app[STORAGE].get_key(rec.id)
    assert stored is not None and stored.use_count == 3 and stored.last_used_at >= before
    assert (await gw.http.get("/v1/models", headers=gw.headers("sk-counted-0000000000001"))).status == 200
    data_dir = gw.app[LIVE_SETTINGS].current.server.data_dir
    await gw.http.close()  # shutdown flushes what is pending
    storage = make_storage("sqlite", "", data_dir)
    await storage.open()
    try:
        stored = await storage.get_key(rec.id)
    finally:
        await storage.close()
    assert stored is not None and stored.use_count == 4


async def test_key_rpm_and_daily_quota(make_gw: MakeGw) -> None:
    gw = await make_gw(env={"GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false"})
    await gw.add_key("sk-rpm-00000000000000001", rpm=3)
    await gw.add_key("sk-quota-000000000000002", daily_quota=2)
    statuses = []
    for _ in range(5):
        resp = await gw.http.get("/v1/models", headers=gw.headers("sk-rpm-00000000000000001"))
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429, 429]
    err = await error_of(resp)
    assert (err["type"], err["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert "3 requests per minute" in err["message"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # The global key has no per-key limit.
    for _ in range(5):
        assert (await gw.http.get("/v1/models", headers=gw.headers())).status == 200
    statuses = [(await gw.http.get("/v1/models", headers=gw.headers("sk-quota-000000000000002"))).status
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    resp = await gw.http.get("/v1/models", headers=gw.headers("sk-quota-000000000000002"))
    err = await error_of(resp)
    assert (err["type"], err["code"]) == ("rate_limit_error", "daily_quota_exceeded")
    assert 1 <= int(resp.headers["Retry-After"]) <= 86400


async def test_key_concurrency_holds_under_parallel_requests(make_gw: MakeGw) -> None:
    fake = FakeGateway(lambda job: [0.4, TextDelta("slow"), Done()])
    gw = await make_gw(gateway=fake, env={"GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false"})
    await gw.add_key("sk-conc-0000000000000001", max_concurrent=2)
    headers = gw.headers("sk-conc-0000000000000001")

    async def one() -> tuple[int, dict]:
        resp = await gw.http.post("/v1/chat/completions", json=CHAT, headers=headers)
        return resp.status, await resp.json()

    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, fake.open)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(one() for _ in range(6)))
    watcher.cancel()
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 200, 429, 429, 429, 429], statuses
    assert peak == 2
    refused = next(b for s, b in results if s == 429)["error"]
    assert (refused["type"], refused["code"]) == ("rate_limit_error", "concurrency_limit_exceeded")
    # Slots are given back: two more in parallel succeed afterwards.
    assert sorted(s for s, _ in await asyncio.gather(one(), one())) == [200, 200]


async def test_ip_limit_429_and_exempt_paths(make_gw: MakeGw) -> None:
    gw = await make_gw(env={"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "60",
                            "GROK2API_SECURITY_RATE_LIMIT_BURST": "3"})
    statuses = [(await gw.http.get("/v1/models", headers=gw.headers())).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    resp = await gw.http.get("/v1/models", headers=gw.headers())
    err = await error_of(resp)
    assert (err["type"], err["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(resp.headers["Retry-After"]) <= 3
    # Exempt prefixes are never limited, and the limit is per IP: a rejected caller stays rejected.
    assert all([(await gw.http.get("/health")).status == 200 for _ in range(5)])
    assert (await gw.http.get("/v1/models", headers=gw.headers())).status == 429


async def test_forwarded_for_is_ignored_by_default(make_gw: MakeGw) -> None:
    """Issue 18 point 6: nothing on the host may pose as another address unless the operator trusts it."""
    gw = await make_gw(env={"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "60", "GROK2API_SECURITY_RATE_LIMIT_BURST": "2"})
    got = [(await gw.http.get("/v1/models", headers=gw.headers(
        **{"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}"}))).status for i in range(3)]
    assert got == [200, 200, 429]  # one client, the peer 127.0.0.1, however it names itself


async def test_forwarded_for_believed_only_from_trusted_proxy(make_gw: MakeGw) -> None:
    env = {"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "60", "GROK2API_SECURITY_RATE_LIMIT_BURST": "2",
           "GROK2API_SECURITY_TRUSTED_PROXY_IPS": '["127.0.0.1", "::1"]'}
    gw = await make_gw(env=env)  # the test client connects from 127.0.0.1: a trusted proxy here

    async def statuses(xff: str) -> list[int]:
        return [(await gw.http.get("/v1/models", headers=gw.headers(**{"X-Forwarded-For": xff}))).status
                for _ in range(3)]

    assert await statuses("203.0.113.7") == [200, 200, 429]
    assert await statuses("203.0.113.8") == [200, 200, 429]  # another client behind the proxy
    # Right to left: a spoofed first hop does not help once the proxy appended the real address.
    assert await statuses("1.1.1.1, 203.0.113.8") == [429, 429, 429]
    real_ip = [(await gw.http.get("/v1/models", headers=gw.headers(**{"X-Real-IP": "198.51.100.1"}))).status
               for _ in range(3)]
    assert real_ip == [200, 200, 429]

    untrusting = await make_gw(env={**env, "GROK2API_SECURITY_TRUSTED_PROXY_IPS": "10.0.0.0/8"})
    got = [(await untrusting.http.get("/v1/models", headers=untrusting.headers(
        **{"X-Forwarded-For": f"203.0.113.{i}"}))).status for i in range(3)]
    assert got == [200, 200, 429]  # the header is ignored: every request is the peer's own
