"""Pure builders: tokens, cookies, headers, statsig, gRPC-web, quota parsing, uploads, media and account bodies."""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import date
from types import SimpleNamespace

import pytest

from grok2api.upstream.account import livekit_body, parse_livekit, random_birth_date
from grok2api.upstream.assets import content_type_of, download_allowed, list_url
from grok2api.upstream.chat import ChatRequest, flatten_messages
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.frames import asset_url, decode_line, tool_line
from grok2api.upstream.grpcweb import (
    TOS_MESSAGE,
    feature_controls_message,
    frame,
    parse_reply,
)
from grok2api.upstream.headers import (
    client_hints,
    cookie_header,
    fetch_site,
    grpc_headers,
    high_entropy_hints,
    navigation_headers,
    normalize_token,
    rest_headers,
    ws_headers,
)
from grok2api.upstream.limits import (
    parse_quota_info,
    parse_rate_limits,
    rate_limits_body,
)
from grok2api.upstream.media_gen import (
    build_edit_body,
    build_legacy_edit_body,
    build_legacy_video_body,
    build_video_body,
    legacy_length,
    parse_post_id,
    video_id_from_url,
    video_message,
)
from grok2api.upstream.options import UpstreamConfig, to_ws_url
from grok2api.upstream.statsig import extract_site_verification
from grok2api.upstream.uploads import build_v1_body, parse_v1, parse_v2


@pytest.mark.parametrize(("raw", "token"), [
    ("abc", "abc"), ("sso=abc", "abc"), ("SSO=abc; sso-rw=abc; x=1", "abc"), (" abc\r\n", "abc"),
    ("a\x00b\nc", "abc"), ("sso=abc;", "abc"),
])
def test_normalize_token(raw: str, token: str) -> None:
    assert normalize_token(raw) == token


def test_cookie_header() -> None:
    assert cookie_header("sso=T;x") == "sso=T; sso-rw=T"
    assert cookie_header("T", "CF") == "sso=T; sso-rw=T; cf_clearance=CF"
    assert cookie_header("T", "", "U") == "sso=T; sso-rw=T; x-userid=U"
    # Cookies the edge set on this egress for this account go back, and its clearance wins (C5).
    assert cookie_header("T", "CF", "U", {"__cf_bm": "B", "cf_clearance": "NEW"}) == \
        "sso=T; sso-rw=T; __cf_bm=B; cf_clearance=NEW; x-userid=U"


def test_client_hints_follow_the_user_agent() -> None:
    win = client_hints(UpstreamConfig().user_agent)
    # Chrome 152's own brand list (what curl_cffi's chrome152 profile sends), low-entropy hints only (C11).
    assert win == {"Sec-Ch-Ua": '"Chromium";v="152", "Not?A_Brand";v="24", "Google Chrome";v="152"',
                   "Sec-Ch-Ua-Mobile": "?0", "Sec-Ch-Ua-Platform": '"Windows"'}
    mac = client_hints("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/136.0.0.0 Safari/537.36")
    assert mac["Sec-Ch-Ua"] == '"Chromium";v="136", "Google Chrome";v="136", "Not.A/Brand";v="99"'
    assert mac["Sec-Ch-Ua-Platform"] == '"macOS"' and mac["Sec-Ch-Ua-Mobile"] == "?0"
    edge = client_hints("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/146.0.0.0 Safari/537.36 Edg/146.0.0.0")
    assert '"Microsoft Edge";v="146"' in edge["Sec-Ch-Ua"] and edge["Sec-Ch-Ua-Platform"] == '"Windows"'
    android = client_hints("Mozilla/5.0 (Linux; Android 14; Pixel) Chrome/140.0 Mobile Safari/537.36")
    assert android["Sec-Ch-Ua-Mobile"] == "?1" and android["Sec-Ch-Ua-Platform"] == '"Android"'
    assert client_hints("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0") == {}


def test_high_entropy_hints_only_when_asked() -> None:
    ua = UpstreamConfig().user_agent
    assert high_entropy_hints(ua, frozenset()) == {}
    asked = high_entropy_hints(ua, frozenset({"sec-ch-ua-arch", "sec-ch-ua-full-version-list"}))
    assert asked == {"Sec-Ch-Ua-Arch": '"x86"',
                     "Sec-Ch-Ua-Full-Version-List":
                         '"Chromium";v="152.0.0.0", "Not?A_Brand";v="24.0.0.0", "Google Chrome";v="152.0.0.0"'}


