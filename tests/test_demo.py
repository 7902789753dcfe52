"""`grok2api serve --demo`: a newcomer sees chat and images work with no Grok account, clearly labelled."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest

from .test_cli import free_port


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
        finally:
            await sdk.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login", timeout=10) as r:
            assert "Demo mode: grok.com is simulated" in r.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
