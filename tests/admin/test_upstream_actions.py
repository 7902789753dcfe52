"""Account actions that call grok.com, through the JSON admin API against fakegrok."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from grok2api import fakegrok

from .conftest import PASSWORD, ClientFactory, make_admin_app

BEARER = {"Authorization": f"Bearer {PASSWORD}"}
TOKENS = [f"acct-{i}-" + "q" * 40 for i in range(3)]


async def _client(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[Any, TestServer]:
    fake = await aiohttp_server(fakegrok.make_app())
    url = str(fake.make_url("")).rstrip("/")
    for key in ("GROK_URL", "ASSETS_URL", "ACCOUNTS_URL"):
        monkeypatch.setenv(f"GROK2API_NETWORK_{key}", url)
    client = await aiohttp_client(make_admin_app(tmp_path))
    await client.post("/api/v1/admin/tokens", headers=BEARER, json={"tokens": TOKENS})
    return client, fake


async def _finish(client: Any, started: Any) -> dict[str, Any]:
    assert started.status == 202, await started.text()
    info = await started.json()
    stream = await (await client.get(info["stream"], headers=BEARER)).text()
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", stream)
    assert events[-1][0] == "done", events[-1]
    return json.loads(events[-1][1])


async def test_refresh_nsfw_and_tos_through_the_api(aiohttp_client: ClientFactory, aiohttp_server: Any,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = await _client(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    job = await _finish(client, await client.post("/api/v1/admin/tokens/refresh", headers=BEARER, json={}))
    assert (job["ok"], job["failed"], job["percent"]) == (3, 0, 100)
    items = (await (await client.get("/api/v1/admin/tokens", headers=BEARER)).json())["items"]
    assert all(i["last_used"] == "never" for i in items)
    job = await _finish(client, await client.post("/api/v1/admin/tokens/nsfw/enable", headers=BEARER,
                                                  json={"tokens": TOKENS[:2]}))
    assert job["ok"] == 2
    items = {i["id"]: i for i in (await (await client.get("/api/v1/admin/tokens?nsfw=1", headers=BEARER)).json())["items"]}
    assert len(items) == 2
    job = await _finish(client, await client.post("/api/v1/admin/tokens/tos/accept", headers=BEARER,
                                                  json={"tokens": TOKENS[2:]}))
    assert job["ok"] == 1


async def test_a_rejected_token_fails_with_a_masked_reason(aiohttp_client: ClientFactory, aiohttp_server: Any,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, fake = await _client(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    revoked = TOKENS[1]
    fake.app[fakegrok.FAKE_STATE].set_switches(revoked, {"invalid_token": True})
    job = await _finish(client, await client.post("/api/v1/admin/tokens/refresh", headers=BEARER, json={}))
    assert (job["ok"], job["failed"]) == (2, 1)
    (error,) = job["errors"]
    assert error["error"].startswith("auth") and revoked not in json.dumps(job)
    await client.post("/api/v1/admin/login", json={"username": "admin", "password": PASSWORD})
    summary = await client.get(f"/admin/batch/{job['id']}", headers={"HX-Request": "true"})
    html = await summary.text()
    assert summary.status == 200 and "Finished: 2 ok, 1 failed of 3." in html and "1 failure and why" in html
    assert revoked not in html


async def test_imagine_websocket_streams_images_and_stops(aiohttp_client: ClientFactory, aiohttp_server: Any,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, fake = await _client(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    async with client.ws_connect("/api/v1/admin/imagine/ws", headers=BEARER) as ws:
        await ws.send_json({"type": "start", "prompt": "a red fox", "aspect_ratio": "1:1", "n": 2})
        events = []
        while not events or events[-1].get("state") not in ("done",) and events[-1]["type"] != "error":
            events.append(await ws.receive_json(timeout=20))
        images = [e for e in events if e["type"] == "image"]
        assert events[0] == {"type": "status", "state": "running", "run_id": events[0]["run_id"], "total": 2}
        assert len(images) == 2 and all(e["url"].startswith("/v1/files/image/") for e in images)
        served = await client.get(images[0]["url"])
        assert served.status == 200 and served.content_type.startswith("image/")
        fake.app[fakegrok.FAKE_STATE].config.first_frame_delay = 5.0
        await ws.send_json({"type": "start", "prompt": "slow", "n": 1})
        assert (await ws.receive_json(timeout=5))["state"] == "running"
        await ws.send_json({"type": "stop"})
        assert (await ws.receive_json(timeout=3)) == {"type": "status", "state": "stopped"}
        await ws.send_json({"type": "start", "prompt": ""})
        assert (await ws.receive_json(timeout=3))["message"] == "write a prompt first"