def test_default_identity_is_the_newest_chrome_of_the_installed_curl_cffi() -> None:
    from curl_cffi.requests import BrowserType

    config = UpstreamConfig()
    majors = [int(b.value[6:].split("_")[0].rstrip("a")) for b in BrowserType
              if b.value.startswith("chrome") and "android" not in b.value]
    assert config.browser == f"chrome{max(majors)}" and config.browser in {b.value for b in BrowserType}
    assert f"Chrome/{max(majors)}.0.0.0" in config.user_agent


def test_rest_headers() -> None:
    config = UpstreamConfig()
    h = rest_headers(config, origin="https://grok.com", referer="https://grok.com/imagine")
    assert h["Origin"] == "https://grok.com" and h["Referer"] == "https://grok.com/imagine"
    assert h["Content-Type"] == "application/json" and h["Accept"] == "*/*"
    assert h["Sec-Fetch-Site"] == "same-origin" and h["Sec-Fetch-Mode"] == "cors" and h["Sec-Fetch-Dest"] == "empty"
    assert h["User-Agent"] == config.user_agent and h["Accept-Language"] == "zh-CN,zh;q=0.9,en;q=0.8"
    assert uuid.UUID(h["x-xai-request-id"]).version == 4
    assert h["x-xai-request-id"] != rest_headers(config, origin="o", referer="r")["x-xai-request-id"]
    assert "x-xai-request-id" not in rest_headers(config, origin="o", referer="r", with_request_id=False)
    assert "Baggage" not in h and "x-statsig-id" not in h  # statsig is the transport's job
    assert fetch_site("https://assets.grok.com", "https://grok.com/") == "same-site"


def test_grpc_navigation_and_ws_headers() -> None:
    config = UpstreamConfig()
    g = grpc_headers(config, origin="https://accounts.x.ai", referer="https://accounts.x.ai/accept-tos")
    assert g["Content-Type"] == "application/grpc-web+proto" and g["x-grpc-web"] == "1"
    assert g["x-user-agent"] == "connect-es/2.1.1"
    n = navigation_headers(config, origin="https://assets.grok.com", referer="https://grok.com/")
    assert n["Sec-Fetch-Dest"] == "document" and n["Sec-Fetch-Mode"] == "navigate" and n["Sec-Fetch-User"] == "?1"
    assert n["Upgrade-Insecure-Requests"] == "1" and "Content-Type" not in n and n["Accept"].startswith("text/html")
    w = ws_headers(config, "https://grok.com")
    assert w["Origin"] == "https://grok.com" and w["Cache-Control"] == "no-cache"
    assert "x-statsig-id" not in w and "x-xai-request-id" not in w


def test_site_verification_meta() -> None:
    assert extract_site_verification('<head><meta name="grok-site-verification" content="abc123"></head>') == "abc123"
    assert extract_site_verification("<meta content='xyz' name='grok-site-verification'/>") == "xyz"
    assert extract_site_verification("<html></html>") == ""


def test_grpc_web_framing() -> None:
    assert frame(TOS_MESSAGE) == bytes.fromhex("00000000021001")
    nsfw = frame(feature_controls_message())
    assert len(nsfw) == 37
    assert nsfw[:13] == bytes.fromhex("00000000200a021001121a0a18")
    assert nsfw[13:] == b"always_show_nsfw_content"
    assert frame(feature_controls_message(False))[8] == 0x00
    ok = parse_reply(frame(b"\x08\x01") + frame(b"grpc-status:0\r\ngrpc-message:\r\n", 0x80))
    assert ok.ok and ok.messages == [b"\x08\x01"] and ok.status == 0
    bad = parse_reply(frame(b"grpc-status:16\r\ngrpc-message:invalid%20credentials\r\n", 0x80))
    assert not bad.ok and bad.status == 16 and bad.message == "invalid credentials"
    assert parse_reply(b"", {"grpc-status": "7", "grpc-message": "denied"}).status == 7
    assert parse_reply(b"").status == -1 and parse_reply(b"").ok
    text = base64.b64encode(frame(b"grpc-status:0\r\n", 0x80))
    assert parse_reply(text, {"content-type": "application/grpc-web-text"}).status == 0
    with pytest.raises(ValueError):
        parse_reply(frame(b"zz", 0x01))


