"""Drive N concurrent streaming chats against `fakegrok.run()` in a subprocess; print its throughput.

    .venv/bin/python tests/benchmarks/fakegrok_load.py [--chats 1000] [--tokens 50] [--rounds 3]
        [--first-frame-delay 0] [--token-interval 0] [--client curl|aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request

import aiohttp

SERVER = ("from grok2api.fakegrok import FakeConfig, run; "
          "run('127.0.0.1', {port}, FakeConfig(first_frame_delay={ffd}, token_interval={ti}, record_limit=100))")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, deadline: float) -> None:
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/_fake/config", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("fakegrok did not start")


def body(i: int, tokens: int) -> dict:
    return {"message": f"[[tokens:{tokens}]] load {i}", "modeId": "fast", "temporary": True,
            "fileAttachments": [], "imageAttachments": [], "enableImageGeneration": False}


# The browser's 72-byte x1: fallback: the strict fake's length rule accepts it (chat paths are not replay-checked).
X1_STATSIG = "eDE6VHlwZUVycm9yOiBDYW5ub3QgcmVhZCBwcm9wZXJ0aWVzIG9mIHVuZGVmaW5lZCAocmVhZGluZyAnYWJjZGVmZ2hpaicp"
HEADERS = {"x-statsig-id": X1_STATSIG, "Origin": "https://grok.com", "Referer": "https://grok.com/"}
COOKIES = {"sso": "heavy-load", "sso-rw": "heavy-load"}


async def run_aiohttp(base: str, chats: int, tokens: int) -> tuple[int, int, int]:
    frames = errors = done = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, cookies=COOKIES) as http:
        async def one(i: int) -> None:
            nonlocal frames, errors, done
            try:
                async with http.post(base + "/rest/app-chat/conversations/new", json=body(i, tokens),
                                     headers=HEADERS) as resp:
                    if resp.status != 200:
                        errors += 1
                        return
                    count, last = 0, b""
                    async for line in resp.content:
                        count += 1
                        last = line
                    frames += count
                    done += json.loads(last)["result"].get("title") is not None
            except aiohttp.ClientError:
                errors += 1

        await asyncio.gather(*(one(i) for i in range(chats)))
    return done, frames, errors


async def run_curl(base: str, chats: int, tokens: int) -> tuple[int, int, int]:
    from curl_cffi.requests import AsyncSession

    frames = errors = done = 0
    async with AsyncSession(max_clients=chats, timeout=120) as http:
        async def one(i: int) -> None:
            nonlocal frames, errors, done
            try:
                resp = await http.post(base + "/rest/app-chat/conversations/new", json=body(i, tokens),
                                       headers=HEADERS, cookies=COOKIES, stream=True)
                if resp.status_code != 200:
                    errors += 1
                    return
                lines = [line async for line in resp.aiter_lines() if line]
                await resp.aclose()
                frames += len(lines)
                done += json.loads(lines[-1])["result"].get("title") is not None
            except Exception:  # noqa: BLE001 - any failure counts as an error in a load test
                errors += 1

        await asyncio.gather(*(one(i) for i in range(chats)))
    return done, frames, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-frame-delay", type=float, default=0.0)
    parser.add_argument("--token-interval", type=float, default=0.0)
    parser.add_argument("--client", choices=("aiohttp", "curl"), default="aiohttp")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port, ffd=args.first_frame_delay,
                                                                   ti=args.token_interval)])
    try:
        wait_ready(base, time.time() + 20)
        urllib.request.urlopen(urllib.request.Request(
            base + "/_fake/accounts", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"token": "heavy-load", "quotas": {"fast": 10**9}}).encode())).read()
        driver = run_aiohttp if args.client == "aiohttp" else run_curl
        for round_no in range(1, args.rounds + 1):
            started = time.perf_counter()
            done, frames, errors = asyncio.run(driver(base, args.chats, args.tokens))
            elapsed = time.perf_counter() - started
            print(f"round {round_no}: {args.chats} concurrent chats ({args.client}, {args.tokens} tokens, "
                  f"ffd={args.first_frame_delay}s, interval={args.token_interval}s): completed={done} "
                  f"errors={errors} in {elapsed:.2f}s -> {done / elapsed:.0f} chats/s, "
                  f"{frames / elapsed:.0f} frames/s", flush=True)
            if errors or done != args.chats:
                raise SystemExit(1)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
