"""`grok2api serve --demo`: a newcomer sees chat, images and video work with no Grok account, clearly labelled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import openai
import pytest

from .test_cli import free_port


def _mp4_at(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
        data: bytes = r.read()
    assert data[4:8] == b"ftyp" and len(data) > 1000, data[:16]  # an ISO BMFF file a player opens
    return data


async def _video_and_dropped_streams(port: int, key: str, sdk: openai.AsyncOpenAI) -> None:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{base}/v1/videos/generations", headers=headers,
                             json={"model": "grok-imagine-1.0-video", "prompt": "a cat surfing"}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        link = re.search(r'src="(http://[^"]+/v1/files/video/[^"]+\.mp4)"', json.dumps(body).replace('\\"', '"'))
        assert link, body
        _mp4_at(link.group(1))
        chat = await sdk.chat.completions.create(model="grok-imagine-1.0-video",
                                                 messages=[{"role": "user", "content": "a dog running"}])
        link = re.search(r'src="(http://[^"]+\.mp4)"', chat.choices[0].message.content or "")
        assert link, chat.choices[0].message.content
        _mp4_at(link.group(1))
        # Clients that drop a stream half-way (all three surfaces): a normal end, not an error.
        for path, body in (("/v1/chat/completions", {"stream": True, "messages": [
                                {"role": "user", "content": "long [[tokens:400]]"}]}),
                           ("/v1/responses", {"stream": True, "input": "long [[tokens:400]]"}),
                           ("/v1/messages", {"stream": True, "max_tokens": 4000, "messages": [
                               {"role": "user", "content": "long [[tokens:400]]"}]})):
            async with http.post(base + path, headers=headers, json={"model": "grok-4", **body}) as resp:
                assert resp.status == 200
                await resp.content.readany()
                resp.close()  # hang up with most of the answer still to come


async def _voice_page_says_it_needs_an_account(port: int, password: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        base = f"http://127.0.0.1:{port}"
        async with http.post(f"{base}/admin/login", allow_redirects=False,
                             data={"username": "admin", "password": password, "next": "/admin/voice"}) as resp:
            assert resp.status == 303
        async with http.get(f"{base}/admin/voice") as resp:
            page = await resp.text()
    assert 'id="voice-demo"' in page and "Voice needs a real Grok account" in page
    assert 'data-demo="1"' in page


@pytest.mark.timeout(120)
async def test_demo_serves_chat_and_images_and_says_it_is_simulated(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
    env.update(DATA_DIR=str(tmp_path), SERVER_HOST="127.0.0.1", SERVER_PORT=str(port))
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--demo"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        key = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not key:
            m = re.search(r"Bearer (sk-demo-[\w-]+)", log_path.read_text())
            key = m.group(1) if m else ""
            time.sleep(0.1)
        assert key, log_path.read_text()
        text = log_path.read_text()
        assert "DEMO MODE" in text and "SIMULATED" in text
        sdk = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        try:
            reply = await sdk.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hello demo"}])
            assert "hello demo" in (reply.choices[0].message.content or "")
            stream = await sdk.chat.completions.create(
                model="grok-4", stream=True, messages=[{"role": "user", "content": "streamed demo"}])
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            assert "streamed demo" in "".join(pieces) and len(pieces) > 2
            image = await sdk.chat.completions.create(
                model="grok-imagine-1.0", messages=[{"role": "user", "content": "draw a red fox"}])
            link = re.search(r"\((http://[^)]+/v1/files/image/[^)]+)\)", image.choices[0].message.content or "")
            assert link, image.choices[0].message.content
            with urllib.request.urlopen(link.group(1), timeout=10) as r:
                assert r.status == 200 and len(r.read()) > 1000
            await _video_and_dropped_streams(port, key, sdk)
        finally:
            await sdk.close()
        password = re.search(r"generated admin password for user 'admin': (\S+)", log_path.read_text())
        assert password, log_path.read_text()
        await _voice_page_says_it_needs_an_account(port, password.group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login", timeout=10) as r:
            assert "Demo mode: grok.com is simulated" in r.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        text = log_path.read_text()
        assert "client left" in text  # the dropped streams were noticed ...
        assert " ERROR " not in text and "Traceback" not in text, text  # ... and logged as the normal end they are
    finally:
        if proc.poll() is None:
            proc.kill()
