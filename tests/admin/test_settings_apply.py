"""Saved settings take effect: each upstream-facing value changed through the admin is seen by grok.com
(fakegrok's request log) from the next call, in every worker, and again after a restart."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grok2api import fakegrok
from grok2api.app import make_app
from grok2api.config.settings import Settings
from grok2api.keys import GROK_CLIENT, LIVE_SETTINGS, MEDIA_SLOTS, PROXIES, WATCHER
from grok2api.server import with_saved_values
from tests.conftest import make_settings
from tests.egress.loopback import ConnectProxy

from .conftest import PASSWORD, ClientFactory

KEY = "sk-settings-apply-0123456789abcdef"
API = {"Authorization": f"Bearer {KEY}"}
ADMIN = {"Authorization": f"Bearer {PASSWORD}"}
TOKEN = "sso-settings-apply-" + "s" * 30
UA_150 = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/150.0.0.0 Safari/537.36")
# A value of the browser's 72-byte fallback form: grok.com (and the fake) accept it unverified.
MANUAL_STATSIG = base64.b64encode(b"settings-apply-manual-statsig-".ljust(72, b"x")).decode()
Record = dict[str, Any]


@dataclass
class Setup:
    tmp_path: Path
    fake: TestServer
    other: TestServer  # a second grok.com, for network.grok_url
    proxy: ConnectProxy  # dials out from 127.0.0.2
    make: Callable[[], Any]

    def records(self, server: TestServer | None = None) -> list[Record]:
        return list((server or self.fake).app[fakegrok.FAKE_STATE].records)

    def clear(self) -> None:
        for server in (self.fake, self.other):
            server.app[fakegrok.FAKE_STATE].records.clear()


def _write_config(tmp_path: Path, url: str) -> None:
    """The hosts come from config.toml (not the environment, which the admin may not override)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.toml").write_text(
        f'[network]\ngrok_url = "{url}"\nassets_url = "{url}"\naccounts_url = "{url}"\n', encoding="utf-8")


@pytest.fixture
async def setup(tmp_path: Path, aiohttp_client: ClientFactory, aiohttp_server: Any) -> AsyncIterator[Setup]:
    fake = await aiohttp_server(fakegrok.make_app())
    other = await aiohttp_server(fakegrok.make_app())
    _write_config(tmp_path, str(fake.make_url("")).rstrip("/"))
    proxy = ConnectProxy("127.0.0.2")
    await proxy.start()
    env = {"GROK2API_APP_API_KEY": KEY, "GROK2API_APP_APP_PASSWORD": PASSWORD, "GROK2API_TOKEN_AUTO_REFRESH": "false"}

    async def make() -> TestClient[Any, Any]:
        """One worker (several on one SQLite file stand in for several workers, a new one for a restart)."""
        return await aiohttp_client(make_app(make_settings(tmp_path, env=env)))

    yield Setup(tmp_path, fake, other, proxy, make)
    await proxy.stop()


async def _chat(worker: TestClient[Any, Any], model: str = "grok-4") -> None:
    resp = await worker.post("/v1/chat/completions", headers=API,
                             json={"model": model, "messages": [{"role": "user", "content": "hello"}]})
    assert resp.status == 200, await resp.text()


async def _save(worker: TestClient[Any, Any], values: dict[str, Any]) -> None:
    resp = await worker.post("/api/v1/admin/config", headers=ADMIN, json=values)
    body = await resp.json()
    assert resp.status == 200 and body["saved"] == sorted(values), body


def _last(records: list[Record], path: str) -> Record:
    found = [r for r in records if r["path"].startswith(path)]
    assert found, f"no request to {path}: {[r['path'] for r in records]}"
    return found[-1]


