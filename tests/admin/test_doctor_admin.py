"""The admin's "Upstream check" (tokens page, streamed over SSE) and the stats page's upstream health panel,
through the real application against fakegrok."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from grok2api import fakegrok
from grok2api.keys import POOL, STORAGE

from .conftest import ClientFactory, login, make_admin_app
from .html import attr, one, parse, text

TOKENS = [f"doctor-admin-{i}-" + "z" * 40 for i in range(2)]
API_KEY = "sk-doctor-admin-0123456789"


def hx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


async def _setup(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str, TestServer, list[str]]:
    fake = await aiohttp_server(fakegrok.make_app())
    url = str(fake.make_url("")).rstrip("/")
    cfg = fake.app[fakegrok.FAKE_STATE].config
    cfg.assets_origin = cfg.imagine_origin = url
    for key in ("GROK_URL", "ASSETS_URL", "ACCOUNTS_URL"):
        monkeypatch.setenv(f"GROK2API_NETWORK_{key}", url)
    monkeypatch.setenv("GROK2API_APP_API_KEY", API_KEY)
    monkeypatch.setenv("GROK2API_SECURITY_RATE_LIMIT_ENABLED", "false")
    monkeypatch.setenv("GROK2API_TOKEN_AUTO_REFRESH", "false")
    app = make_admin_app(tmp_path)
    client = await aiohttp_client(app)
    csrf = await login(client)
    resp = await client.post("/admin/tokens/import", data={"text": "\n".join(TOKENS), "pool": "basic"},
                             headers=hx(csrf))
    assert resp.status == 200
    by_token = {a.token: a.id for a in await app[STORAGE].all_accounts()}
    return client, csrf, fake, [by_token[t] for t in TOKENS]


def events(text: str) -> list[tuple[str, str]]:
    """(event, data) of an SSE body, data lines joined."""
    out = []
    for block in text.split("\n\n"):
        name = re.search(r"^event: (.+)$", block, re.M)
        if name:
            out.append((name.group(1), "\n".join(re.findall(r"^data: ?(.*)$", block, re.M))))
    return out


async def test_upstream_check_streams_each_step_row(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf, fake, ids = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    fake.app[fakegrok.FAKE_STATE].set_switches(TOKENS[1], {"invalid_token": True})
    resp = await client.post("/admin/tokens/check", data=[("ids", ids[0]), ("ids", ids[1])], headers=hx(csrf))
    html = await resp.text()
    assert resp.status == 200, html
    fragment = parse(html)
    pending = [attr(tr, "sse-swap") for tr in fragment.select("table.doctor-table tbody tr")]
    assert {"r0-egress", "r1-imagine"} <= set(pending) and "r0-video" not in pending
    assert all(text(one(tr, "td.result")) == "pending" for tr in fragment.select("tr.pending"))
    assert len(fragment.select("tr.pending")) == len(pending)
    stream_url = attr(one(fragment, "[sse-connect]"), "sse-connect")
    body = await (await client.get(stream_url)).text()
    got = events(body)
    rows = {name: parse(data) for name, data in got if name.startswith("r")}
    assert set(rows) == set(pending)  # every pending row is replaced, once
    first = {name.split("-", 1)[1]: attr(one(row, "tr"), "data-result") for name, row in rows.items()
             if name.startswith("r0-")}
    assert first == dict.fromkeys(first, "ok")  # mgw_reuse too: the fake keeps serving a socket (C8)
    assert attr(one(rows["r1-session"], "tr"), "data-result") == "expired"
    assert "sign in to grok.com" in text(one(rows["r1-session"], "td.next"))
    assert attr(one(rows["r1-imagine"], "tr"), "data-result") == "skipped"
    summaries = {name: one(parse(data), "span") for name, data in got if name.startswith("s")}
    assert attr(summaries["s0"], "data-exit") == "0" and attr(summaries["s1"], "data-exit") == "1"
    assert got[-1][0] == "done"
    for token in TOKENS:
        assert token not in html + body
    again = await (await client.get(stream_url)).text()
    assert "unknown or expired" in again or "already ran" in again  # a run streams once


async def test_upstream_check_refuses_bad_selections(aiohttp_client: ClientFactory, aiohttp_server: Any,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf, _, ids = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    none = await client.post("/admin/tokens/check", data={}, headers=hx(csrf))
    assert none.status == 400 and "no account selected" in await none.text()
    many = await client.post("/admin/tokens/check", data=[("ids", f"id{i}") for i in range(6)], headers=hx(csrf))
    assert many.status == 400 and "at most 5" in await many.text()
    gone = await client.post("/admin/tokens/check", data={"ids": "no-such-account"}, headers=hx(csrf))
    assert gone.status == 400 and "no longer exists" in await gone.text()
    unknown = await client.get("/admin/doctor/nope/stream")
    assert unknown.status == 404


async def test_upstream_health_panel_and_metrics(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client, _, fake, _ = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    await client.server.app[POOL].sync()  # the imported accounts, without waiting for the change watcher
    auth = {"Authorization": f"Bearer {API_KEY}"}
    chat = {"model": "grok-4", "messages": [{"role": "user", "content": "hello health"}]}
    ok = await client.post("/v1/chat/completions", json=chat, headers=auth)
    assert ok.status == 200
    fake.app[fakegrok.FAKE_STATE].set_switches(None, {"rate_limited": 30})
    limited = await client.post("/v1/chat/completions", json=chat, headers=auth)
    assert limited.status >= 400
    page = await (await client.get("/admin/stats")).text()
    panel = one(parse(page), "#upstream-health")
    cells = [text(td) for td in one(panel, "tr[data-step=chat_mgw]").select("td")]
    assert cells[:2] == ["Chat (mgw WebSocket)", "1"] and int(cells[2]) >= 1
    assert "rate_limited" in cells[3] and cells[4].startswith("429") and "UTC" in cells[5]
    sessions = int(text(one(panel, "tr[data-step=session] td.ok-count")))
    assert sessions >= 1
    for token in TOKENS:
        assert token not in page
    data = await (await client.get("/api/v1/admin/stats/requests")).json()
    by_step = {s["step"]: s for s in data["upstream"]}
    assert by_step["chat_mgw"]["ok"] == 1 and by_step["chat_mgw"]["failures"]["rate_limited"] >= 1
    metrics = await (await client.get("/metrics")).text()
    assert 'grok2api_upstream_last_hour{outcome="ok",step="chat_mgw"} 1.0' in metrics
    assert re.search(r'grok2api_upstream_last_hour\{outcome="rate_limited",step="chat_mgw"\} [1-9]', metrics)
    calls = re.search(r'grok2api_upstream_calls_total\{outcome="ok",step="session"\} (\d+)', metrics)
    assert calls and int(calls.group(1)) == sessions  # the panel and /metrics agree
    assert re.search(r'grok2api_upstream_last_error_timestamp_seconds\{step="chat_mgw"\} \d', metrics)
