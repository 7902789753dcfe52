"""The whole stack, end to end: make_app (real gateway, pool, curl_cffi client) against fakegrok,
driven by the official openai SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grok2api import fakegrok
from grok2api.fakegrok import FakeConfig
from grok2api.pool.ops import import_tokens
from tests.conftest import make_settings

KEY = "sk-gateway-e2e-key-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/12"


@dataclass
class Stack:
    app: web.Application
    http: TestClient
    sdk: openai.AsyncOpenAI
    fake: TestServer

    @property
    def state(self) -> Any:
        return self.fake.app[fakegrok.FAKE_STATE]

    @property
    def pool(self) -> Any:
        from grok2api.keys import POOL
        return self.app[POOL]

    @property
    def storage(self) -> Any:
        from grok2api.keys import STORAGE
        return self.app[STORAGE]

    async def add_tokens(self, tokens: list[str], pool: str = "basic") -> list[str]:
        """Import tokens into storage and refresh the pool view; returns the account ids in order."""
        await import_tokens(self.storage, "\n".join(tokens), default_pool=pool)
        await self.pool.sync()
        by_token = {a.token: a.id for a in await self.storage.all_accounts()}
        return [by_token[t] for t in tokens]

    async def account(self, account_id: str) -> Any:
        return await self.storage.get_account(account_id)

    def switches(self, token: str | None, **switches: Any) -> None:
        self.state.set_switches(token, switches)

    async def fake_requests(self, **params: Any) -> list[dict[str, Any]]:
        async with self.http.session.get(self.fake.make_url("/_fake/requests"),
                                         params={"limit": "2000", **params}) as resp:
            assert resp.status == 200
            return (await resp.json())["requests"]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}"}

    async def clear_requests(self) -> None:
        async with self.http.session.delete(self.fake.make_url("/_fake/requests")) as resp:
            assert resp.status == 200


MakeStack = Callable[..., Awaitable[Stack]]


async def _flush_redis(url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def stack_factory(tmp_path: Path, aiohttp_client: Any, aiohttp_server: Any,
                  sdks: list[openai.AsyncOpenAI]) -> MakeStack:
    """Builds stacks: fakegrok on its own server, the real app pointed at it (SDKs land in `sdks`
    for the fixture to close)."""

    async def factory(env: dict[str, str] | None = None, *, storage_type: str | None = None,
                      storage_url: str | None = None, fake_config: FakeConfig | None = None,
                      flush: bool = True) -> Stack:
        fake = await aiohttp_server(fakegrok.make_app(fake_config or FakeConfig()))
        url = str(fake.make_url("")).rstrip("/")
        cfg = fake.app[fakegrok.FAKE_STATE].config
        cfg.assets_origin = url
        cfg.imagine_origin = url
        full_env = {
            "GROK2API_APP_API_KEY": KEY,
            "GROK2API_NETWORK_GROK_URL": url,
            "GROK2API_NETWORK_ASSETS_URL": url,
            "GROK2API_NETWORK_ACCOUNTS_URL": url,
            "GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false",
            "GROK2API_TOKEN_AUTO_REFRESH": "false",
            **(env or {}),
        }
        if storage_type == "redis" and flush:
            await _flush_redis(storage_url or REDIS_URL)
        settings = make_settings(tmp_path, env=full_env, storage_type=storage_type,
                                 storage_url=storage_url if storage_type else None)
        from grok2api.app import make_app
        app = make_app(settings)
        http = await aiohttp_client(app)
        sdk = openai.AsyncOpenAI(base_url=str(http.make_url("/v1")), api_key=KEY, max_retries=0,
                                 timeout=30)
        sdks.append(sdk)
        return Stack(app=app, http=http, sdk=sdk, fake=fake)

    return factory


@pytest.fixture
async def make_stack(tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any) -> AsyncIterator[MakeStack]:
    # The server fixture first: set up first, it is torn down last, after the gateway (the client
    # fixture's app) has closed its upstream sockets; the other way round a socket the gateway keeps
    # open (chat.mgw_keep_socket) held the fake's shutdown for its 6 s.
    sdks: list[openai.AsyncOpenAI] = []
    yield stack_factory(tmp_path, aiohttp_client, aiohttp_server, sdks)
    for sdk in sdks:
        await sdk.close()


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    return await make_stack()


async def cut_stream_text(stack: Stack, content: str = "cut [[tokens:12]] here") -> str:
    """Stream a chat that the fake cuts after the first byte: the text that arrived before the client's error."""
    stream = await stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": content}], stream=True)
    received = ""
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            if chunk.choices:
                received += chunk.choices[0].delta.content or ""
    return received
