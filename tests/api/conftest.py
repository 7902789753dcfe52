"""The real app (make_app) with a scripted gateway, and an OpenAI SDK client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from grok2api.media.cache import MediaCache
from tests.api.fakes import FakeGateway
from tests.conftest import make_settings

KEY = "sk-test-global-key-0123456789"


@dataclass
class Api:
    http: TestClient
    sdk: openai.AsyncOpenAI
    gateway: FakeGateway
    media: MediaCache

    def headers(self, key: str = KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(tmp_path: Path, aiohttp_client: Any,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MakeApi]:
    sdks: list[openai.AsyncOpenAI] = []

    async def factory(env: dict[str, str] | None = None, gateway: FakeGateway | None = None,
                      key: str = KEY) -> Api:
        env = {"GROK2API_APP_API_KEY": KEY, **(env or {})}
        settings = make_settings(tmp_path, env=env)
        # imported here so the unit tests collect on their own
        from grok2api.app import make_app
        from grok2api.keys import GATEWAY, MEDIA
        app = make_app(settings)
        fake = gateway or FakeGateway()
        app[GATEWAY] = fake  # type: ignore[assignment]
        http = await aiohttp_client(app)
        sdk = openai.AsyncOpenAI(base_url=str(http.make_url("/v1")), api_key=key, max_retries=0)
        sdks.append(sdk)
        return Api(http=http, sdk=sdk, gateway=fake, media=app[MEDIA])

    yield factory
    for sdk in sdks:
        await sdk.close()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()
