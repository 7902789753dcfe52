"""The request log says why: refused client requests with their reason, Grok's own error text, filters that contain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from grok2api import fakegrok
from grok2api.fakegrok import FakeConfig
from grok2api.keys import POOL, RECORDER, STORAGE
from grok2api.pool.ops import import_tokens
from grok2api.storage.base import LogEntry, LogQuery

from .conftest import ClientFactory, login, make_admin_app
from .html import one, parse, text

KEY = "sk-log-reasons-0123456789abcdef"
TOKEN = "sso-log-reasons-" + "r" * 32


async def _gateway(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient[Any, Any], TestServer]:
    fake = await aiohttp_server(fakegrok.make_app(FakeConfig()))
    url = str(fake.make_url("")).rstrip("/")
    for key, value in {"APP_API_KEY": KEY, "NETWORK_GROK_URL": url, "NETWORK_ASSETS_URL": url,
                       "NETWORK_ACCOUNTS_URL": url, "TOKEN_AUTO_REFRESH": "false", "RETRY_MAX_RETRY": "0"}.items():
        monkeypatch.setenv("GROK2API_" + key, value)
    client = await aiohttp_client(make_admin_app(tmp_path))
    await import_tokens(client.app[STORAGE], TOKEN, default_pool="basic")
    await client.app[POOL].sync()
    return client, fake


async def _logged(client: TestClient[Any, Any]) -> dict[str, LogEntry]:
    await client.app[RECORDER].flush()
    entries, _ = await client.app[STORAGE].query_logs(LogQuery(limit=100))
    return {e.request_id: e for e in entries}


async def test_client_errors_and_upstream_errors_are_logged_with_their_reason(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, fake = await _gateway(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    hello = [{"role": "user", "content": "hi"}]
    cases = {
        "bad-json": (b'{"model": "grok-4", "messages": [', 400),
        "unknown-model": (b'{"model": "grok-99", "messages": [{"role": "user", "content": "hi"}]}', 404),
        "n-two": (b'{"model": "grok-4", "n": 2, "messages": [{"role": "user", "content": "hi"}]}', 400),
    }
    for rid, (body, status) in cases.items():
        resp = await client.post("/v1/chat/completions", data=body, headers={**auth, "X-Request-Id": rid})
        assert resp.status == status, await resp.text()
    # Grok fails: its own words reach the log entry's detail, not only a kind.
    fake.app[fakegrok.FAKE_STATE].set_switches(None, {"server_error": 500})
    failed = await client.post("/v1/chat/completions", json={"model": "grok-4", "messages": hello},
                               headers={**auth, "X-Request-Id": "upstream-500"})
    assert failed.status == 502
    logged = await _logged(client)
    assert (logged["bad-json"].status, logged["bad-json"].error_kind) == (400, "invalid_json")
    assert "not valid JSON" in logged["bad-json"].detail
    assert (logged["unknown-model"].status, logged["unknown-model"].model) == (404, "grok-99")
    assert logged["unknown-model"].error_kind == "model_not_found" and "grok-99" in logged["unknown-model"].detail
    assert logged["n-two"].model == "grok-4" and "`n` greater than 1" in logged["n-two"].detail
    upstream = logged["upstream-500"]
    assert (upstream.status, upstream.error_kind) == (502, "upstream")
    assert "internal error" in upstream.detail and TOKEN not in upstream.detail
    assert len([e for e in logged.values() if e.request_id == "upstream-500"]) == 1  # one line per request
    # On the logs page: the reason under the error kind, the full text in the detail.
    await login(client)
    page = parse(await (await client.get("/admin/logs", params={"model": "99"})).text())
    rows = page.select("#logs-table tbody tr")
    assert len(rows) == 1 and "grok-99" in text(rows[0]) and "does not exist" in text(one(rows[0], ".reason"))


async def test_log_filters_match_contained_text_and_suggest_known_values(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(make_admin_app(tmp_path))
    entries = [LogEntry(ts=1_000_000.0 + i, request_id=f"r{i}", key_name=key, model=model, stream=False,
                        status=status, error_kind=kind, latency_ms=1.0, ttft_ms=0.0, account="", client_ip="")
               for i, (key, model, status, kind) in enumerate([
                   ("team-alpha", "grok-4", 200, ""), ("team-beta", "grok-4.1-fast", 429, "rate_limited"),
                   ("ops", "grok-imagine-1.0", 502, "upstream")])]
    await client.app[STORAGE].append_logs(entries)
    await login(client)

    async def shown(**query: str) -> list[str]:
        page = parse(await (await client.get("/admin/logs", params=query, headers={"HX-Request": "true"})).text())
        return sorted(text(r.select("td")[2]) for r in page.select("tbody tr") if r.select("td")[2:])

    assert await shown(key="team") == ["team-alpha", "team-beta"]
    assert await shown(model="GROK-4") == ["team-alpha", "team-beta"]
    assert await shown(error="limit") == ["team-beta"]
    assert await shown(model="imagine", error="up") == ["ops"]
    full = parse(await (await client.get("/admin/logs")).text())
    assert "grok-4" in {o["value"] for o in full.select("#known-models option")}  # the catalog's models