# setting(s) saved -> what grok.com sees on the next chat (a check over the fake's records)
CASES: dict[str, tuple[dict[str, Any], Callable[[Setup], None]]] = {
    "security.user_agent": ({"security.user_agent": UA_150}, lambda s: _check_ua(s)),
    "security.cf_clearance": ({"security.cf_clearance": "cf-clearance-saved-in-the-admin"},
                              lambda s: _check_cookie(s)),
    "chat.transport + chat.temporary": ({"chat.transport": "rest", "chat.temporary": False},
                                        lambda s: _check_rest(s)),
    "network.statsig_strategies + chat.statsig_id": (
        {"network.statsig_strategies": ["manual"], "chat.statsig_id": MANUAL_STATSIG, "chat.transport": "rest"},
        lambda s: _check_statsig(s)),
    "proxy.proxy_url": ({}, lambda s: _check_proxy(s)),  # its value (the proxy's URL) is known at run time
    "network.grok_url": ({}, lambda s: _check_host(s)),
}


def _check_ua(s: Setup) -> None:
    sent = _last(s.records(), "/ws/mgw")["headers"]
    assert sent["user-agent"] == UA_150 and '"Chromium";v="150"' in sent["sec-ch-ua"]


def _check_cookie(s: Setup) -> None:
    assert _last(s.records(), "/ws/mgw")["cookies"]["cf_clearance"] == "cf-clearance-saved-in-the-admin"


def _check_rest(s: Setup) -> None:
    chat = _last(s.records(), "/rest/app-chat/conversations/new")
    assert chat["json"]["temporary"] is False
    assert not [r for r in s.records() if r["path"].startswith("/ws/mgw")]


def _check_statsig(s: Setup) -> None:
    assert _last(s.records(), "/rest/app-chat/conversations/new")["headers"]["x-statsig-id"] == MANUAL_STATSIG


def _check_proxy(s: Setup) -> None:
    chat = _last(s.records(), "/ws/mgw")
    assert chat["remote"] == "127.0.0.2" and s.proxy.tunnels > 0  # through the proxy, not direct


def _check_host(s: Setup) -> None:
    _last(s.records(s.other), "/ws/mgw")
    assert s.records() == []  # nothing reached the first grok.com any more


def _values(s: Setup, case: str) -> dict[str, Any]:
    if case == "proxy.proxy_url":
        return {"proxy.proxy_url": s.proxy.url}
    if case == "network.grok_url":
        url = str(s.other.make_url("")).rstrip("/")
        return {"network.grok_url": url, "network.assets_url": url, "network.accounts_url": url}
    return CASES[case][0]


@pytest.mark.parametrize("case", list(CASES))
async def test_a_saved_upstream_setting_applies_live_in_every_worker_and_after_restart(setup: Setup,
                                                                                      case: str) -> None:
    a, b = await setup.make(), await setup.make()
    added = await a.post("/api/v1/admin/tokens", headers=ADMIN, json={"tokens": [TOKEN]})
    assert added.status == 200
    await _chat(b)  # before: the defaults
    if case != "proxy.proxy_url":
        assert _last(setup.records(), "/api/auth/session")["remote"] == "127.0.0.1"
    values = _values(setup, case)
    await _save(a, values)
    check = CASES[case][1]
    # The saving worker: from its next call, without a restart.
    setup.clear()
    await _chat(a)
    check(setup)
    # Another worker: as soon as its change watcher polls (every second; here at once).
    await b.app[WATCHER].poll_once()
    setup.clear()
    await _chat(b)
    check(setup)
    # After a restart: a fresh worker builds its client from the saved values from its first call.
    c = await setup.make()
    for key, value in values.items():
        assert c.app[LIVE_SETTINGS].current.get(key) == value
    setup.clear()
    await _chat(c)
    check(setup)


