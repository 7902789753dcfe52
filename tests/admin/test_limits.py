"""The admin's own rate limit: API traffic never locks the operator out; a limited page is HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from .conftest import PASSWORD, ClientFactory, login, make_admin_app
from .html import one, parse, text

Client = TestClient[Any, Any]


async def _client(aiohttp_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  **env: str) -> Client:
    for key, value in env.items():
        monkeypatch.setenv("GROK2API_" + key, value)
    return await aiohttp_client(make_admin_app(tmp_path))


async def test_busy_api_never_limits_a_logged_in_operator(aiohttp_client: ClientFactory, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    client = await _client(aiohttp_client, tmp_path, monkeypatch, SECURITY_RATE_LIMIT_PER_MINUTE="60",
                           SECURITY_RATE_LIMIT_BURST="2", SECURITY_ADMIN_RATE_LIMIT_PER_MINUTE="5",
                           SECURITY_ALLOW_ANONYMOUS_API="true")
    api = [(await client.get("/v1/models")).status for _ in range(4)]
    assert api == [200, 200, 429, 429]  # the API's per-IP limit holds ...
    await login(client)  # ... and the operator on the same address logs in and works on
    for _ in range(3):
        for page in ("/admin/tokens", "/admin/keys", "/admin/stats", "/admin/logs", "/admin/config"):
            assert (await client.get(page)).status == 200, page
    assert (await client.get("/api/v1/admin/tokens")).status == 200
    bearer = {"Authorization": f"Bearer {PASSWORD}"}
    async with aiohttp.ClientSession() as script:  # a script with the admin password, no cookie
        url = client.make_url("/api/v1/admin/keys")
        statuses = [(await script.get(url, headers=bearer)).status for _ in range(8)]
    assert statuses == [200] * 8


async def test_a_limited_admin_page_is_an_html_page(aiohttp_client: ClientFactory, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client = await _client(aiohttp_client, tmp_path, monkeypatch, SECURITY_ADMIN_RATE_LIMIT_PER_MINUTE="3")
    for _ in range(3):
        assert (await client.get("/admin/login")).status == 200
    resp = await client.get("/admin/login")
    assert resp.status == 429
    assert resp.content_type == "text/html"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    page = parse(await resp.text())
    assert text(one(page, "h1")) == "429"
    assert "Too many requests" in text(one(page, "[role=alert]"))
    assert "before logging in" in text(one(page, "[role=alert]"))
    # An htmx request gets the same message as a fragment for the page's message area.
    frag = await client.get("/admin/tokens", headers={"HX-Request": "true"})
    assert frag.status == 429 and frag.headers["HX-Retarget"] == "#flash"
    # The JSON admin API answers its own envelope.
    api = await client.get("/api/v1/admin/keys")
    assert api.status == 429
    assert (await api.json())["error"]["code"] == "rate_limit_exceeded"


async def test_admin_limit_zero_means_none(aiohttp_client: ClientFactory, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    client = await _client(aiohttp_client, tmp_path, monkeypatch, SECURITY_ADMIN_RATE_LIMIT_PER_MINUTE="0",
                           SECURITY_RATE_LIMIT_PER_MINUTE="60", SECURITY_RATE_LIMIT_BURST="1")
    assert [(await client.get("/admin/login")).status for _ in range(10)] == [200] * 10
