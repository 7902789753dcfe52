"""Session, rate limits, quota_info, ToS / birth date / NSFW (REST and gRPC-web), LiveKit, /index."""

from __future__ import annotations

import base64
import json
import re
import struct

from .conftest import Fake

GRPC = {"Content-Type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "connect-es/2.1.1"}
TOS = bytes.fromhex("00000000021001")
NSFW_ON = bytes.fromhex("0000000020" "0a021001" "121a" "0a18") + b"always_show_nsfw_content"
TRAILER_OK = b"\x80\x00\x00\x00\x0fgrpc-status:0\r\n"


async def test_auth_session(fake: Fake) -> None:
    body = (await fake.get("/api/auth/session")).json()
    assert body["status"] == "authenticated" and body["session"]["userId"] == body["user"]["id"]
    assert body["session"]["userId"] == await fake.session_uid("tok-a"), "the uid is derived from the token"
    assert body["session"]["userId"] != await fake.session_uid("tok-b")
    missing = await fake.get("/api/auth/session", token=None)
    assert missing.status_code == 401 and missing.json()["status"] == "unauthenticated"


async def test_rate_limits_both_styles(fake: Fake) -> None:
    per_mode = (await fake.post("/rest/rate-limits", {"modelName": "fast"})).json()
    assert per_mode == {"windowSizeSeconds": 86400, "remainingQueries": 30, "totalQueries": 30,
                        "lowEffortRateLimits": None, "highEffortRateLimits": None}
    legacy = (await fake.post("/rest/rate-limits", {"requestKind": "DEFAULT", "modelName": "grok-4-1-thinking-1129"},
                              token="super-z")).json()
    assert legacy["remainingTokens"] == 140 and legacy["windowSizeSeconds"] == 7200
    assert legacy["highEffortRateLimits"] == {"cost": 4, "remainingQueries": 35}
    assert (await fake.post("/rest/rate-limits", {"modelName": "nope"})).status_code == 404
    assert (await fake.post("/rest/rate-limits", {})).status_code == 404
    await fake.control("POST", "/accounts", {"token": "tok-a", "quotas": {"fast": {"remaining": 0, "total": 30}}})
    empty = (await fake.post("/rest/rate-limits", {"modelName": "fast"})).json()
    assert empty["remainingQueries"] == 0 and 0 < empty["waitTimeSeconds"] <= 86400


async def test_quota_info(fake: Fake) -> None:
    info = (await fake.post("/rest/media/imagine/quota_info", {})).json()
    assert set(info) == {"image", "imagePro", "imageEdit", "video", "video720p"} and info["image"] is None
    assert info["imagePro"] == {"available": True, "remainingQueries": 20, "windowSizeSeconds": 86400}
    await fake.control("POST", "/accounts", {"token": "tok-a", "quotas": {"video720p": {"remaining": 0, "total": 0},
                                                                          "imageEdit": {"remaining": 0, "total": 5}}})
    info = (await fake.post("/rest/media/imagine/quota_info", {})).json()
    assert info["video720p"] == {"available": False}
    assert info["imageEdit"]["remainingQueries"] == 0 and re.match(r"\d{4}-\d\d-\d\dT.*Z$", info["imageEdit"]["nextAvailableAt"])
    assert (await fake.post("/rest/media/imagine/quota_info", {"x": 1})).status_code == 400


async def test_birth_date_tos_and_nsfw_order(fake: Fake) -> None:
    early = await fake.http.post(fake.url("/auth_mgmt.AuthManagement/UpdateUserFeatureControls"), data=NSFW_ON,
                                 cookies=fake.cookies("tok-a"), headers=GRPC)
    assert early.status_code == 200 and early.headers["grpc-status"] == "9", "birth date first"
    tos = await fake.http.post(fake.url("/auth_mgmt.AuthManagement/SetTosAcceptedVersion"), data=TOS,
                               cookies=fake.cookies("tok-a"), headers=GRPC)
    assert tos.status_code == 200 and tos.content == b"\x00\x00\x00\x00\x00" + TRAILER_OK
    assert tos.headers["content-type"] == "application/grpc-web+proto"
    assert (await fake.post("/rest/auth/set-tos-accepted", {"tosVersion": 5})).json() == {}
    assert (await fake.post("/rest/auth/set-birth-date", {"birthDate": "2020-01-01T00:00:00.000Z"})).status_code == 400
    assert (await fake.post("/rest/auth/set-birth-date", {"birthDate": "1990/05/17"})).status_code == 400
    assert (await fake.post("/rest/auth/set-birth-date", {"birthDate": "1990-05-17T16:00:00.000Z"})).status_code == 200
    again = await fake.post("/rest/auth/set-birth-date", {"birthDate": "1991-07-23T14:05:09.481Z"})
    assert again.status_code == 429 and "[WKE=account:birth-date-change-limit-reached]" in again.json()["error"]["message"]
    nsfw = await fake.http.post(fake.url("/auth_mgmt.AuthManagement/UpdateUserFeatureControls"), data=NSFW_ON,
                                cookies=fake.cookies("tok-a"), headers=GRPC)
    assert nsfw.content.endswith(TRAILER_OK)
    account = fake.state.accounts["tok-a"]
    assert account.nsfw and account.grpc_tos_accepted and account.tos_version == 5
    off = NSFW_ON.replace(b"\x10\x01", b"\x10\x00", 1)
    await fake.http.post(fake.url("/auth_mgmt.AuthManagement/UpdateUserFeatureControls"), data=off,
                         cookies=fake.cookies("tok-a"), headers=GRPC)
    assert not account.nsfw


async def test_grpc_framing_is_checked(fake: Fake) -> None:
    async def call(data: bytes, **headers: str) -> dict[str, str]:
        resp = await fake.http.post(fake.url("/auth_mgmt.AuthManagement/SetTosAcceptedVersion"), data=data,
                                    cookies=fake.cookies("tok-a"), headers={**GRPC, **headers})
        return {"status": str(resp.status_code), "grpc": resp.headers.get("grpc-status", "")}

    assert (await call(TOS[:-1]))["grpc"] == "3", "length mismatch"
    assert (await call(b"\x01" + TOS[1:]))["grpc"] == "3", "compressed flag"
    assert (await call(bytes.fromhex("000000000208"  "01")))["grpc"] == "3", "wrong field"
    assert (await call(TOS, **{"Content-Type": "application/json"}))["status"] == "415"
    assert (await call(base64.b64encode(TOS), **{"Content-Type": "application/grpc-web-text"}))["grpc"] == ""
    anonymous = await fake.http.post(fake.url("/auth_mgmt.AuthManagement/SetTosAcceptedVersion"), data=TOS, headers=GRPC)
    assert anonymous.headers["grpc-status"] == "16"


async def test_weekly_credits(fake: Fake) -> None:
    basic = await fake.http.post(fake.url("/grok_api_v2.GrokBuildBilling/GetGrokCreditsConfig"), data=b"\x00" * 5,
                                 cookies=fake.cookies("tok-a"), headers=GRPC)
    assert basic.headers["grpc-status"] == "7"
    paid = await fake.http.post(fake.url("/grok_api_v2.GrokBuildBilling/GetGrokCreditsConfig"), data=b"\x00" * 5,
                                cookies=fake.cookies("super-c"), headers=GRPC)
    flag, length = paid.content[0], struct.unpack(">I", paid.content[1:5])[0]
    assert flag == 0 and paid.content[5 + length:] == TRAILER_OK and paid.content[5] == 0x0A


async def test_livekit_and_index(fake: Fake) -> None:
    payload = json.dumps({"voice": "ara", "personality": "assistant", "playback_speed": 1.0})
    body = {"sessionPayload": payload, "requestAgentDispatch": False, "livekitUrl": "wss://livekit.grok.com",
            "params": {"enable_markdown_transcript": "true"}}
    token = (await fake.post("/rest/livekit/tokens", body)).json()["token"]
    assert token.count(".") == 2
    assert (await fake.post("/rest/livekit/tokens", dict(body, sessionPayload={"voice": "ara"}))).status_code == 400
    for path, status in (("/index", 404), ("/", 200)):  # C4: /index is a 404 that still carries the meta
        page = await fake.get(path, token=None)
        match = re.search(r'<meta name="grok-site-verification" content="([^"]+)">', page.text)
        assert page.status_code == status and match and len(base64.b64decode(match.group(1))) == 48
    await fake.control("PATCH", "/config", {"index_404": False})
    assert (await fake.get("/index", token=None)).status_code == 200
