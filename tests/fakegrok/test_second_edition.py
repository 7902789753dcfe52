"""The fake holds clients to grok.com as it is today (§0.2): each rule on by default, each with its switch."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any

import pytest

from tests.pngs import png

from .conftest import Fake, fresh_statsig, g2_body, ndjson
from .test_ws import mgw_open, recv, session_create, turn

NEW = "/rest/app-chat/conversations/new"
E_VALUE = base64.b64encode(b"e:TypeError: Cannot read properties of undefined (reading 'childNodes')").decode()


async def page_meta(fake: Fake) -> tuple[bytes, str]:
    """The meta (48 bytes) and the fingerprint the documented rule reads from the fake's page."""
    html = (await fake.get("/", token=None)).text
    meta = base64.b64decode(re.search(r'name="grok-site-verification" content="([^"]+)"', html).group(1))
    svgs = sorted((int(n), body) for n, body in re.findall(r'<svg id="loading-x-anim-(\d+)"[^>]*>(.*?)</svg>', html))
    numbers = [int(n) for n in re.findall(r"\d+", re.search(r'd="([^"]+)"', svgs[meta[5] % len(svgs)][1]).group(1))]
    rows = len(numbers) // 11
    row = numbers[(meta[6] % rows) * 11:(meta[6] % rows + 1) * 11]
    return meta, "".join(f"{min(n, 255):02x}" for n in row)


def sign(meta: bytes, fingerprint: str, method: str, path: str, *, counter: int | None = None, key: int = 0x21,
         trailer: int = 3) -> str:
    counter = int(time.time()) - 1682924400 if counter is None else counter
    plain = (meta + counter.to_bytes(4, "little")
             + hashlib.sha256(f"{method}!{path}!{counter}".encode() + b"obfiowerehiring" + fingerprint.encode()).digest()[:16]
             + bytes([trailer]))
    return base64.b64encode(bytes([key]) + bytes(b ^ key for b in plain)).decode()


async def post(fake: Fake, path: str, body: Any, statsig: str, **headers: str) -> Any:
    return await fake.post(path, body, headers={"x-statsig-id": statsig, "Origin": "https://grok.com",
                                                "Referer": "https://grok.com/", **headers})


def refused(resp: Any, message: str = "Request rejected by anti-bot rules.") -> bool:
    return resp.status_code == 403 and resp.json() == {"error": {"code": 7, "message": message, "details": []}}


async def test_statsig_rules_c1_c2_c3(fake: Fake) -> None:
    meta, fingerprint = await page_meta(fake)
    assert refused(await post(fake, NEW, g2_body("hi"), E_VALUE))  # C1: never an e: fallback
    assert refused(await post(fake, NEW, g2_body("hi"), base64.b64encode(b"x" * 71).decode()))
    assert refused(await post(fake, NEW, g2_body("hi"), base64.b64encode(bytes(70)).decode()))  # not a signature
    assert (await post(fake, NEW, g2_body("hi"), fresh_statsig())).status_code == 200  # 72 bytes (C2)
    assert (await post(fake, NEW, g2_body("hi"), sign(meta, fingerprint, "POST", NEW))).status_code == 200
    assert refused(await post(fake, NEW, g2_body("hi"), sign(meta, fingerprint, "POST", "/rest/rate-limits")))
    assert refused(await post(fake, NEW, g2_body("hi"), sign(meta, fingerprint, "POST", NEW, trailer=4)))
    assert refused(await post(fake, NEW, g2_body("hi"), sign(meta, fingerprint, "POST", NEW, counter=5)))
    assert refused(await post(fake, NEW, g2_body("hi"), sign(bytes(48), fingerprint, "POST", NEW)))
    assert refused(await post(fake, "/rest/rate-limits", {"modelName": "fast"}, E_VALUE))
    await fake.control("PATCH", "/config", {"statsig_verify": False})
    assert (await post(fake, NEW, g2_body("hi"), base64.b64encode(bytes(70)).decode())).status_code == 200
    await fake.control("PATCH", "/config", {"statsig_strict": False})
    assert (await post(fake, NEW, g2_body("hi"), E_VALUE)).status_code == 200


