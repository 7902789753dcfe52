"""Slow and malformed clients against a real `serve` process (issue 18, points 4 and 5).

A connection that never completes its request head is closed after `client_header_timeout_sec`;
past the connection cap (derived from the open-file limit) a new connection gets a 503 instead of
the server running out of descriptors; a request line or header over 8 KB is a 431 in the API's
error envelope and one warning line, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.test_workers_quota import base_env, free_port, wait_http

pytestmark = pytest.mark.slow

KEY = "sk-slowloris-000000000001"
HEADER_TIMEOUT = 2.0


def serve(tmp_path: Path, fd_limit: int = 0) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    env = base_env(tmp_path)
    env.update({"GROK2API_APP_API_KEY": KEY, "GROK2API_SECURITY_CLIENT_HEADER_TIMEOUT_SEC": str(HEADER_TIMEOUT),
                "GROK2API_TOKEN_AUTO_REFRESH": "false"})

    def limit() -> None:  # a small open-file limit the server cannot raise (soft = hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit if fd_limit else None)
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc, port, log_path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    proc, port, log_path = serve(tmp_path_factory.mktemp("slowloris"))
    try:
        yield port, log_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drip: bytes, limit: float) -> float:
    """Send `drip` every 0.3 s until the server closes the connection; the seconds it took (or `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if drip:
                writer.write(drip)
                await writer.drain()
            if await asyncio.wait_for(reader.read(1024), 0.3) == b"":
                return time.monotonic() - started
        except (TimeoutError, ConnectionError):
            if writer.is_closing() or reader.at_eof():
                return time.monotonic() - started
            continue
    return limit


async def test_a_slow_or_silent_connection_is_closed_after_the_header_timeout(server: tuple[int, Path]) -> None:
    port, _ = server
    slow = await asyncio.open_connection("127.0.0.1", port)
    slow[1].write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    silent = await asyncio.open_connection("127.0.0.1", port)
    took = await asyncio.gather(closed_after(*slow, b"X-Slow: 1\r\n", 8), closed_after(*silent, b"", 8))
    for writer in (slow[1], silent[1]):
        writer.close()
    assert all(t < HEADER_TIMEOUT + 3 for t in took), took


async def _raw(port: int, data: bytes) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    return status, headers, body


async def test_oversized_request_line_and_headers_are_a_431_envelope_without_traceback(
        server: tuple[int, Path]) -> None:
    port, log_path = server
    long_url = b"GET /v1/models?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, headers, body = await _raw(port, long_url)
    assert status == 431 and headers["Content-Type"].startswith("application/json")
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "request_header_fields_too_large"

    big_header = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    status, _, body = await _raw(port, big_header)
    assert status == 431 and json.loads(body)["error"]["code"] == "request_header_fields_too_large"
    many = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(300)) + b"\r\n"
    assert (await _raw(port, many))[0] == 431
    status, _, body = await _raw(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_http_request"
    await asyncio.sleep(0.2)
    log = log_path.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    assert "refused a malformed request head" in log


@pytest.mark.timeout(120)
async def test_slow_connections_past_the_fd_limit_neither_exhaust_nor_flood_the_log(tmp_path: Path) -> None:
    """The attack, scaled down: with an open-file limit of 256 the server caps itself at 96 client
    connections; 300 slowloris connections get 503s past the cap, a fresh client still gets an
    answer at once, and once the slow ones time out the server serves normally again."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:  # the test itself holds 300 sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    proc, port, log_path = serve(tmp_path, fd_limit=256)
    held: list[socket.socket] = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
            held.append(s)
        # A fresh client, while the slow ones hold the server: an answer, not a hang.
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as fresh:
            fresh.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = fresh.recv(4096)
        assert answer.startswith((b"HTTP/1.1 503", b"HTTP/1.1 200")), answer[:200]
        assert time.monotonic() - started < 3
        if answer.startswith(b"HTTP/1.1 503"):
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "too_many_connections"
        # The slow ones are cut after the header timeout: the server is free again.
        deadline = time.monotonic() + HEADER_TIMEOUT + 10
        while True:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as fresh:
                fresh.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if fresh.recv(4096).startswith(b"HTTP/1.1 200"):
                    break
            assert time.monotonic() < deadline, "the server never recovered"
            time.sleep(0.5)
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(timeout=30)
    log = log_path.read_text()
    assert "Too many open files" not in log, log[-3000:]
    assert log.count("connection cap reached") <= 2 and len(log.splitlines()) < 40, log[-3000:]