@pytest.mark.parametrize(("body", "expected"), [
    ({"windowSizeSeconds": 72000, "remainingQueries": 0, "totalQueries": 0, "remainingTokens": 76, "totalTokens": 80,
      "lowEffortRateLimits": {"cost": 1, "remainingQueries": 76}}, (76, 80, 72000, 0.0, "tokens")),
    ({"windowSizeSeconds": 7200, "remainingQueries": 138, "totalQueries": 140, "lowEffortRateLimits": None},
     (138, 140, 7200, 0.0, "queries")),
    ({"windowSizeSeconds": 86400, "remainingQueries": 0, "totalQueries": 30, "waitTimeSeconds": 2429},
     (0, 30, 86400, 2429.0, "queries")),
    ({}, (None, None, 0, 0.0, "queries")),
])
def test_parse_rate_limits(body: dict[str, object], expected: tuple[object, ...]) -> None:
    r = parse_rate_limits(body)
    assert (r.remaining, r.total, r.window_seconds, r.wait_seconds, r.unit) == expected


def test_rate_limits_bodies_and_quota_info() -> None:
    assert rate_limits_body("fast") == {"modelName": "fast"}
    assert rate_limits_body("") == rate_limits_body("DEFAULT") == {"requestKind": "DEFAULT",
                                                                   "modelName": "grok-4-1-thinking-1129"}
    q = parse_quota_info({"image": None, "imagePro": {"available": True, "remainingQueries": 2,
                                                      "windowSizeSeconds": 86400},
                          "imageEdit": {"available": False}, "video": None,
                          "video720p": {"available": True, "remainingQueries": 0, "windowSizeSeconds": 86400,
                                        "nextAvailableAt": "2026-08-18T04:47:49.902Z"}})
    assert q["image"] is None and q["video"] is None
    assert q["imagePro"] is not None and q["imagePro"].remaining == 2 and q["imagePro"].available
    assert q["imageEdit"] is not None and not q["imageEdit"].available and q["imageEdit"].remaining is None
    assert q["video720p"] is not None and q["video720p"].next_available_at == pytest.approx(1787028469.902)
    with pytest.raises(UpstreamError):
        parse_rate_limits([])


def test_upload_parsers() -> None:
    v2 = {"uploadId": "up_1", "terminalError": None,
          "fileMetadata": {"fileMetadataId": "m1", "fileId": "f1", "fileUri": "users/U/m1/content"}}
    got = parse_v2(v2, "https://assets.grok.com", "image/png", "a.png")
    assert (got.file_id, got.file_uri, got.url) == ("m1", "users/U/m1/content", "https://assets.grok.com/users/U/m1/content")
    assert parse_v2({"uploadId": "up_2", "fileMetadata": {"fileId": "f2"}}, "a", "m", "n").file_id == "f2"
    assert parse_v2({"uploadId": "up_3"}, "a", "m", "n").file_id == "up_3"
    with pytest.raises(UpstreamError) as info:
        parse_v2({"terminalError": {"message": "unsupported"}}, "a", "m", "n")
    assert info.value.kind is ErrorKind.BAD_REQUEST
    assert parse_v1({"fileMetadataId": "m", "fileUri": "users/U/m/content"}, "https://a", "m", "n").url == \
        "https://a/users/U/m/content"
    assert parse_v1({"fileId": "x"}, "a", "m", "n").file_id == "x"
    assert build_v1_body(b"\x89PNG", "image/png", "p.png") == {"fileName": "p.png", "fileMimeType": "image/png",
                                                               "content": "iVBORw=="}