async def test_a_replayed_value_is_a_stale_page_on_media_paths_only(fake: Fake) -> None:
    value = fresh_statsig()
    body = {"modelName": "imagine-video-gen", "message": "rain --mode=custom", "enableImageStreaming": True,
            "enableSideBySide": True, "sendFinalMetadata": True,
            "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {}}},
            "mediaGenInput": {"textToVideo": {"prompt": "rain", "aspectRatio": "1:1", "duration": 1,
                                              "resolutionName": "480p"}},
            "kind": "CONVERSATION_KIND_IMAGINE"}
    assert (await post(fake, NEW, body, value)).status_code == 200
    assert refused(await post(fake, NEW, body, value), "This page is out of date. Reload to continue.")
    assert (await post(fake, NEW, body, fresh_statsig())).status_code == 200
    chat = fresh_statsig()
    for _ in range(2):  # chat is not a media path
        assert (await post(fake, NEW, g2_body("hi"), chat)).status_code == 200
    post_value = fresh_statsig()
    made = await post(fake, "/rest/media/post/create", {"mediaType": "MEDIA_POST_TYPE_VIDEO", "prompt": "p"},
                      post_value)
    assert made.status_code == 200
    assert refused(await post(fake, "/rest/media/post/create", {"mediaType": "MEDIA_POST_TYPE_VIDEO", "prompt": "p"},
                              post_value), "This page is out of date. Reload to continue.")
    await fake.control("PATCH", "/config", {"statsig_replay": False})
    assert (await post(fake, NEW, body, value)).status_code == 200


def video_body(seconds: int, **spec: Any) -> dict[str, Any]:
    return {"modelName": "imagine-video-gen", "message": "rain --mode=custom", "enableImageStreaming": True,
            "enableSideBySide": True, "sendFinalMetadata": True,
            "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {}}},
            "mediaGenInput": {"textToVideo": {"prompt": "rain", "aspectRatio": "1:1", "duration": seconds,
                                              "resolutionName": "480p", **spec}},
            "kind": "CONVERSATION_KIND_IMAGINE"}


async def test_basic_accounts_get_429_for_videos_over_six_seconds(fake: Fake) -> None:
    assert (await fake.post(NEW, video_body(6), token="basic-v")).status_code == 200
    too_long = await fake.post(NEW, video_body(7), token="basic-v")
    assert too_long.status_code == 429 and too_long.json()["error"]["message"] == "Too many requests"
    assert (await fake.post(NEW, video_body(10), token="super-v")).status_code == 200
    await fake.control("PATCH", "/config", {"video_tier_limit": False})
    assert (await fake.post(NEW, video_body(10), token="basic-v")).status_code == 200


async def upload(fake: Fake, token: str = "tok-a") -> str:
    resp = await fake.post("/rest/app-chat/upload-file", {"fileName": "a.png", "fileMimeType": "image/png",
                                                          "content": base64.b64encode(png()).decode()}, token=token)
    return str(resp.json()["fileMetadataId"])


async def test_image_to_video_and_quality_images(fake: Fake) -> None:
    file_id = await upload(fake)
    body = {"modelName": "imagine-video-gen", "message": "waves --mode=custom", "enableImageStreaming": True,
            "enableSideBySide": True, "sendFinalMetadata": True,
            "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {}}},
            "mediaGenInput": {"imageToVideo": {"prompt": "waves", "inputAssets": [file_id], "aspectRatio": "16:9",
                                               "duration": 6, "resolutionName": "480p", "mode": "custom"}},
            "kind": "CONVERSATION_KIND_IMAGINE"}
    imagine = {"Referer": "https://grok.com/imagine"}
    frames = ndjson((await post(fake, NEW, body, fresh_statsig(), **imagine)).text)
    done = [f for f in frames if f.get("result", {}).get("response", {}).get("streamingVideoGenerationResponse",
                                                                            {}).get("progress") == 100]
    assert done and done[0]["result"]["response"]["streamingVideoGenerationResponse"]["videoUrl"].endswith(".mp4")
    assert not fake.state.posts or all(p.media_type == "MEDIA_POST_TYPE_VIDEO" for p in fake.state.posts.values())
    assert (await post(fake, NEW, body, fresh_statsig())).status_code == 400  # not from /imagine
    wrong = dict(body, responseMetadata={"modelConfigOverride": {"modelMap": {"videoGenModelConfig": {}}}})
    assert (await post(fake, NEW, wrong, fresh_statsig(), **imagine)).status_code == 400
    quality = {"modelName": "imagine-image-gen", "message": "a fox", "enableImageStreaming": True,
               "mediaGenInput": {"textToImage": {"prompt": "a fox", "numOfImages": 2, "aspectRatio": "1:1",
                                                 "modelName": "imagine-image-gen", "mode": "quality"}}}
    frames = ndjson((await post(fake, NEW, quality, fresh_statsig())).text)
    finals = [f for f in frames if f.get("result", {}).get("response", {}).get(
        "streamingImageGenerationResponse", {}).get("progress") == 100]
    assert len(finals) == 2
    fast = dict(quality, mediaGenInput={"textToImage": dict(quality["mediaGenInput"]["textToImage"], mode="fast")})
    assert (await post(fake, NEW, fast, fresh_statsig())).status_code == 400


