"""fakegrok's Cloudflare binding: a cf_clearance counts only from the address and User-Agent it was minted
for; the control calls mint, list and revoke clearances; the request record names each caller's address."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from grok2api.fakegrok import FakeConfig, make_app, uid_for_token

TOKEN = "cf-binding-acct-0123456789"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36"


@pytest.fixture
async def cf(aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(make_app(FakeConfig(cloudflare_binding=True)))


def _cookies(clearance: str = "") -> dict[str, str]:
    out = {"Cookie": f"sso={TOKEN}; sso-rw={TOKEN}" + (f"; cf_clearance={clearance}" if clearance else ""),
           "User-Agent": UA}
    return out


async def _mint(cf: TestClient, **body: Any) -> dict[str, Any]:
    resp = await cf.post("/_fake/clearance", json=body, headers={"User-Agent": UA})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_every_call_needs_a_clearance_minted_for_its_address_and_user_agent(cf: TestClient) -> None:
    refused = await cf.get("/api/auth/session", headers=_cookies())
    assert refused.status == 403 and refused.headers["cf-mitigated"] == "challenge"
    assert "Just a moment..." in await refused.text()
    minted = await _mint(cf)
    assert (minted["address"], minted["user_agent"]) == ("127.0.0.1", UA)
    ok = await cf.get("/api/auth/session", headers=_cookies(minted["cf_clearance"]))
    assert ok.status == 200 and (await ok.json())["user"]["id"] == uid_for_token(TOKEN)
    other_ua = await cf.get("/api/auth/session", headers={**_cookies(minted["cf_clearance"]), "User-Agent": "curl/8"})
    assert other_ua.status == 403
    elsewhere = await _mint(cf, address="127.0.0.2")
    assert (await cf.get("/api/auth/session", headers=_cookies(elsewhere["cf_clearance"]))).status == 403
    listing = await (await cf.get("/_fake/clearance")).json()
    assert listing["minted"] == {"127.0.0.1": 1, "127.0.0.2": 1}
    assert listing["challenges"] == {"127.0.0.1": 3} and set(listing["live"]) == {"127.0.0.1", "127.0.0.2"}


async def test_the_mint_answer_sets_the_cookies_a_solved_challenge_sets(cf: TestClient) -> None:
    resp = await cf.post("/_fake/clearance", json={"ttl": 60}, headers={"User-Agent": UA})
    body = await resp.json()
    assert resp.cookies["cf_clearance"].value == body["cf_clearance"]
    assert resp.cookies["cf_clearance"]["max-age"] == "60" and resp.cookies["__cf_bm"].value


async def test_revoking_one_address_or_all(cf: TestClient) -> None:
    mine = (await _mint(cf))["cf_clearance"]
    await _mint(cf, address="127.0.0.2")
    assert (await (await cf.delete("/_fake/clearance", params={"address": "127.0.0.1"})).json()) == {"revoked": 1}
    assert (await cf.get("/api/auth/session", headers=_cookies(mine))).status == 403
    assert (await (await cf.delete("/_fake/clearance")).json()) == {"revoked": 1}
    assert (await (await cf.get("/_fake/clearance")).json())["live"] == {}


async def test_websocket_handshakes_are_challenged_too(cf: TestClient) -> None:
    path = f"/ws/mgw/?uid={uid_for_token(TOKEN)}"
    with pytest.raises(WSServerHandshakeError) as refused:
        await cf.ws_connect(path, headers={**_cookies(), "Origin": "https://grok.com"})
    assert refused.value.status == 403
    clearance = (await _mint(cf))["cf_clearance"]
    headers = _cookies(clearance)
    headers["Cookie"] += f"; x-userid={uid_for_token(TOKEN)}"
    ws = await cf.ws_connect(path, headers={**headers, "Origin": "https://grok.com"})
    await ws.close()


async def test_control_calls_stay_open_and_bad_mints_are_refused(cf: TestClient) -> None:
    assert (await cf.get("/_fake/state")).status == 200  # never gated
    for body in ({"ttl": -1}, {"ttl": True}, {"user_agent": ""}, {"address": 7}):
        assert (await cf.post("/_fake/clearance", json=body, headers={"User-Agent": UA})).status == 400
    assert (await cf.post("/_fake/clearance", data=b"[1]", headers={"User-Agent": UA})).status == 400


async def test_the_switch_off_lets_everyone_through_and_the_record_names_the_address(aiohttp_client: Any) -> None:
    open_fake = await aiohttp_client(make_app(FakeConfig()))
    assert (await open_fake.get("/api/auth/session", headers=_cookies())).status == 200
    records = (await (await open_fake.get("/_fake/requests")).json())["requests"]
    assert records[-1]["path"] == "/api/auth/session" and records[-1]["remote"] == "127.0.0.1"
    assert (await open_fake.patch("/_fake/config", json={"cloudflare_binding": True})).status == 200
    assert (await open_fake.get("/api/auth/session", headers=_cookies())).status == 403