async def test_browser_profile_and_proxy_status_follow_the_settings(setup: Setup) -> None:
    """What the fake cannot see over plain HTTP: the TLS profile of new sessions, and the seed's proxy status."""
    a = await setup.make()
    await a.post("/api/v1/admin/tokens", headers=ADMIN, json={"tokens": [TOKEN]})
    await _chat(a)
    before = a.app[GROK_CLIENT].transport.session("")
    assert before.impersonate == "chrome152"
    status = await (await a.get("/api/v1/admin/proxy", headers=ADMIN)).json()
    assert status["data"]["mode"] == "direct"
    await _save(a, {"security.browser": "chrome146", "proxy.proxy_url": setup.proxy.url})
    assert a.app[GROK_CLIENT].transport.session("").impersonate == "chrome146"
    status = await (await a.get("/api/v1/admin/proxy", headers=ADMIN)).json()
    assert (status["data"]["mode"], status["data"]["current"]) == ("static", setup.proxy.url)
    assert a.app[PROXIES].mode == "static"
    await _chat(a)  # the session made before keeps serving the calls that used it; new calls use the new one
    restarted = await setup.make()
    assert restarted.app[GROK_CLIENT].transport.session("").impersonate == "chrome146"


async def test_values_sized_at_start_apply_after_a_restart(setup: Setup) -> None:
    a = await setup.make()
    await _save(a, {"performance.media_max_concurrent": 7})
    page = await (await a.post("/api/v1/admin/config", headers=ADMIN,
                               json={"security.max_body_size_mb": 9})).json()
    assert page["after_restart"] == ["security.max_body_size_mb"]
    settings: Settings = make_settings(setup.tmp_path, env={"GROK2API_APP_API_KEY": KEY})
    assert settings.performance.media_max_concurrent == 200  # the file and defaults alone
    started = await with_saved_values(settings)  # what the server does before it builds the app
    assert (started.performance.media_max_concurrent, started.security.max_body_size_mb) == (7, 9)
    app: web.Application = make_app(started)
    assert app[MEDIA_SLOTS]._value == 7
    assert app._client_max_size == 9 * 1024 * 1024


async def test_every_upstream_field_follows_a_save(setup: Setup) -> None:
    """The cases above watch grok.com; this one covers the rest of the client's configuration: after one save
    of every upstream-facing key, every field built from settings has the new value in the running client."""
    a = await setup.make()
    before = a.app[GROK_CLIENT].config
    url = str(setup.other.make_url("")).rstrip("/")
    await _save(a, {
        "network.grok_url": url, "network.assets_url": url + "/assets", "network.accounts_url": url + "/accounts",
        "network.livekit_url": "wss://livekit.example", "network.timeout": 33, "network.statsig_demote_sec": 7.0,
        "network.legacy_media": True, "network.asset_proxy_url": setup.proxy.url, "proxy.proxy_url": setup.proxy.url,
        "network.statsig_strategies": ["signer", "manual"], "chat.statsig_signer_url": "http://127.0.0.1:9/sign",
        "chat.statsig_id": MANUAL_STATSIG, "security.browser": "chrome146", "security.user_agent": UA_150,
        "security.cf_clearance": "cf-every-field", "timeout.stream_idle_timeout": 44.0, "chat.transport": "rest",
        "chat.temporary": False, "chat.disable_memory": False, "image.quality_rest": False,
        "image.image_ws_nsfw": False, "image.image_ws_blocked_seconds": 9, "image.image_ws_final_min_bytes": 123,
        "image.image_ws_medium_min_bytes": 45})
    after = a.app[GROK_CLIENT].config
    unchanged = {f for f in ("grok_url", "assets_url", "accounts_url", "livekit_url", "browser", "user_agent",
                             "cf_clearance", "timeout", "idle_timeout", "chat_transport", "temporary", "disable_memory",
                             "statsig_strategies", "statsig_value", "statsig_signer_url", "statsig_demote_seconds",
                             "legacy_media", "quality_images_rest", "image_ws_nsfw", "image_ws_blocked_seconds",
                             "image_ws_final_min_bytes", "image_ws_medium_min_bytes", "proxy_url", "asset_proxy_url")
                 if getattr(after, f) == getattr(before, f)}
    assert unchanged == set()
    assert a.app[GROK_CLIENT].transport.config is after
    assert a.app[GROK_CLIENT].statsig.names == ["signer", "manual"]
    assert a.app[LIVE_SETTINGS].current.voice.livekit_url == ""  # network.livekit_url is used when voice's is empty
