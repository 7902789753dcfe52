"""The real app (make_app: gateway, pool, upstream client, media cache) against fakegrok, with the
image and video routes mounted, driven by the official openai SDK."""

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

KEY = "sk-media-e2e-key-0123456789"
BASIC = "sso-media-basic-" + "b" * 32
SUPER = "super-media-acct-" + "s" * 32


@dataclass
class Stack:
    app: web.Application
    http: TestClient
    sdk: openai.AsyncOpenAI
    fake: TestServer

    @property
    def state(self) -> Any:
        return self.fake.app[fakegrok.FAKE_STATE]

    def switches(self, token: str | None, **switches: Any) -> None:
        self.state.set_switches(token, switches)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}"}

    async def fake_requests(self, **params: Any) -> list[dict[str, Any]]:
        async with self.http.session.get(self.fake.make_url("/_fake/requests"),
                                         params={"limit": "2000", **params}) as resp:
            assert resp.status == 200
            return (await resp.json())["requests"]


MakeStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(tmp_path: Path, aiohttp_client: Any, aiohttp_server: Any) -> AsyncIterator[MakeStack]:
    sdks: list[openai.AsyncOpenAI] = []

    async def factory(env: dict[str, str] | None = None, tokens: tuple[str, ...] = (SUPER,),
                      pool: str = "super") -> Stack:
        fake = await aiohttp_server(fakegrok.make_app(FakeConfig()))
        url = str(fake.make_url("")).rstrip("/")
        cfg = fake.app[fakegrok.FAKE_STATE].config
        cfg.assets_origin = url
        cfg.imagine_origin = url
        full_env = {
            "GROK2API_APP_API_KEY": KEY,
            "GROK2API_APP_APP_URL": "http://gw.example",
            "GROK2API_NETWORK_GROK_URL": url,
            "GROK2API_NETWORK_ASSETS_URL": url,
            "GROK2API_NETWORK_ACCOUNTS_URL": url,
            "GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false",
            "GROK2API_TOKEN_AUTO_REFRESH": "false",
            **(env or {}),
        }
        settings = make_settings(tmp_path, env=full_env)
        from grok2api.app import make_app
        from grok2api.keys import POOL, STORAGE
        app = make_app(settings)
        http = await aiohttp_client(app)
        await import_tokens(app[STORAGE], "\n".join(tokens), default_pool=pool)
        await app[POOL].sync()
        sdk = openai.AsyncOpenAI(base_url=str(http.make_url("/v1")), api_key=KEY, max_retries=0, timeout=30)
        sdks.append(sdk)
        return Stack(app=app, http=http, sdk=sdk, fake=fake)

    yield factory
    for sdk in sdks:
        await sdk.close()


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    return await make_stack()
