"""The real curl_cffi transport against fakegrok: every dialect, account operation and error scenario."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from grok2api.upstream import ChatRequest, GrokClient
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.events import (
    Dispatched,
    Done,
    ImageProgress,
    ImageReady,
    ReasoningDelta,
    TextDelta,
    VideoProgress,
    VideoReady,
)
from grok2api.upstream.uploads import upload_v1
from tests.pngs import png

from .conftest import FakeGrok, collect

SUPER = "super-alice"
BASIC = "basic-bob"



def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


# -- chat ----------------------------------------------------------------------
def _one_marker_before_output(events: list[Any]) -> None:
    """Exactly one Dispatched per counted request, and it comes before anything grok.com answered."""
    marks = [i for i, e in enumerate(events) if isinstance(e, Dispatched)]
    assert marks and marks[0] == 0, events[:3]


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_every_counted_request_is_marked_before_it_leaves(client: GrokClient, transport: str) -> None:
    chat = await collect(client.chat(BASIC, ChatRequest(message="mark me", mode="fast", mode_id="fast",
                                                        transport=transport)))
    _one_marker_before_output(chat)
    assert sum(isinstance(e, Dispatched) for e in chat) == 1
    _one_marker_before_output(await collect(client.imagine(BASIC, "a marked fox", n=1)))
    _one_marker_before_output(await collect(client.video(SUPER, "marked rain", seconds=1)))


async def test_a_refused_connection_never_left(make_client: Callable[..., GrokClient]) -> None:
    """Nothing listens on the port: the error says the request never left (grok.com cannot count it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connecting is refused
    dead = make_client(grok_url=f"http://127.0.0.1:{port}")
    with pytest.raises(UpstreamError) as info:
        await collect(dead.chat(BASIC, ChatRequest(message="x", mode="fast", transport="rest")))
    assert info.value.kind is ErrorKind.NETWORK and info.value.before_send


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_chat_without_thinking(client: GrokClient, transport: str) -> None:
    events = await collect(client.chat(BASIC, ChatRequest(message="hello world", mode="fast", mode_id="fast",
                                                          transport=transport)))
    assert text_of(events) == "Echo: hello world"
    assert reasoning_of(events) == ""
    assert isinstance(events[-1], Done) and events[-1].meta["conversationId"] and events[-1].meta["responseId"]


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_chat_with_thinking(client: GrokClient, transport: str) -> None:
    events = await collect(client.chat(SUPER, ChatRequest(message="why is the sky blue", mode="expert",
                                                          mode_id="expert", transport=transport)))
    assert reasoning_of(events)  # expert mode thinks
    assert text_of(events) == "Echo: why is the sky blue"
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert isinstance(events[0], Dispatched)
    assert all(isinstance(e, ReasoningDelta) for e in events[1:first_text])


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_thinking_not_wanted_drops_reasoning(client: GrokClient, transport: str) -> None:
    events = await collect(client.chat(SUPER, ChatRequest(message="q", mode="expert", mode_id="expert",
                                                          transport=transport, thinking=False)))
    assert reasoning_of(events) == "" and text_of(events) == "Echo: q"


async def test_chat_g1_rest_body(client: GrokClient, fake: FakeGrok) -> None:
    request = ChatRequest(message="old style", model_name="grok-3", model_mode="MODEL_MODE_GROK_3_THINKING")
    events = await collect(client.chat(SUPER, request))
    assert text_of(events) == "Echo: old style" and reasoning_of(events)
    body = (await fake.requests("/rest/app-chat/conversations/new"))[-1]["json"]
    assert body["modelName"] == "grok-3" and body["modelMode"] == "MODEL_MODE_GROK_3_THINKING"


async def test_chat_with_attachment_over_ws(client: GrokClient, fake: FakeGrok) -> None:
    uploaded = await client.upload(BASIC, png(), "image/png", "chart.png")
    events = await collect(client.chat(BASIC, ChatRequest(message="describe", mode="fast",
                                                          file_ids=(uploaded.file_id,))))
    assert text_of(events) == "Echo: describe"
    [mgw] = await fake.requests("/ws/mgw/")
    item = next(m for m in mgw["ws_messages"] if m["event"]["type"] == "conversation.item.create")
    assert item["event"]["file_attachment_ids"] == [uploaded.file_id]
    assert mgw["query"]["uid"] == mgw["cookies"]["x-userid"]


async def test_lite_image_through_chat(client: GrokClient) -> None:
    route = type("R", (), {"kind": "image", "mode": "fast", "mode_id": "fast", "model_name": "", "model_mode": ""})()
    for transport in ("ws", "rest"):
        events = await collect(client.chat(BASIC, ChatRequest.from_route(route, message="a red fox",
                                                                         transport=transport)))
        ready = [e for e in events if isinstance(e, ImageReady)]
        assert ready and ready[0].url.startswith(client.config.assets_url)
        data, mime = await client.download(BASIC, ready[0].url)
        assert mime.startswith("image/") and data[:2] in (b"\xff\xd8", b"\x89P")


# -- images --------------------------------------------------------------------
async def test_imagine_two_images(client: GrokClient, fake: FakeGrok) -> None:
    events = await collect(client.imagine(BASIC, "a red fox in snow", n=2, aspect_ratio="16:9"))
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert sorted(e.slot for e in ready) == [0, 1]
    assert all(e.data.startswith(b"\xff\xd8") and e.mime == "image/jpeg" and not e.moderated for e in ready)
    stages = {e.stage for e in events if isinstance(e, ImageProgress)}
    assert {"preview", "final"} <= stages
    assert isinstance(events[-1], Done)
    [ws] = await fake.requests("/ws/imagine/listen")
    assert ws["ws_messages"][0]["item"]["content"] == [{"type": "reset"}]
    props = ws["ws_messages"][1]["item"]["content"][0]["properties"]
    assert props["num_generations"] == 2 and props["aspect_ratio"] == "16:9"


async def test_imagine_moderated(client: GrokClient, fake: FakeGrok) -> None:
    await fake.scenario(BASIC, moderated=True)
    events = await collect(client.imagine(BASIC, "something", n=1))
    assert [e for e in events if isinstance(e, ImageReady)] == [ImageReady(slot=0, url=events[-2].url, moderated=True)]


async def test_imagine_medium_without_final_counts_as_blocked(make_client: Callable[..., GrokClient],
                                                              fake: FakeGrok) -> None:
    client = make_client(image_ws_blocked_seconds=0.3)
    await fake.scenario(BASIC, imagine_no_final=True)
    started = time.monotonic()
    events = await collect(client.imagine(BASIC, "x", n=1))
    assert time.monotonic() - started < 3
    assert [e for e in events if isinstance(e, ImageReady)] == [ImageReady(slot=0, moderated=True)]


async def test_imagine_error_frame(client: GrokClient, fake: FakeGrok) -> None:
    await fake.scenario(BASIC, imagine_error=True)
    with pytest.raises(UpstreamError) as info:
        await collect(client.imagine(BASIC, "x", n=1))
    assert info.value.kind is ErrorKind.RATE_LIMITED


# -- media -----------------------------------------------------------------------
async def test_image_edit_via_media_gen_input(client: GrokClient, fake: FakeGrok) -> None:
    uploaded = await client.upload(BASIC, png(), "image/png", "in.png", for_imagine=True)
    events = await collect(client.edit_image(BASIC, "make the sky purple", [uploaded], n=1))
    [ready] = [e for e in events if isinstance(e, ImageReady)]
    assert "-part-" not in ready.url and isinstance(events[-1], Done)
    data, mime = await client.download(BASIC, ready.url)
    assert mime.startswith("image/") and len(data) > 100
    [req] = await fake.requests("/rest/app-chat/conversations/new")
    assert req["json"]["mediaGenInput"] == {"imageToImage": {"prompt": "make the sky purple",
                                                             "inputAssets": [uploaded.file_id]}}
    assert req["headers"]["referer"].endswith("/imagine")
    [up] = await fake.requests("/http/upload-file-v2/direct")
    assert up["form"]["file_source"] == "IMAGINE_SELF_UPLOAD_FILE_SOURCE"


async def test_image_edit_two_rounds_renumbered(client: GrokClient) -> None:
    uploaded = await client.upload(BASIC, png(), "image/png", "in.png", for_imagine=True)
    events = await collect(client.edit_image(BASIC, "p", [uploaded], n=2))
    assert [e.slot for e in events if isinstance(e, ImageReady)] == [0, 1]


async def test_video_via_media_gen_input(client: GrokClient, fake: FakeGrok) -> None:
    events = await collect(client.video(BASIC, "rain over a city", aspect_ratio="9:16", seconds=2,
                                        resolution="480p", preset="custom"))
    assert any(isinstance(e, VideoProgress) for e in events)
    [ready] = [e for e in events if isinstance(e, VideoReady)]
    assert ready.url.endswith(".mp4") and not ready.moderated
    data, mime = await client.download(BASIC, ready.url)
    assert mime == "video/mp4" and data[4:8] == b"ftyp"
    body = (await fake.requests("/rest/app-chat/conversations/new"))[-1]["json"]
    assert body["mediaGenInput"]["textToVideo"] == {"prompt": "rain over a city", "aspectRatio": "9:16",
                                                    "duration": 2, "resolutionName": "480p"}
    assert body["kind"] == "CONVERSATION_KIND_IMAGINE" and "temporary" not in body


async def test_legacy_media_shapes(make_client: Callable[..., GrokClient], fake: FakeGrok) -> None:
    client = make_client(legacy_media=True)
    uploaded = await client.upload(BASIC, png(), "image/png", "in.png")
    edit = await collect(client.edit_image(BASIC, "legacy edit", [uploaded], n=2))
    assert len([e for e in edit if isinstance(e, ImageReady)]) == 2
    video = await collect(client.video(BASIC, "legacy video", seconds=6))
    assert [e for e in video if isinstance(e, VideoReady)][0].url.endswith(".mp4")
    posts = await fake.requests("/rest/media/post/create")
    assert [p["json"]["mediaType"] for p in posts] == ["MEDIA_POST_TYPE_IMAGE", "MEDIA_POST_TYPE_VIDEO"]


async def test_image_to_video_and_upscale(client: GrokClient) -> None:
    uploaded = await client.upload(SUPER, png(), "image/png", "still.png")
    events = await collect(client.video(SUPER, "make it move", image=uploaded, seconds=6))
    [ready] = [e for e in events if isinstance(e, VideoReady)]
    hd = await client.upscale(SUPER, ready.url)
    assert hd.startswith("http")


# -- files ---------------------------------------------------------------------
async def test_upload_v1_list_and_delete(client: GrokClient) -> None:
    v2 = await client.upload(BASIC, png(), "image/png", "a.png")
    v1 = await upload_v1(client.transport, BASIC, png(20, 20), "image/png", "b.png")
    assert v1.file_id and v1.url.endswith("/content")
    ids = {a.get("assetId") for a in await client.list_assets(BASIC)}
    assert {v1.file_id, v2.file_id} <= ids
    await client.delete_asset(BASIC, v1.file_id)
    assert v1.file_id not in {a.get("assetId") for a in await client.list_assets(BASIC)}


async def test_upload_refuses_garbage(client: GrokClient) -> None:
    with pytest.raises(UpstreamError) as info:
        await client.upload(BASIC, b"not an image", "image/png", "x.png")
    assert info.value.kind is ErrorKind.BAD_REQUEST


async def test_download_refuses_foreign_hosts(client: GrokClient) -> None:
    with pytest.raises(UpstreamError) as info:
        await client.download(BASIC, "https://example.com/steal.jpg")
    assert info.value.kind is ErrorKind.BAD_REQUEST


# -- quota ---------------------------------------------------------------------
async def test_rate_limits_and_quota_info(client: GrokClient, fake: FakeGrok) -> None:
    before = await client.rate_limits(BASIC, "fast")
    assert before.total and before.remaining == before.total and before.window_seconds > 0
    await collect(client.chat(BASIC, ChatRequest(message="x", mode="fast")))
    after = await client.rate_limits(BASIC, "fast")
    assert after.remaining == before.remaining - 1
    legacy = await client.rate_limits(BASIC, "")
    assert legacy.unit == "tokens" and legacy.total
    quota = await client.quota_info(SUPER)
    assert set(quota) == {"image", "imagePro", "imageEdit", "video", "video720p"}
    assert any(q is not None and q.available for q in quota.values())
    await fake.scenario(BASIC, rate_limited=77)
    exhausted = await client.rate_limits(BASIC, "fast")
    assert exhausted.remaining == 0 and exhausted.wait_seconds == 77


# -- account settings ----------------------------------------------------------
async def test_tos_birth_date_nsfw(client: GrokClient, fake: FakeGrok) -> None:
    token = "basic-carol"
    await client.enable_nsfw(token)
    account = await fake.control("GET", f"/accounts?token={token}")
    assert account["nsfw"] is True
    assert await client.set_birth_date(token) is False  # locked after the first one
    [tos] = await fake.requests("/auth_mgmt.AuthManagement/SetTosAcceptedVersion")
    assert tos["body_hex"] == "00000000021001"
    assert "cf_clearance" not in tos["cookies"]
    [nsfw] = await fake.requests("/auth_mgmt.AuthManagement/UpdateUserFeatureControls")
    assert nsfw["body_hex"] == "00000000200a021001121a0a18" + b"always_show_nsfw_content".hex()
    [rest_tos] = await fake.requests("/rest/auth/set-tos-accepted")
    assert rest_tos["json"] == {"tosVersion": 5}


async def test_nsfw_grpc_status_is_classified(client: GrokClient, fake: FakeGrok) -> None:
    await fake.scenario("basic-dave", invalid_token=True)
    with pytest.raises(UpstreamError) as info:
        await client.enable_nsfw("basic-dave", prepare=False)
    assert info.value.kind is ErrorKind.AUTH


async def test_livekit_token(client: GrokClient) -> None:
    token = await client.livekit_token(BASIC)
    assert token.token and "/rtc?access_token=" in token.ws_url


# -- errors --------------------------------------------------------------------
CHAT_ERRORS = [
    ("invalid_token", True, ErrorKind.AUTH),
    ("blocked", True, ErrorKind.AUTH),
    ("cloudflare", True, ErrorKind.CLOUDFLARE),
    ("anti_bot", True, ErrorKind.ANTI_BOT),
    ("rate_limited", 30, ErrorKind.RATE_LIMITED),
    ("server_error", 503, ErrorKind.UPSTREAM),
    ("usage_limit", True, ErrorKind.RATE_LIMITED),
    ("stream_cut", "clean", ErrorKind.UPSTREAM),
    ("stream_cut", "abort", ErrorKind.UPSTREAM),
    ("stream_error", True, ErrorKind.UPSTREAM),
    ("safety_rejected", True, ErrorKind.MODERATED),
]


# §12.1 lists the content-safety 403 for REST/media only, so the WebSocket leg leaves it out.
@pytest.mark.parametrize(("switch", "value", "kind", "transport"), [
    (*case, transport) for transport in ("ws", "rest") for case in CHAT_ERRORS
    if not (transport == "ws" and case[0] == "safety_rejected")])
async def test_chat_errors_are_classified(client: GrokClient, fake: FakeGrok, switch: str, value: Any,
                                          kind: ErrorKind, transport: str) -> None:
    await fake.scenario(BASIC, **{switch: value})
    with pytest.raises(UpstreamError) as info:
        await collect(client.chat(BASIC, ChatRequest(message="hello there friend", mode="fast", transport=transport)))
    assert info.value.kind is kind, info.value
    if switch == "rate_limited" and transport == "rest":
        assert info.value.retry_after == 30


async def test_rate_limited_ws_handshake_reads_retry_after(client: GrokClient, fake: FakeGrok) -> None:
    await fake.scenario(BASIC, rate_limited=42)
    with pytest.raises(UpstreamError) as info:
        await collect(client.imagine(BASIC, "x"))
    assert info.value.kind is ErrorKind.RATE_LIMITED and info.value.retry_after == 42


@pytest.mark.parametrize(("switch", "kind"), [("cloudflare", ErrorKind.CLOUDFLARE), ("blocked", ErrorKind.AUTH)])
async def test_refused_ws_handshake_403_is_told_apart(client: GrokClient, fake: FakeGrok, switch: str,
                                                      kind: ErrorKind) -> None:
    await fake.scenario(BASIC, **{switch: True})
    with pytest.raises(UpstreamError) as info:
        await collect(client.imagine(BASIC, "x"))
    assert info.value.kind is kind


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_timeouts(make_client: Callable[..., GrokClient], fake: FakeGrok, transport: str) -> None:
    client = make_client(first_byte_timeout=0.5, idle_timeout=0.5)
    await fake.control("PATCH", "/config", {"stall_seconds": 3})
    for switch, value in (("slow_first_byte", 3), ("stall", 3)):
        await fake.scenario(BASIC, **{switch: value})
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            await collect(client.chat(BASIC, ChatRequest(message="one two three four five six", mode="fast",
                                                         transport=transport)))
        assert info.value.kind is ErrorKind.TIMEOUT, (switch, info.value)
        assert time.monotonic() - started < 2.5
        await fake.control("DELETE", "/scenarios")


async def test_network_error() -> None:
    from grok2api.upstream import UpstreamConfig
    async with GrokClient(UpstreamConfig(grok_url="http://127.0.0.1:9", connect_timeout=2, timeout=3)) as client:
        with pytest.raises(UpstreamError) as info:
            await client.rate_limits(BASIC)
    assert info.value.kind is ErrorKind.NETWORK


class RecordingPicker:
    def __init__(self) -> None:
        self.blocked: list[str] = []

    async def current(self) -> str:
        return ""

    async def on_cloudflare(self, proxy: str) -> None:
        self.blocked.append(proxy)


async def test_proxy_picker_hears_about_cloudflare(make_client: Callable[..., GrokClient], fake: FakeGrok) -> None:
    picker = RecordingPicker()
    client = make_client(proxy_picker=picker)
    await collect(client.chat(BASIC, ChatRequest(message="fine", mode="fast", transport="rest")))
    assert picker.blocked == []
    await fake.scenario(BASIC, cloudflare=True)
    for call in (client.rate_limits(BASIC), collect(client.imagine(BASIC, "x"))):
        with pytest.raises(UpstreamError):
            await call
    assert picker.blocked == ["", ""]


async def test_concurrency_is_not_capped_at_ten(client: GrokClient, fake: FakeGrok) -> None:
    await fake.control("PATCH", "/config", {"first_frame_delay": 0.5})
    started = time.monotonic()
    results = await asyncio.gather(*(collect(client.chat(f"super-{i}", ChatRequest(message="hi", mode="fast",
                                                                                 transport="rest")))
                                     for i in range(40)))
    elapsed = time.monotonic() - started
    assert all(text_of(r) == "Echo: hi" for r in results)
    assert elapsed < 1.6, f"40 streams took {elapsed:.2f}s: the session is serialising requests"


# -- the request record: cookies and headers of §2 on every call --------------
async def test_every_call_carries_the_protocol_headers(client: GrokClient, fake: FakeGrok) -> None:
    uploaded = await client.upload(SUPER, png(), "image/png", "a.png", for_imagine=True)
    await collect(client.chat(SUPER, ChatRequest(message="a", mode="fast")))
    await collect(client.chat(SUPER, ChatRequest(message="b", mode="auto", transport="rest")))
    await collect(client.imagine(SUPER, "c", n=1))
    events = await collect(client.edit_image(SUPER, "d", [uploaded]))
    await collect(client.video(SUPER, "e", seconds=1))
    await client.download(SUPER, [e for e in events if isinstance(e, ImageReady)][0].url)
    await client.rate_limits(SUPER, "fast")
    await client.quota_info(SUPER)
    await client.enable_nsfw(SUPER)
    await client.livekit_token(SUPER)
    await client.list_assets(SUPER)
    records = [r for r in await fake.requests() if not r["path"].startswith("/_fake")]
    paths = {r["path"] for r in records}
    assert len(paths) >= 14, paths
    for r in records:
        where = f"{r['method']} {r['path']}"
        h = r["headers"]
        if r["path"] in ("/index", "/"):  # the page the local x-statsig-id strategy reads (C4): no account
            assert "sso" not in r["cookies"] and h["sec-fetch-mode"] == "navigate" and "x-statsig-id" not in h
            continue
        assert r["cookies"].get("sso") == SUPER and r["cookies"].get("sso-rw") == SUPER, where
        assert h["user-agent"] == client.config.user_agent, where
        assert h["accept-language"] == "zh-CN,zh;q=0.9,en;q=0.8", where
        websocket = r["path"].startswith("/ws/")
        if websocket:
            assert h["origin"] == client.config.grok_url and "x-statsig-id" not in h, where
            continue
        assert h["sec-fetch-mode"] in ("cors", "navigate") and h["sec-ch-ua"], where
        if r["path"] == "/http/upload-file-v2/direct":
            assert "x-xai-request-id" not in h and "x-statsig-id" not in h, where
            assert h["content-type"].startswith("multipart/form-data; boundary="), where
            continue
        assert uuid.UUID(h["x-xai-request-id"]).version == 4, where
        if r["path"].startswith("/rest/") and r["method"] == "POST" or "UpdateUserFeatureControls" in r["path"]:
            assert base64.b64decode(h["x-statsig-id"]), where
        if "AuthManagement" in r["path"]:
            assert h["content-type"] == "application/grpc-web+proto" and h["x-grpc-web"] == "1", where
    by_path = {r["path"]: r["headers"] for r in records}
    grok = client.config.grok_url
    assert by_path["/rest/app-chat/conversations/new"]["origin"] == grok
    assert by_path["/rest/rate-limits"]["referer"] == grok + "/"
    assert by_path["/rest/media/imagine/quota_info"]["referer"] == grok + "/imagine"
    assert by_path["/auth_mgmt.AuthManagement/SetTosAcceptedVersion"]["referer"] == client.config.accounts_url + "/accept-tos"
    assert by_path["/rest/assets"]["referer"] == grok + "/imagine/saved"
    mgw = next(r for r in records if r["path"] == "/ws/mgw/")
    assert mgw["cookies"]["x-userid"] == mgw["query"]["uid"]