def test_media_bodies() -> None:
    edit = build_edit_body("make the sky purple", ["f1", "f2"], "1:1")
    assert set(edit) == {"modelName", "message", "enableImageStreaming", "enableSideBySide", "sendFinalMetadata",
                         "mediaGenInput"}
    assert edit["mediaGenInput"] == {"imageToImage": {"prompt": "make the sky purple", "inputAssets": ["f1", "f2"],
                                                      "aspectRatio": "1:1"}}
    assert "aspectRatio" not in build_edit_body("p", ["f"])["mediaGenInput"]["imageToImage"]
    video = build_video_body("rain clearing over a city", aspect_ratio="9:16", seconds=30, resolution="480p",
                             preset="custom")
    assert set(video) == {"modelName", "message", "enableImageStreaming", "enableSideBySide", "sendFinalMetadata",
                          "responseMetadata", "mediaGenInput", "kind"}
    assert video["message"] == "rain clearing over a city --mode=custom"
    assert video["mediaGenInput"]["textToVideo"] == {"prompt": "rain clearing over a city", "aspectRatio": "9:16",
                                                     "duration": 15, "resolutionName": "480p"}
    assert video["kind"] == "CONVERSATION_KIND_IMAGINE" and "temporary" not in video
    assert [video_message("p", p) for p in ("fun", "normal", "spicy", "x")] == [
        "p --mode=extremely-crazy", "p --mode=normal", "p --mode=extremely-spicy-or-crazy", "p --mode=custom"]
    legacy = build_legacy_edit_body("p", ["https://a/u/1/content"], "post1", UpstreamConfig())
    assert legacy["modelName"] == "imagine-image-edit" and legacy["modelMode"] is None
    assert legacy["toolOverrides"] == {"imageGen": True}
    assert legacy["responseMetadata"]["modelConfigOverride"]["modelMap"] == {
        "imageEditModel": "imagine",
        "imageEditModelConfig": {"imageReferences": ["https://a/u/1/content"], "parentPostId": "post1"}}
    lv = build_legacy_video_body("p", "post2", aspect_ratio="", seconds=8, resolution="720p", preset="fun")
    assert lv["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"] == {
        "parentPostId": "post2", "aspectRatio": "3:2", "videoLength": 6, "resolutionName": "720p"}
    assert [legacy_length(s) for s in (1, 8, 9, 13, 30)] == [6, 6, 10, 15, 15]
    assert parse_post_id({"post": {"id": "p9"}}) == "p9"
    with pytest.raises(UpstreamError):
        parse_post_id({})
    assert video_id_from_url("https://assets.grok.com/users/U/generated/0d0d-1111-2222/generated_video.mp4") == \
        "0d0d-1111-2222"
    assert video_id_from_url("nothing") == ""


def test_account_builders() -> None:
    value = random_birth_date(random.Random(3), today=date(2026, 1, 1))
    year = int(value[:4])
    assert 1978 <= year <= 2006 and value.endswith("Z") and len(value) == len("1991-07-23T14:05:09.481Z")
    assert 1 <= int(value[8:10]) <= 28
    body = livekit_body("wss://livekit.grok.com")
    assert json.loads(body["sessionPayload"])["voice"] == "ara" and body["requestAgentDispatch"] is False
    custom = json.loads(livekit_body("u", instructions="be brief")["sessionPayload"])
    assert custom["personality"] is None and custom["is_raw_instructions"] is True
    token = parse_livekit({"token": "jwt"}, "wss://livekit.grok.com")
    assert token.ws_url == ("wss://livekit.grok.com/rtc?access_token=jwt&auto_subscribe=1&sdk=js&version=2.11.4"
                            "&protocol=15")
    with pytest.raises(UpstreamError):
        parse_livekit({}, "u")


def test_assets_helpers() -> None:
    config = UpstreamConfig()
    assert download_allowed("https://assets.grok.com/users/U/x/content", config)
    assert download_allowed("https://imagine-public.x.ai/imagine-public/images/a.jpg", config)
    assert not download_allowed("https://evil.example/x.jpg", config)
    assert not download_allowed("http://imgen.x.ai/x.jpg", config)
    assert not download_allowed("file:///etc/passwd", config)
    assert content_type_of({"content-type": "image/png; q=1"}, "x") == "image/png"
    assert content_type_of({"content-type": "application/octet-stream"}, "a/generated_video.mp4") == "video/mp4"
    # The browser's asset listing today (C12).
    assert list_url(config) == ("https://grok.com/rest/assets?pageSize=40&orderBy=ORDER_BY_CREATE_TIME"
                                "&workspaceKind=WORKSPACE_KIND_IMAGINE_ALL")
    assert "pageToken=t1" in list_url(config, "t1")


