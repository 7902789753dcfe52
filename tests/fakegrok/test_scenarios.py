"""Every scenario switch (§12.4), per account and global, the control API and the request record."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from curl_cffi import CurlError
from curl_cffi.requests.exceptions import RequestException

from .conftest import Fake, g1_body, g2_body, ndjson
from .test_ws import REFUSED, imagine_request, mgw_open, recv, session_create, turn

NEW = "/rest/app-chat/conversations/new"


async def switch(fake: Fake, switches: dict, token: str | None = "tok-a") -> None:
    await fake.control("POST", "/scenarios", {"token": token, "switches": switches})


async def test_invalid_token_and_blocked(fake: Fake) -> None:
    await switch(fake, {"invalid_token": True})
    resp = await fake.post(NEW, g1_body("hi"))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 16
    assert (await fake.get("/api/auth/session")).json()["status"] == "unauthenticated"
    assert (await fake.post(NEW, g1_body("hi"), token="tok-b")).status_code == 200, "only that account"
    await switch(fake, {"invalid_token": False, "blocked": True})
    blocked = await fake.post("/rest/rate-limits", {"modelName": "fast"})
    assert blocked.status_code == 403 and blocked.json()["error"]["message"] == "blocked-user"
    assert (await fake.get("/api/auth/session")).json() == {"status": "blocked"}


async def test_cloudflare_challenge_everywhere(fake: Fake) -> None:
    await switch(fake, {"cloudflare": True}, token=None)
    for resp in (await fake.post(NEW, g1_body("hi")), await fake.get("/index", token=None)):
        assert resp.status_code == 403 and "Just a moment..." in resp.text and "challenge-platform" in resp.text
        assert resp.headers["content-type"].startswith("text/html")
    with pytest.raises(REFUSED, match="403"):
        await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))


async def test_anti_bot_and_strict_statsig(fake: Fake) -> None:
    await switch(fake, {"anti_bot": {"times": 1}})
    first = await fake.post(NEW, g1_body("hi"))
    assert first.status_code == 403 and first.json() == {"error": {"code": 7, "message": "Request rejected by anti-bot rules.", "details": []}}
    assert (await fake.post(NEW, g1_body("hi"))).status_code == 200, "times=1 fires once (the retry succeeds)"
    fallback = "ZTpUeXBlRXJyb3I6IENhbm5vdCByZWFkIHByb3BlcnRpZXMgb2YgdW5kZWZpbmVk"  # strict by default
    assert (await fake.post(NEW, g1_body("hi"), headers={"x-statsig-id": fallback})).status_code == 403
    assert (await fake.post("/rest/rate-limits", {"modelName": "fast"}, headers={"x-statsig-id": fallback})).status_code == 403
    assert (await fake.post(NEW, g1_body("hi"))).status_code == 200, "a 72-byte value passes"
    await switch(fake, {"anti_bot": True})
    ws = await mgw_open(fake)
    await ws.send_str(session_create())
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    assert (await turn(ws, sid, "[user]\nhi"))[-1]["event"]["error"]["code"] == "anti_bot"
    await ws.close()


async def test_rate_limited(fake: Fake) -> None:
    await switch(fake, {"rate_limited": 45})
    resp = await fake.post(NEW, g2_body("hi"))
    assert resp.status_code == 429 and resp.headers["retry-after"] == "45"
    assert resp.json() == {"error": {"code": 8, "message": "Too many requests", "details": []}}
    limits = (await fake.post("/rest/rate-limits", {"modelName": "fast"})).json()
    assert limits["remainingQueries"] == 0 and limits["waitTimeSeconds"] == 45
    assert (await fake.post("/rest/media/imagine/quota_info", {})).json()["imagePro"]["remainingQueries"] == 0
    with pytest.raises(REFUSED, match="429"):
        await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))


async def test_server_error_and_safety(fake: Fake) -> None:
    await switch(fake, {"server_error": 503}, token=None)
    resp = await fake.post(NEW, g1_body("hi"))
    assert resp.status_code == 503 and resp.json()["error"]["code"] == 14
    await fake.control("DELETE", "/scenarios")
    await switch(fake, {"safety_rejected": True})
    safety = await fake.post(NEW, g1_body("hi"))
    assert safety.status_code == 403 and "content violates usage guidelines" in safety.text.lower()


async def test_slow_first_byte_and_pacing(fake: Fake) -> None:
    await switch(fake, {"slow_first_byte": 0.4})
    started = time.perf_counter()
    assert (await fake.post(NEW, g1_body("hi"))).status_code == 200
    assert time.perf_counter() - started >= 0.4
    await fake.control("PATCH", "/config", {"first_frame_delay": 0.2, "token_interval": 0.02})
    started = time.perf_counter()
    await fake.stream(NEW, g1_body("[[tokens:10]]"))
    assert time.perf_counter() - started >= 0.2 + 0.02 * 10


async def test_usage_limit_in_band(fake: Fake) -> None:
    await switch(fake, {"usage_limit": True})
    frames = await fake.stream(NEW, g1_body("hi"))
    assert "conversation" in frames[0]["result"]
    assert frames[-1]["result"]["response"]["error"]["message"].startswith("You've reached your usage limit")
    assert not any("modelResponse" in f["result"].get("response", {}) for f in frames)


async def test_stream_cut_abort_and_clean(fake: Fake) -> None:
    await switch(fake, {"stream_cut": "clean"})
    frames = await fake.stream(NEW, g1_body("[[tokens:20]]"))
    assert 0 < sum(1 for f in frames if "token" in f["result"].get("response", {})) < 20
    assert not any("modelResponse" in f["result"].get("response", {}) for f in frames)
    await switch(fake, {"stream_cut": True})
    with pytest.raises((CurlError, RequestException)):
        await fake.post(NEW, g1_body("[[tokens:20]]"))
    await switch(fake, {"stream_cut": "clean"})
    ws = await mgw_open(fake)
    await ws.send_str(session_create())
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    with pytest.raises(REFUSED):
        await turn(ws, sid, "[user]\n[[tokens:20]]")


async def test_stall_mid_stream(fake: Fake) -> None:
    await switch(fake, {"stall": 0.5})
    started = time.perf_counter()
    frames = await fake.stream(NEW, g1_body("[[tokens:6]]"))
    assert time.perf_counter() - started >= 0.5 and any("modelResponse" in f["result"].get("response", {}) for f in frames)
    await switch(fake, {"stall": 5})
    fake.http.timeout = 1
    with pytest.raises((CurlError, RequestException)):
        await fake.post(NEW, g1_body("[[tokens:6]]"))


async def test_stream_error_and_moderated(fake: Fake) -> None:
    await switch(fake, {"stream_error": True, "moderated": True})
    frames = await fake.stream(NEW, g1_body("draw a dog"))
    model = next(f["result"]["response"]["modelResponse"] for f in frames if "modelResponse" in f["result"].get("response", {}))
    assert model["streamErrors"] and model["generatedImageUrls"] == []
    progress = [f["result"]["response"]["streamingImageGenerationResponse"] for f in frames
                if "streamingImageGenerationResponse" in f["result"].get("response", {})]
    assert all(p["moderated"] for p in progress if p["progress"] == 100)


async def test_imagine_error_and_no_final(fake: Fake) -> None:
    await switch(fake, {"imagine_error": True})
    ws = await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))
    await ws.send_str(imagine_request("x"))
    assert json.loads(await ws.recv_str()) == {"type": "error", "err_code": "rate_limit_exceeded", "err_msg": "Too many requests"}
    await ws.close()
    await switch(fake, {"imagine_error": False, "imagine_no_final": True})
    ws = await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))
    await ws.send_str(imagine_request("x", num_generations=1))
    frames = [json.loads(await ws.recv_str()) for _ in range(3)]
    assert [f.get("percentage_complete") for f in frames] == [None, 35, 80]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.recv_str(), 0.3)  # medium never finalises
    await ws.close()


async def test_unknown_switch_and_bad_values_are_refused(fake: Fake) -> None:
    for bad in ({"nope": True}, {"server_error": 404}, {"stream_cut": "sideways"}, {"anti_bot": {"times": 0}}):
        resp = await fake.http.post(fake.url("/_fake/scenarios"), json={"switches": bad})
        assert resp.status_code == 400, bad


async def test_control_api_accounts_config_records_reset(fake: Fake) -> None:
    account = await fake.control("POST", "/accounts", {"token": "plain-1", "tier": "heavy", "quotas": {"heavy": 3},
                                                       "nsfw": True})
    assert account["tier"] == "heavy" and account["quotas"]["heavy"]["remaining"] == 3 and account["nsfw"]
    await fake.stream(NEW, g2_body("hi", "heavy"), token="plain-1")
    assert (await fake.control("GET", "/accounts?token=plain-1"))["quotas"]["heavy"]["remaining"] == 2
    bad = await fake.http.post(fake.url("/_fake/accounts"), json={"token": "x", "tier": "gold"})
    assert bad.status_code == 400
    config = await fake.control("PATCH", "/config", {"token_interval": 0.001})
    assert config["token_interval"] == 0.001
    assert (await fake.http.patch(fake.url("/_fake/config"), json={"token_interval": "fast"})).status_code == 400
    records = (await fake.control("GET", "/requests?path=/rest/app-chat&token=plain-1"))["requests"]
    assert len(records) == 1
    rec = records[0]
    assert rec["method"] == "POST" and rec["json"]["modeId"] == "heavy" and rec["cookies"]["sso-rw"] == "plain-1"
    assert rec["headers"]["x-statsig-id"] and rec["headers"]["origin"] == "https://grok.com"
    await fake.control("POST", "/reset")
    state = await fake.control("GET", "/state")
    assert state["accounts"] == [] and state["counts"]["records"] == 0 and state["config"]["token_interval"] == 0
    ndjson("{}\n")
