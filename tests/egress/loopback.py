"""Test egresses: a small HTTP CONNECT proxy on loopback whose outbound connections leave from its own
loopback address (127.0.0.2, 127.0.0.3, ...), so a server behind it sees distinct client addresses;
and a FlareSolverr-speaking solver that earns clearances from fakegrok through an egress."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from aiohttp import web
from curl_cffi import CurlOpt
from curl_cffi.requests import AsyncSession

# The solver's browser: a Chrome whose major differs from grok2api's default identity (152), so a test
# sees the gateway switch to the solver's User-Agent and to curl_cffi's profile of the same major.
SOLVER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/146.0.0.0 Safari/537.36")


class ConnectProxy:
    """CONNECT-only HTTP proxy on 127.0.0.1:<ephemeral>, dialling out from `source`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.server: asyncio.Server | None = None
        self.port = 0
        self.tunnels = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop as a crashed proxy would: no new connections, every open tunnel cut."""
        if self.server is not None:
            self.server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port), local_addr=(self.source, 0))
            self._writers.add(up_writer)
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


class Solver:
    """A FlareSolverr v3 stand-in: `request.get` opens the page through the requested proxy the way a
    browser that solves the challenge would; the fake's `/_fake/clearance` plays the solved challenge
    (it mints for whoever calls, i.e. for the egress's address and this browser's User-Agent)."""

    def __init__(self, user_agent: str = SOLVER_UA) -> None:
        self.user_agent = user_agent
        self.solves: Counter[str] = Counter()  # proxy URL -> solves
        self.fail = False
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        started = time.time()
        if body.get("cmd") != "request.get" or not body.get("url"):
            return web.json_response({"status": "error", "message": "Request parameter 'cmd' is mandatory"},
                                     status=500)
        if self.fail:
            return web.json_response({"status": "error", "message": "Error solving the challenge. Timeout."},
                                     status=500)
        if self.delay:
            await asyncio.sleep(self.delay)
        proxy = (body.get("proxy") or {}).get("url", "")
        origin = body["url"].rstrip("/")
        options = {CurlOpt.HTTPPROXYTUNNEL: 1} if proxy else {}
        async with AsyncSession(proxy=proxy or None, curl_options=options, discard_cookies=True) as browser:
            minted = await browser.post(origin + "/_fake/clearance", json={},
                                        headers={"User-Agent": self.user_agent})
            assert minted.status_code == 200, minted.text
            earned = minted.json()
            cookies = [{"name": "cf_clearance", "value": earned["cf_clearance"], "domain": "127.0.0.1", "path": "/",
                        "expiry": int(earned["expires_at"]), "httpOnly": True, "secure": True}]
            for line in minted.headers.get_list("set-cookie"):
                name, _, rest = line.partition("=")
                if name == "__cf_bm":
                    cookies.append({"name": name, "value": rest.split(";", 1)[0], "domain": "127.0.0.1",
                                    "path": "/", "expires": -1, "httpOnly": True, "secure": True})
            jar = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
            page = await browser.get(body["url"], headers={"User-Agent": self.user_agent, "Cookie": jar})
        self.solves[proxy] += 1
        return web.json_response({
            "status": "ok", "message": "Challenge solved!", "startTimestamp": int(started * 1000),
            "endTimestamp": int(time.time() * 1000), "version": "3.3.21",
            "solution": {"url": body["url"], "status": page.status_code, "headers": {}, "response": page.text,
                         "cookies": cookies, "userAgent": self.user_agent}})