async def test_typed_stream_errors_and_notetaker_on_demand(fake: Fake) -> None:
    frames = ndjson((await fake.post(NEW, g2_body("hi [[stream_error:concurrency_limit]]"))).text)
    errors = [f["result"]["response"]["modelResponse"]["streamErrors"] for f in frames
              if "modelResponse" in f.get("result", {}).get("response", {})]
    assert errors == [[{"kind": "STREAM_ERROR_KIND_CONCURRENCY_LIMIT", "severity": "STREAM_ERROR_SEVERITY_ERROR",
                        "message": "Too many concurrent requests."}]]
    ws = await mgw_open(fake, "super-n")
    await ws.send_str(session_create("expert"))
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    events = [m["event"] for m in await turn(ws, sid, "[user]\nwhy [[notetaker]]")]
    assert events[0]["type"] == "response.created" and "phase_marker" in events[1]["chunk"]
    channels = {e["chunk"]["text"]["channel"] for e in events if "text" in e.get("chunk", {})}
    assert channels == {"CHANNEL_ASSISTANT_NOTETAKER_HEADER", "CHANNEL_ASSISTANT_RESPONSE"}
    await ws.close()
    ws = await mgw_open(fake, "super-n")
    await ws.send_str(session_create("fast"))
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    events = [m["event"] for m in await turn(ws, sid, "[user]\nhi [[stream_error:model_not_available]]")]
    assert events[-2]["output"]["stream_error"]["kind"] == "STREAM_ERROR_KIND_MODEL_NOT_AVAILABLE"
    assert events[-1]["response"]["status"] == "failed"
    assert not any("text" in e.get("chunk", {}) for e in events)
    await ws.close()


async def test_modes_edge_cookie_and_request_shape_record(fake: Fake) -> None:
    answer = await fake.post("/rest/modes", {"locale": "en"}, token="basic-m")
    assert "__cf_bm=" in answer.headers.get("set-cookie", "")  # C5: the edge's bot-management cookie
    modes = answer.json()["modes"]
    by_id = {m["id"]: m for m in modes}
    assert set(by_id) == {"auto", "fast", "expert", "heavy", "build"}
    assert by_id["fast"]["requiresUpgrade"] is None
    assert by_id["heavy"]["requiresUpgrade"]["minimumSubscriptionTier"] == "SUBSCRIPTION_TIER_SUPER_GROK_HEAVY"
    assert by_id["heavy"]["requiresUpgrade"]["isRequired"] is True
    fake.http.cookies.clear()
    again = await fake.http.get(fake.url("/api/auth/session"), cookies=fake.cookies("tok-a", __cf_bm="kept"))
    assert "set-cookie" not in again.headers  # a client that sends it back is not given another
    await fake.control("PATCH", "/config", {"edge_cookies": False})
    fake.http.cookies.clear()
    assert "set-cookie" not in (await fake.get("/api/auth/session")).headers
    record = (await fake.control("GET", "/requests?path=/api/auth/session"))["requests"][-1]
    assert record["http_version"] == "1.1" and "cookie" in record["header_order"]


@pytest.mark.parametrize("kind", ["usage_pool_exhausted", "usage_limit_reached", "global_rate_limit",
                                  "content_moderated"])
async def test_every_stream_error_kind_has_its_enum(fake: Fake, kind: str) -> None:
    frames = ndjson((await fake.post(NEW, g2_body(f"hi [[stream_error:{kind}]]"))).text)
    streamed = [f["result"]["response"]["modelResponse"]["streamErrors"][0]["kind"] for f in frames
                if "modelResponse" in f.get("result", {}).get("response", {})]
    assert streamed == [f"STREAM_ERROR_KIND_{kind.upper()}"]
