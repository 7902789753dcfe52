"""SIGTERM drain: a stream in flight finishes when it fits in the drain timeout, and is ended when it does not."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from grok2api.storage.base import Quota, account_id_for
from tests.storage.conftest import Backend

from .test_workers_quota import (  # noqa: F401
    KEY,
    base_env,
    fake_url,
    free_port,
    gateway_env,
    wait_http,
)

pytestmark = pytest.mark.slow

PROMPT = " ".join(f"word{i}" for i in range(40))  # fakegrok echoes it, one frame per token


async def start_gateway(tmp_path: Path, fake: str, drain: float, token: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    backend = Backend("sqlite", "", tmp_path)
    storage = await backend.open()
    try:
        from grok2api.pool.ops import import_tokens

        await import_tokens(storage, token, default_pool="super")
        await storage.set_quota(account_id_for(token), "fast", Quota(100, 100, 7200, time.time() + 7200))
    finally:
        await storage.close()
    port = free_port()
    env = gateway_env(backend, fake, port)
    env["SERVER_DRAIN_TIMEOUT"] = str(drain)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "grok2api", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc, port, log_path


async def stream_with_sigterm(port: int, proc: subprocess.Popen[bytes]) -> tuple[str, list[str], float]:
    """Start a stream, SIGTERM the server at the first content, read to the end; (text, events, seconds)."""
    body = {"model": "grok-4", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    text, events = "", []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http, \
            http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 200
            signalled = 0.0
            try:
                async for raw in resp.content:
                    line = raw.decode().strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    events.append(data)
                    if data == "[DONE]":
                        continue
                    chunk = json.loads(data)
                    for choice in chunk.get("choices", []):
                        text += choice.get("delta", {}).get("content") or ""
                    if text and not signalled:
                        proc.send_signal(signal.SIGTERM)
                        signalled = time.monotonic()
                        await asyncio.sleep(0.3)
                        # Stopped listening: a new connection is refused while the stream drains.
                        with pytest.raises(aiohttp.ClientConnectionError):
                            async with aiohttp.ClientSession() as other:
                                await other.get(f"http://127.0.0.1:{port}/health")
            except aiohttp.ClientPayloadError:
                events.append("<connection cut>")
    return text, events, time.monotonic() - signalled


@pytest.mark.timeout(120)
async def test_stream_in_flight_finishes_within_drain(fake_url: str, tmp_path: Path) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as http, \
            http.patch(fake_url + "/_fake/config", json={"token_interval": 0.05}) as r:
        assert r.status == 200
    try:
        proc, port, log_path = await start_gateway(tmp_path, fake_url, drain=20, token="super-drain-finishes")
        try:
            text, events, _ = await stream_with_sigterm(port, proc)
            assert PROMPT in text, events[-5:]
            assert events[-1] == "[DONE]", events[-5:]
            assert proc.wait(timeout=30) == 0
            assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        async with aiohttp.ClientSession() as http:
            await http.patch(fake_url + "/_fake/config", json={"token_interval": 0.0})


@pytest.mark.timeout(120)
async def test_stream_longer_than_drain_is_ended_and_the_server_exits(fake_url: str, tmp_path: Path) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as http, \
            http.patch(fake_url + "/_fake/config", json={"token_interval": 0.3}) as r:
        assert r.status == 200  # 40+ frames: over 12 s
    try:
        proc, port, _log = await start_gateway(tmp_path, fake_url, drain=1.5, token="super-drain-cut")
        try:
            text, events, after = await stream_with_sigterm(port, proc)
            print(f"\nstream ended {after:.1f}s after SIGTERM; last events: {events[-3:]}")
            assert PROMPT not in text
            assert after < 6, after
            # Ended visibly: an OpenAI error event and [DONE], not a silent cut.
            assert events[-1] == "[DONE]", events[-3:]
            assert json.loads(events[-2])["error"]["code"] == "server_shutting_down"
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        async with aiohttp.ClientSession() as http:
            await http.patch(fake_url + "/_fake/config", json={"token_interval": 0.0})


async def _first_content(http: aiohttp.ClientSession, port: int) -> aiohttp.ClientResponse:
    body = {"model": "grok-4", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    resp = await http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status == 200
    async for raw in resp.content:
        if b'"content"' in raw and b'"content":""' not in raw.replace(b" ", b""):
            return resp
    raise AssertionError("the stream ended before any content")


@pytest.mark.timeout(120)
async def test_streams_cut_by_shutdown_stay_spent_and_are_logged_as_503(fake_url: str,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    """Issue 18 points 1 and 8: 8 streams in flight when SIGTERM's drain runs out. grok.com counted
    all 8, so the gateway's quota agrees with it; the request log says 503 server_shutdown, not 499."""
    token = "super-drain-spent"
    async with aiohttp.ClientSession() as http, \
            http.patch(fake_url + "/_fake/config", json={"token_interval": 0.3}) as r:
        assert r.status == 200
    try:
        proc, port, log_path = await start_gateway(tmp_path, fake_url, drain=1.0, token=token)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                streams = await asyncio.gather(*(_first_content(http, port) for _ in range(8)))
                proc.send_signal(signal.SIGTERM)
                for resp in streams:  # each ends with the shutdown error event, then [DONE]
                    text = (await resp.read()).decode()
                    assert "server_shutting_down" in text and text.rstrip().endswith("[DONE]"), text[-300:]
            assert proc.wait(timeout=20) == 0, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        async with aiohttp.ClientSession() as http:
            await http.patch(fake_url + "/_fake/config", json={"token_interval": 0.0})
    async with aiohttp.ClientSession() as http:
        async with http.get(fake_url + "/_fake/requests", params={"token": token, "limit": "2000"}) as r:
            calls = [c for c in (await r.json())["requests"] if c["path"].startswith("/ws/mgw")]
        async with http.get(fake_url + "/_fake/accounts", params={"token": token}) as r:
            fake_fast = (await r.json())["quotas"]["fast"]
    assert len(calls) == 8
    storage = await Backend("sqlite", "", tmp_path).open()
    try:
        acc = await storage.get_account(account_id_for(token))
        assert acc is not None
        # The gateway's view and grok.com's count agree: 8 spent on both sides.
        assert acc.quota["fast"].remaining == 100 - 8
        assert fake_fast["total"] - fake_fast["remaining"] == 8
        from grok2api.storage.base import LogQuery
        logs, _ = await storage.query_logs(LogQuery(limit=50))
    finally:
        await storage.close()
    assert sorted((e.status, e.error_kind) for e in logs) == [(503, "server_shutdown")] * 8, logs
