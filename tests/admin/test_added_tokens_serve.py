"""Tokens added through the admin or the CLI serve the very next request, on every worker; /ready tells the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from grok2api import fakegrok
from grok2api.app import make_app
from grok2api.keys import POOL, STORAGE
from grok2api.pool.ops import import_tokens, set_enabled
from grok2api.storage.base import account_id_for
from tests.conftest import make_settings

from .conftest import PASSWORD, ClientFactory

KEY = "sk-added-tokens-serve-0123456789"
API = {"Authorization": f"Bearer {KEY}"}
ADMIN = {"Authorization": f"Bearer {PASSWORD}"}
CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "hello"}]}


async def _workers(aiohttp_client: ClientFactory, aiohttp_server: Any,
                   tmp_path: Path) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    """Two applications on one SQLite file stand in for two workers of one deployment."""
    fake = await aiohttp_server(fakegrok.make_app())
    url = str(fake.make_url("")).rstrip("/")
    env = {"GROK2API_APP_API_KEY": KEY, "GROK2API_NETWORK_GROK_URL": url, "GROK2API_NETWORK_ASSETS_URL": url,
           "GROK2API_NETWORK_ACCOUNTS_URL": url, "GROK2API_TOKEN_AUTO_REFRESH": "false",
           "GROK2API_APP_APP_PASSWORD": PASSWORD}
    a = await aiohttp_client(make_app(make_settings(tmp_path, env=env)))
    b = await aiohttp_client(make_app(make_settings(tmp_path, env=env)))
    return a, b


async def test_a_token_added_on_one_worker_serves_the_next_request_everywhere(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path) -> None:
    a, b = await _workers(aiohttp_client, aiohttp_server, tmp_path)
    for worker in (a, b):
        assert (await worker.get("/ready")).status == 503
        assert (await worker.post("/v1/chat/completions", json=CHAT, headers=API)).status == 503
    added = await a.post("/api/v1/admin/tokens", headers=ADMIN, json={"tokens": ["sso-added-now-" + "a" * 30]})
    assert added.status == 200
    # No wait: the adding worker's view followed the admin change before it answered ...
    assert len(a.app[POOL].accounts()) == 1
    assert (await a.post("/v1/chat/completions", json=CHAT, headers=API)).status == 200
    # ... and the other worker reads the change counter on its first miss, before its watcher polls.
    assert b.app[POOL].accounts() == []
    assert (await b.post("/v1/chat/completions", json=CHAT, headers=API)).status == 200
    for worker in (a, b):
        ready = await worker.get("/ready")
        assert ready.status == 200 and (await ready.json())["accounts_serving"] == 1


async def test_a_token_added_by_the_cli_serves_the_next_request(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path) -> None:
    a, _ = await _workers(aiohttp_client, aiohttp_server, tmp_path)
    # What `grok2api tokens add` does, on the same storage, with the server running.
    await import_tokens(a.app[STORAGE], "sso-added-by-cli-" + "c" * 30)
    assert (await a.post("/v1/chat/completions", json=CHAT, headers=API)).status == 200


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_ready_follows_the_workers_own_pool(aiohttp_client: ClientFactory, aiohttp_server: Any,
                                                  tmp_path: Path, change: str) -> None:
    a, b = await _workers(aiohttp_client, aiohttp_server, tmp_path)
    token = "sso-ready-follows-" + "r" * 30
    await a.post("/api/v1/admin/tokens", headers=ADMIN, json={"tokens": [token]})
    assert (await b.get("/ready")).status == 200
    if change == "disable":
        await set_enabled(a.app[STORAGE], [account_id_for(token)], False)
    else:
        started = await a.post("/api/v1/admin/tokens/delete", headers=ADMIN, json={"tokens": [token]})
        assert started.status == 202
        assert "event: done" in await (await a.get((await started.json())["stream"], headers=ADMIN)).text()
    resp = await b.get("/ready")
    reason = (await resp.json())["reason"]
    assert resp.status == 503
    assert reason == ("none of the 1 accounts can serve now (disabled, invalid, cooling or out of quota)"
                      if change == "disable" else "no account in the pool")
