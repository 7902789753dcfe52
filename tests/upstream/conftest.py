"""Fixtures: fakegrok served on 127.0.0.1 and a GrokClient (real curl_cffi) pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from curl_cffi.requests import AsyncSession

from grok2api.fakegrok import make_app
from grok2api.upstream import GrokClient, UpstreamConfig
from grok2api.upstream.events import Event


class FakeGrok:
    """The running fake: its base URL and the control API (`/_fake/…`)."""

    def __init__(self, server: TestServer, http: AsyncSession) -> None:
        self.server = server
        self.http = http
        self.base = str(server.make_url("")).rstrip("/")

    def config(self, **overrides: Any) -> UpstreamConfig:
        """An UpstreamConfig with every host pointed at the fake and short test timeouts."""
        values: dict[str, Any] = {
            "grok_url": self.base, "assets_url": self.base, "accounts_url": self.base,
            "livekit_url": self.base.replace("http://", "ws://"), "timeout": 20.0,
            "first_byte_timeout": 5.0, "idle_timeout": 5.0, "connect_timeout": 5.0,
        }
        values.update(overrides)
        return UpstreamConfig(**values)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = await self.http.request(method, self.base + "/_fake" + path, json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def scenario(self, token: str | None, **switches: Any) -> None:
        body: dict[str, Any] = {"switches": switches}
        if token is not None:
            body["token"] = token
        await self.control("POST", "/scenarios", body)

    async def requests(self, path: str = "", **query: str) -> list[dict[str, Any]]:
        params = "&".join(f"{k}={v}" for k, v in {"path": path, **query}.items() if v)
        return (await self.control("GET", "/requests" + (f"?{params}" if params else "")))["requests"]


@pytest.fixture
async def fake(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[FakeGrok]:
    app: web.Application = make_app()
    server = await aiohttp_server(app)
    async with AsyncSession() as http:
        yield FakeGrok(server, http)


@pytest.fixture
async def make_client(fake: FakeGrok) -> AsyncIterator[Callable[..., GrokClient]]:
    clients: list[GrokClient] = []

    def factory(**overrides: Any) -> GrokClient:
        picker = overrides.pop("proxy_picker", None)
        client = GrokClient(fake.config(**overrides), proxy_picker=picker)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def client(make_client: Callable[..., GrokClient]) -> GrokClient:
    return make_client()


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [e async for e in events]

