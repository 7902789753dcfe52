"""A worker's memory under the attack's attachments (issue 18, point 3), measured from outside.

`serve` runs as its own process; a local aiohttp server (127.0.0.1, `security.allow_private_fetch` on)
serves 45 MB images, declared (Content-Length) or chunked. The request of the attack run, 16 of them
in one chat message, is sent three times at once: the worker answers 413 and its peak RSS (VmHWM in
/proc) stays under the documented ceiling, then it gives the memory and the spooled files back. Two
30 MB images (under both bounds) are fetched to disk, uploaded to fakegrok from there, and answered.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from grok2api.pool.ops import import_tokens
from tests.pngs import png
from tests.scale.test_workers_quota import base_env, fake_url, free_port, wait_http  # noqa: F401
from tests.storage.conftest import Backend

pytestmark = pytest.mark.slow

KEY = "sk-attachment-memory-0001"
MB = 1024 * 1024
BIG = 45 * MB
CHUNK = 256 * 1024
# README, Operations: attachments add at most attachments_memory_mb (256) to a worker; measured far less.
CEILING_MB = 256
HEAD = png(64, 64)


def _pages() -> web.Application:
    async def big(request: web.Request) -> web.StreamResponse:
        size = int(request.match_info["mb"]) * MB
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        if request.query.get("declared"):
            resp.content_length = size
        else:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(HEAD)
        sent, zeros = len(HEAD), bytes(CHUNK)
        try:
            while sent < size:
                n = min(CHUNK, size - sent)
                await resp.write(zeros[:n])
                sent += n
        except (ConnectionError, RuntimeError):
            pass  # the gateway stopped reading at its bound: expected
        return resp

    app = web.Application()
    app.router.add_get("/{mb:\\d+}/{name}.png", big)
    return app


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """The image server, on 127.0.0.1 in a thread of its own."""
    port, ready, stop = free_port(), threading.Event(), threading.Event()

    def serve() -> None:
        async def main() -> None:
            runner = web.AppRunner(_pages(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(10)


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def _chat(urls: list[str]) -> dict:
    parts = [{"type": "text", "text": "what are these?"}] + [{"type": "image_url", "image_url": {"url": u}}
                                                                for u in urls]
    return {"model": "grok-4", "messages": [{"role": "user", "content": parts}]}


@pytest.mark.timeout(180)
async def test_sixteen_45_mb_images_three_times_at_once_stay_under_the_ceiling(
        images: str, fake_url: str, tmp_path: Path) -> None:  # noqa: F811
    backend = Backend("sqlite", "", tmp_path)
    storage = await backend.open()
    await import_tokens(storage, "super-attachment-memory", default_pool="super")
    await storage.close()
    port = free_port()
    env = base_env(tmp_path)
    env.update({"GROK2API_APP_API_KEY": KEY, "GROK2API_SECURITY_ALLOW_PRIVATE_FETCH": "true",
                "GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false", "GROK2API_TOKEN_AUTO_REFRESH": "false",
                "GROK2API_NETWORK_GROK_URL": fake_url, "GROK2API_NETWORK_ASSETS_URL": fake_url,
                "GROK2API_NETWORK_ACCOUNTS_URL": fake_url, "GROK2API_CHAT_TRANSPORT": "rest"})
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    spool = tmp_path / "tmp" / "attachments"
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            async def ask(body: dict) -> tuple[int, dict]:
                async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                                     headers=headers) as resp:
                    return resp.status, await resp.json()

            await ask({"model": "grok-4", "messages": [{"role": "user", "content": "warm up"}]})
            baseline = _kb(proc.pid, "VmRSS")
            figures = []
            for declared in ("1", ""):  # a declared length, then chunked bodies read until a bound
                query = f"?declared={declared}" if declared else ""
                urls = [f"{images}/45/{i}-{declared or 'c'}.png{query}" for i in range(16)]
                results = await asyncio.gather(*(ask(_chat(urls)) for _ in range(3)))
                assert [s for s, _ in results] == [413] * 3, results
                assert all(b["error"]["code"] == "request_too_large" for _, b in results), results
                figures.append(_kb(proc.pid, "VmHWM"))
            # Two 30 MB images: under both bounds, spooled to disk and uploaded from there.
            fine = [f"{images}/30/ok-{i}.png" for i in range(2)]
            status, body = await ask(_chat(fine))
            assert status == 200, body
            peak = _kb(proc.pid, "VmHWM")
            await asyncio.sleep(0.5)
            after = _kb(proc.pid, "VmRSS")
        print(f"\nRSS baseline {baseline // 1024} MB; peak after 3x16x45 MB declared {figures[0] // 1024} MB, "
              f"chunked {figures[1] // 1024} MB; after 2x30 MB accepted {peak // 1024} MB; now {after // 1024} MB")
        assert peak - baseline < CEILING_MB * 1024, (baseline, figures, peak)
        assert after - baseline < 64 * 1024, (baseline, after)  # given back, not lingering
        assert list(spool.iterdir()) == []  # no spooled file outlives its request
        async with aiohttp.ClientSession() as http, \
                http.get(fake_url + "/_fake/requests", params={"path": "/http/upload-file-v2"}) as r:
            sizes = [u["form"]["file"]["size"] for u in (await r.json())["requests"]
                     if u["cookies"].get("sso") == "super-attachment-memory"]
        assert sizes == [30 * MB, 30 * MB], sizes  # the whole files, sent by curl from the spool
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]