def test_frames_helpers() -> None:
    assert decode_line(b"") == [] and decode_line(b"data: [DONE]") == [] and decode_line(b"event: x") == []
    assert decode_line(b'{"a":1}{"b":2}') == [{"a": 1}, {"b": 2}]
    assert decode_line(b'{"a":1} garbage') == [{"a": 1}]
    # One object per line (orjson's path) and what only the tolerant path reads come out alike.
    assert decode_line(b' {"result":{"token":"h\\u00e9 \xe2\x9c\x93"}}\r') == [{"result": {"token": "hé ✓"}}]
    assert decode_line(b"[1]") == [] and decode_line(b"7") == [] and decode_line(b"data: {\"a\":1}") == [{"a": 1}]
    assert decode_line(b'{"n":NaN}')[0]["n"] != 0 and decode_line(b'{"big":123456789012345678901234}') == [
        {"big": 123456789012345678901234}]
    assert decode_line(b'{"t":"\xff"}') == [{"t": "\ufffd"}]  # invalid UTF-8 is replaced, as before
    assert asset_url("users/U/x.jpg", "https://assets.grok.com/") == "https://assets.grok.com/users/U/x.jpg"
    assert asset_url("/users/U/x.jpg", "https://a") == "https://a/users/U/x.jpg"
    assert asset_url("https://imgen.x.ai/x", "https://a") == "https://imgen.x.ai/x"
    assert tool_line({"xSearch": {"args": {"query": "q"}}}) == "[XSearch] q\n"
    assert tool_line({"searchImages": {"args": {"image_description": "cats"}}}) == "[SearchImage] cats\n"
    assert tool_line({"chatroomSend": {"args": {"message": "hi"}}}, rollout="Grok") == "[Grok] [AgentThink] hi\n"
    assert tool_line({"codeExecution": {"args": {"code": "1+1"}}}) == '[CodeExecution] {"code":"1+1"}\n'
    assert tool_line(None, "<rolloutId>A1</rolloutId><xai:tool_usage_card><xai:tool_name>x_search</xai:tool_name>"
                           "<xai:tool_args><![CDATA[{\"query\":\"q\"}]]></xai:tool_args></xai:tool_usage_card>") == \
        "[A1] [XSearch] q\n"
    assert tool_line(None, "") == ""


def test_flatten_messages() -> None:
    msgs = [SimpleNamespace(role="system", text="Be terse.", name=""),
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "image_url"}]},
            {"role": "tool", "content": "42", "name": "calc"},
            {"role": "user", "content": "And now?"}]
    assert flatten_messages(msgs) == ("system: Be terse.\n\nuser: Hi\n\nassistant: Hello\n\n"
                                      "tool (calc): 42\n\nAnd now?")
    assert flatten_messages(msgs[:2], style="tagged") == "[system]\nBe terse.\n\n[user]\nHi"
    assert flatten_messages([{"role": "assistant", "content": "x"}]) == "assistant: x"
    assert flatten_messages([{"role": "user", "content": "  "}, {"role": "user", "content": "q"}]) == "q"


def test_chat_request_from_route_and_config_validation() -> None:
    route = SimpleNamespace(kind="image", mode="fast", mode_id="fast", model_name="", model_mode="")
    request = ChatRequest.from_route(route, message="a fox", file_ids=["f"], thinking=False)
    assert request.message == "Drawing: a fox" and request.file_ids == ("f",) and not request.thinking
    chat = SimpleNamespace(kind="chat", mode="expert", mode_id="expert", model_name="grok-3",
                           model_mode="MODEL_MODE_GROK_3_THINKING")
    assert ChatRequest.from_route(chat, message="q", transport="rest").dialect("ws") == "rest-g2"
    with pytest.raises(ValueError):
        UpstreamConfig(chat_transport="grpc")
    with pytest.raises(ValueError):
        UpstreamConfig(statsig_strategies=("local", "magic"))
    with pytest.raises(ValueError):
        UpstreamConfig(statsig_strategies=("local", "local"))
    assert UpstreamConfig().max_clients >= 100
    assert to_ws_url("https://grok.com") == "wss://grok.com" and to_ws_url("http://h:1") == "ws://h:1"
