"""Fixtures: the fake served on 127.0.0.1 and a real curl_cffi client."""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from curl_cffi.requests import AsyncSession

from grok2api.fakegrok import FAKE_STATE, FakeConfig, FakeState, make_app


def fresh_statsig() -> str:
    """A value grok.com's length rule accepts (the browser's 72-byte `x1:` fallback, C1/C2), new on
    every call so that media paths never see a replay (C3)."""
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
    return base64.b64encode(f"x1:TypeError: Cannot read properties of undefined (reading '{letters}')".encode()).decode()


class Fake:
    """A running fakegrok plus the helpers tests use to talk to it like a grok.com client."""

    def __init__(self, server: TestServer, app: web.Application, http: AsyncSession) -> None:
        self.server, self.app, self.http = server, app, http
        self.base = str(server.make_url("")).rstrip("/")

    @property
    def state(self) -> FakeState:
        return self.app[FAKE_STATE]

    def url(self, path: str) -> str:
        return self.base + path

    def ws_url(self, path: str) -> str:
        return self.url(path).replace("http://", "ws://", 1)

    @staticmethod
    def cookies(token: str, **extra: str) -> dict[str, str]:
        return {"sso": token, "sso-rw": token, **extra}

    @staticmethod
    def headers(**extra: str) -> dict[str, str]:
        return {"x-statsig-id": fresh_statsig(), "Origin": "https://grok.com", "Referer": "https://grok.com/", **extra}

    async def post(self, path: str, body: Any, token: str | None = "tok-a", **kw: Any) -> Any:
        cookies = self.cookies(token) if token else {}
        return await self.http.post(self.url(path), json=body, cookies=cookies,
                                    headers=kw.pop("headers", None) or self.headers(), **kw)

    async def get(self, path: str, token: str | None = "tok-a", **kw: Any) -> Any:
        cookies = self.cookies(token) if token else {}
        return await self.http.get(self.url(path), cookies=cookies, **kw)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = await self.http.request(method, self.url("/_fake" + path), json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def stream(self, path: str, body: Any, token: str = "tok-a") -> list[dict[str, Any]]:
        resp = await self.post(path, body, token)
        assert resp.status_code == 200, resp.text
        return ndjson(resp.text)

    async def session_uid(self, token: str) -> str:
        resp = await self.get("/api/auth/session", token)
        return str(resp.json()["session"]["userId"])


def ndjson(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n"), "every frame ends with a newline"
    return [json.loads(line) for line in text.split("\n") if line]


def g1_body(message: str, mode: str = "MODEL_MODE_FAST", **extra: Any) -> dict[str, Any]:
    return {"message": message, "modelName": "grok-4-1-thinking-1129", "modelMode": mode, "fileAttachments": [],
            "imageAttachments": [], "toolOverrides": {}, "temporary": True, "disableMemory": True,
            "enableImageGeneration": True, "imageGenerationCount": 2, "isReasoning": False,
            "sendFinalMetadata": True,
            "responseMetadata": {"requestModelDetails": {"modelId": "grok-4-1-thinking-1129"}}, **extra}


def g2_body(message: str, mode: str = "fast", **extra: Any) -> dict[str, Any]:
    return {"message": message, "modeId": mode, "collectionIds": [], "disabledConnectorIds": [],
            "fileAttachments": [], "imageAttachments": [], "temporary": True, "disableMemory": True,
            "enableImageGeneration": True, "imageGenerationCount": 2, "sendFinalMetadata": True,
            "responseMetadata": {}, **extra}


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    app = make_app(FakeConfig(stall_seconds=1.0))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with AsyncSession(timeout=30) as http:
        yield Fake(server, app, http)
    await server.close()
