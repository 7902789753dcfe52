"""A 50,000-account pool stays fast to page and filter; failures render readable messages, never traces."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from grok2api.keys import STORAGE
from grok2api.storage.base import AccountRecord, account_id_for

from .conftest import PASSWORD, ClientFactory, login, make_admin_app
from .html import parse, text

Client = TestClient[Any, Any]
N = 50_000


async def _fill(app: web.Application) -> None:
    records = []
    for i in range(N):
        token = f"scale-{i:06d}-" + "z" * 30
        records.append(AccountRecord(id=account_id_for(token), token=token, pool="super" if i % 10 == 0 else "basic",
                                     status="disabled" if i % 100 == 7 else "active",
                                     tags=["nsfw"] if i % 50 == 0 else [], note=f"batch {i // 1000}",
                                     created_at=1_700_000_000.0 + i))
    for start in range(0, N, 5000):
        await app[STORAGE].upsert_accounts(records[start:start + 5000])


@pytest.mark.slow
async def test_fifty_thousand_accounts_page_and_filter_fast(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    app = make_admin_app(tmp_path)
    app.on_startup.append(_fill)
    client = await aiohttp_client(app)
    await login(client)
    timings = {}
    for query in ("", "?page=1000&per=50", "?pool=super&page=50", "?status=disabled", "?nsfw=1&pool=super",
                  "?q=batch%2049"):
        started = time.perf_counter()
        resp = await client.get("/admin/tokens" + query, headers={"HX-Request": "true"})
        timings[query] = time.perf_counter() - started
        assert resp.status == 200
    last = parse(await (await client.get("/admin/tokens?page=1000&per=50", headers={"HX-Request": "true"})).text())
    assert "50000 accounts · page 1000 of 1000" in text(last) and len(last.select('input[name="ids"]')) == 50
    assert "500 accounts" in await (await client.get("/admin/tokens?status=disabled",
                                                     headers={"HX-Request": "true"})).text()
    assert "1000 accounts" in await (await client.get("/admin/tokens?nsfw=1",
                                                      headers={"HX-Request": "true"})).text()
    assert max(timings.values()) < 1.0, timings


async def test_unexpected_failure_is_a_readable_page_and_fragment(logged_in: tuple[Client, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf = logged_in
    storage = client.app[STORAGE]

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database exploded at /secret/path")

    monkeypatch.setattr(storage, "list_keys", broken)
    page = await client.get("/admin/keys")
    text = await page.text()
    assert page.status == 500 and "Something went wrong on the server" in text
    assert "Traceback" not in text and "exploded" not in text and "<body" in text
    frag = await client.get("/admin/keys", headers={"HX-Request": "true"})
    text = await frag.text()
    assert frag.status == 500 and frag.headers["HX-Retarget"] == "#flash" and "<body" not in text
    api = await client.get("/api/v1/admin/keys", headers={"Authorization": f"Bearer {PASSWORD}"})
    body = await api.json()
    assert api.status == 500 and body["error"]["code"] == "internal_error" and "exploded" not in str(body)


async def test_unknown_admin_page_is_a_404_page(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    resp = await client.get("/admin/no-such-page")
    assert resp.status == 404
    assert "Not found" in await resp.text()


async def test_cross_site_websocket_is_refused(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    resp = await client.get("/api/v1/admin/imagine/ws", headers={
        "Origin": "https://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 403


async def test_voice_page_csp_allows_only_the_livekit_server(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    csp = (await client.get("/admin/voice")).headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://livekit.grok.com;" in csp
    assert "connect-src 'self';" in (await client.get("/admin/tokens")).headers["Content-Security-Policy"]
