"""The app factory through aiohttp_client: health, readiness, error envelopes, live config."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient

from grok2api.app import make_app
from grok2api.keys import LIVE_SETTINGS, STORAGE
from grok2api.pool.ops import import_tokens
from grok2api.storage.base import TOPIC_ACCOUNTS, Quota, account_id_for

from .conftest import make_settings


async def test_health_needs_no_io(aiohttp_client, settings) -> None:
    client: TestClient = await aiohttp_client(make_app(settings))
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["worker"]
    assert resp.headers["X-Request-Id"]


async def test_ready_reports_why_not(aiohttp_client, settings) -> None:
    app = make_app(settings)
    client: TestClient = await aiohttp_client(app)
    resp = await client.get("/ready")
    assert resp.status == 503
    assert (await resp.json())["reason"] == "no account in the pool"
    token = "basic-ready-test-token"
    await import_tokens(app[STORAGE], token)  # as the admin and the CLI add them: the counter moves
    resp = await client.get("/ready")
    assert resp.status == 200
    assert (await resp.json())["accounts_active"] == 1
    # Honest about this worker's own pool: an account out of quota cannot serve.
    for bucket in list((await app[STORAGE].get_account(account_id_for(token))).quota):  # type: ignore[union-attr]
        await app[STORAGE].set_quota(account_id_for(token), bucket, Quota(remaining=0, total=10))
    await app[STORAGE].bump(TOPIC_ACCOUNTS)
    resp = await client.get("/ready")
    assert resp.status == 503 and "none of the 1 accounts can serve now" in (await resp.json())["reason"]


async def test_unknown_api_path_is_an_openai_error(aiohttp_client, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env={"GROK2API_APP_API_KEY": "sk-test-unknown-path"})
    client: TestClient = await aiohttp_client(make_app(settings))
    anonymous = await client.get("/v1/nope")
    assert anonymous.status == 401  # authentication comes before routing: no path probing without a key
    resp = await client.get("/v1/nope", headers={"Authorization": "Bearer sk-test-unknown-path"})
    assert resp.status == 404
    body = await resp.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "not_found"


async def test_admin_saved_value_applies_in_another_worker(aiohttp_client, tmp_path: Path) -> None:
    """Two apps on one SQLite file stand in for two workers: a saved value reaches both."""
    a = make_app(make_settings(tmp_path))
    b = make_app(make_settings(tmp_path))
    await aiohttp_client(a)
    await aiohttp_client(b)
    assert b[LIVE_SETTINGS].current.chat.transport == "ws"
    await a[STORAGE].set_config_overrides({"chat.transport": "rest"})
    for _ in range(40):  # the watcher polls every second
        if b[LIVE_SETTINGS].current.chat.transport == "rest":
            break
        await asyncio.sleep(0.1)
    assert b[LIVE_SETTINGS].current.chat.transport == "rest"
    assert b[LIVE_SETTINGS].current.sources["chat.transport"] == "admin"


async def test_bad_saved_value_keeps_previous_settings(aiohttp_client, settings) -> None:
    app = make_app(settings)
    await aiohttp_client(app)
    live = app[LIVE_SETTINGS]
    await app[STORAGE].set_config_overrides({"chat.transport": "carrier-pigeon"})
    await live.apply_overrides(app[STORAGE])
    assert live.current.chat.transport == "ws"
