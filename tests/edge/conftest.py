"""The real make_app, wired with the hygiene, limit and metrics middlewares, and a scripted gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from grok2api.access.api_keys import hash_key
from grok2api.keys import API_KEYS, GATEWAY, STORAGE
from grok2api.storage.base import ApiKeyRecord
from tests.api.fakes import FakeGateway
from tests.conftest import make_settings

KEY = "sk-test-global-key-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/11"

# Outermost first: the order app.py is asked to use.
@dataclass
class Gw:
    app: web.Application
    http: TestClient
    gateway: FakeGateway

    def headers(self, key: str = KEY, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", **extra}

    async def add_key(self, secret: str, **fields: Any) -> ApiKeyRecord:
        rec = ApiKeyRecord(id=fields.pop("id", secret[-8:]), name=fields.pop("name", secret[-8:]),
                           key_hash=hash_key(secret), prefix=secret[:6], **fields)
        await self.app[STORAGE].create_key(rec)
        self.app[API_KEYS].invalidate()
        return rec


MakeGw = Callable[..., Awaitable[Gw]]


@pytest.fixture
async def make_gw(tmp_path: Path, aiohttp_client: Any) -> MakeGw:
    counter = 0

    async def factory(env: dict[str, str] | None = None, gateway: FakeGateway | None = None,
                      redis: bool = False) -> Gw:
        nonlocal counter
        counter += 1
        from grok2api.app import make_app

        server: dict[str, Any] = {"storage_type": "redis", "storage_url": REDIS_URL} if redis else {}
        settings = make_settings(tmp_path / f"app{counter}", env={"GROK2API_APP_API_KEY": KEY, **(env or {})},
                                 **server)
        app = make_app(settings)
        fake = gateway or FakeGateway()
        app[GATEWAY] = fake  # type: ignore[assignment]
        http = await aiohttp_client(app)
        return Gw(app=app, http=http, gateway=fake)

    return factory


async def error_of(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]
