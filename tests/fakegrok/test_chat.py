"""REST chat (§3) through curl_cffi: G1/G2 bodies, frame order and shapes, continuation, markers."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import aiohttp
import pytest
from aiohttp import web

from grok2api.fakegrok import FakeConfig, make_app, uid_for_token

from .conftest import Fake, g1_body, g2_body, ndjson

NEW = "/rest/app-chat/conversations/new"


def inner(frame: dict) -> dict:
    result = frame["result"]
    return result.get("response", result)


async def test_g1_frame_order_and_shapes(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("Say hi"))
    assert set(frames[0]["result"]) == {"conversation"}
    conv = frames[0]["result"]["conversation"]
    uuid.UUID(conv["conversationId"])
    assert conv["title"] == "New conversation" and conv["temporary"] is True
    user = frames[1]["result"]["response"]["userResponse"]
    assert user["sender"] == "human" and user["message"] == "Say hi"
    assert user["model"] == "grok-4-1-thinking-1129"
    assert frames[2]["result"]["response"]["llmInfo"]["modelHash"]
    tokens = [inner(f) for f in frames if "token" in inner(f)]
    assert all(t["messageTag"] == "final" and not t["isThinking"] for t in tokens)  # fast: no thinking
    response_id = tokens[0]["responseId"]
    assert all(t["responseId"] == response_id for t in tokens)
    model = next(inner(f)["modelResponse"] for f in frames if "modelResponse" in inner(f))
    assert model["message"] == "".join(t["token"] for t in tokens) == "Echo: Say hi"
    assert model["responseId"] == response_id and model["parentResponseId"] == user["responseId"]
    assert model["sender"] == "assistant" and model["streamErrors"] == []
    assert "finalMetadata" in inner(frames[-2])
    assert frames[-1] == {"result": {"title": {"newTitle": "Say Hi"}}}
    for f in frames:
        assert len(f["result"]) == 1


async def test_g1_thinking_mode_emits_thinking_tokens_first(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("ponder", "MODEL_MODE_GROK_4_1_THINKING"))
    tokens = [inner(f) for f in frames if "token" in inner(f)]
    assert [t["messageTag"] for t in tokens[:2]] == ["header", "analysis"]
    assert all(t["isThinking"] for t in tokens[:2]) and not tokens[2]["isThinking"]


async def test_g2_mode_ids_and_thinking(fake: Fake) -> None:
    fast = await fake.stream(NEW, g2_body("hi", "fast"), token="super-1")
    assert not any(inner(f).get("isThinking") for f in fast)
    expert = await fake.stream(NEW, g2_body("hi", "expert"), token="super-1")
    assert any(inner(f).get("isThinking") for f in expert)
    assert expert[1]["result"]["response"]["userResponse"]["model"] == "grok-4-expert"


async def test_prompt_flattening_echoes_last_user_message(fake: Fake) -> None:
    py_a = await fake.stream(NEW, g1_body("system: be terse\n\nuser: first\n\nassistant: ok\n\nsecond question"))
    go = await fake.stream(NEW, g2_body("[system]\nbe terse\n\n[user]\nfirst\n\n[assistant]\nok\n\n[user]\nlast one"))
    for frames, expected in ((py_a, "Echo: second question"), (go, "Echo: last one")):
        assert next(inner(f)["modelResponse"]["message"] for f in frames if "modelResponse" in inner(f)) == expected


async def test_continuation_flat_and_wrapped(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("one"))
    conv_id = frames[0]["result"]["conversation"]["conversationId"]
    parent = next(inner(f)["modelResponse"]["responseId"] for f in frames if "modelResponse" in inner(f))
    path = f"/rest/app-chat/conversations/{conv_id}/responses"
    flat = await fake.stream(path, g1_body("two", parentResponseId=parent))
    assert all("response" not in f["result"] and "conversation" not in f["result"] for f in flat)
    model = next(f["result"]["modelResponse"] for f in flat if "modelResponse" in f["result"])
    assert model["message"] == "Echo: two"
    assert not any("title" in f["result"] for f in flat)
    await fake.control("PATCH", "/config", {"responses_wrapper": "wrapped"})
    wrapped = await fake.stream(path, g2_body("three", responseId=model["responseId"]))
    assert all("response" in f["result"] for f in wrapped)
    bad = await fake.post(path, g1_body("x", parentResponseId=str(uuid.uuid4())))
    assert bad.status_code == 400
    missing = await fake.post(f"/rest/app-chat/conversations/{uuid.uuid4()}/responses",
                              g1_body("x", parentResponseId=parent))
    assert missing.status_code == 404
    other = await fake.post(path, g1_body("x", parentResponseId=parent), token="tok-other")
    assert other.status_code == 404, "a conversation belongs to its account"


async def test_markers_render_artifact_tool(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("look [[render]] [[artifact]] [[tool]] up"))
    parts = [inner(f) for f in frames]
    card = next(p for p in parts if "cardAttachment" in p)
    assert json.loads(card["cardAttachment"]["jsonData"])["type"] == "render_inline_citation"
    final_text = "".join(p["token"] for p in parts if p.get("messageTag") == "final")
    assert "<grok:render card_id=\"fk0\"" in final_text and "<xaiArtifact " in final_text
    assert final_text.startswith("Echo: look up")
    tool = next(p for p in parts if p.get("messageTag") == "tool_usage_card")
    assert tool["token"].startswith("<xai:tool_usage_card>") and tool["isThinking"] is True
    assert tool["toolUsageCard"]["webSearch"]["args"]["query"]
    assert any("webSearchResults" in p for p in parts)
    model = next(p["modelResponse"] for p in parts if "modelResponse" in p)
    assert model["message"] == final_text and len(model["cardAttachmentsJson"]) == 1


async def test_tokens_marker_controls_length(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("[[tokens:50]]"))
    assert len([f for f in frames if inner(f).get("messageTag") == "final"]) == 50


async def test_in_chat_image_generation_downloads(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("draw a fox"))
    progress = [inner(f)["streamingImageGenerationResponse"] for f in frames
                if "streamingImageGenerationResponse" in inner(f)]
    assert [p["imageIndex"] for p in progress] == [0, 0, 1, 1]
    assert "-part-0/" in progress[0]["imageUrl"] and progress[0]["progress"] < 100
    finals = next(inner(f)["modelResponse"]["generatedImageUrls"] for f in frames if "modelResponse" in inner(f))
    assert finals == [p["imageUrl"] for p in progress if p["progress"] == 100]
    uid = uid_for_token("tok-a")
    assert finals[0].startswith(f"users/{uid}/generated/") and finals[0].endswith("/image.jpg")
    image = await fake.get("/" + finals[0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:3] == b"\xff\xd8\xff"
    assert (await fake.get("/" + finals[0], token="tok-b")).status_code == 403
    assert (await fake.get("/" + finals[0], token=None)).status_code == 401


async def test_drawing_lite_image_card(fake: Fake) -> None:
    frames = await fake.stream(NEW, g2_body("Drawing: a fox"))
    cards = [json.loads(inner(f)["cardAttachment"]["jsonData"]) for f in frames if "cardAttachment" in inner(f)]
    assert cards[0]["image_chunk"] is None and cards[-1]["image_chunk"]["progress"] == 100
    assert any(inner(f).get("isSoftStop") for f in frames)
    assert (await fake.get("/" + cards[-1]["image_chunk"]["imageUrl"])).status_code == 200


async def test_request_validation(fake: Fake) -> None:
    assert (await fake.post(NEW, g1_body("hi"), token=None)).status_code == 401
    resp = await fake.http.post(fake.url(NEW), data=b"{not json", cookies=fake.cookies("t"), headers=fake.headers())
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 3
    assert (await fake.post(NEW, [1, 2])).status_code == 400
    assert (await fake.post(NEW, {"message": "hi"})).status_code == 400
    assert (await fake.post(NEW, g2_body("hi", "turbo"))).status_code == 400
    assert (await fake.post(NEW, g1_body("hi", "MODEL_MODE_NOPE"))).status_code == 400
    unknown = await fake.post(NEW, dict(g1_body("hi"), modelName="grok-9"))
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "Model not found"
    assert (await fake.post(NEW, g1_body("hi", fileAttachments=[str(uuid.uuid4())]))).status_code == 400
    no_statsig = await fake.post(NEW, g1_body("hi"), headers={"Origin": "https://grok.com"})
    assert no_statsig.status_code == 403 and "anti-bot" in no_statsig.json()["error"]["message"]
    half = await fake.http.post(fake.url(NEW), json=g1_body("hi"), cookies={"sso": "a", "sso-rw": "b"},
                                headers=fake.headers())
    assert half.status_code == 401, "sso and sso-rw must be equal"


async def test_quota_decrements_and_429(fake: Fake) -> None:
    await fake.control("POST", "/accounts", {"token": "tok-q", "quotas": {"fast": 2, "default": 5}})
    for _ in range(2):
        assert (await fake.post(NEW, g2_body("hi"), token="tok-q")).status_code == 200
    limited = await fake.post(NEW, g2_body("hi"), token="tok-q")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == 8
    assert int(limited.headers["retry-after"]) > 0
    high = await fake.post(NEW, g1_body("hi", "MODEL_MODE_EXPERT"), token="tok-q")  # cost 4 of 5
    assert high.status_code == 200
    assert fake.state.accounts["tok-q"].quotas["default"].remaining == 1
    assert (await fake.post(NEW, g1_body("hi", "MODEL_MODE_EXPERT"), token="tok-q")).status_code == 429
    assert (await fake.post(NEW, g1_body("hi"), token="tok-q")).status_code == 200


async def test_tier_prefix_rule(fake: Fake) -> None:
    assert (await fake.post(NEW, g2_body("hi", "heavy"), token="basic-x")).status_code == 429
    assert (await fake.post(NEW, g2_body("hi", "heavy"), token="super-x")).status_code == 429
    assert (await fake.post(NEW, g2_body("hi", "heavy"), token="heavy-x")).status_code == 200
    assert [fake.state.accounts[t].tier for t in ("basic-x", "super-x", "heavy-x")] == ["basic", "super", "heavy"]


async def test_share_and_clone(fake: Fake) -> None:
    frames = await fake.stream(NEW, g1_body("share me"))
    conv_id = frames[0]["result"]["conversation"]["conversationId"]
    rid = next(inner(f)["modelResponse"]["responseId"] for f in frames if "modelResponse" in inner(f))
    share = await fake.post(f"/rest/app-chat/conversations/{conv_id}/share", {"responseId": rid, "allowIndexing": True})
    link = share.json()["shareLinkId"]
    clone = await fake.post(f"/rest/app-chat/share_links/{link}/clone", {}, token="tok-b")
    body = clone.json()
    assert [r["sender"] for r in body["responses"]] == ["human", "assistant"]
    new_conv = body["conversation"]["conversationId"]
    cont = await fake.stream(f"/rest/app-chat/conversations/{new_conv}/responses",
                             g1_body("more", parentResponseId=body["responses"][-1]["responseId"]), token="tok-b")
    assert any("modelResponse" in f["result"] for f in cont)


async def test_ndjson_prefix_option(fake: Fake) -> None:
    await fake.control("PATCH", "/config", {"ndjson_prefix": "data: "})
    resp = await fake.post(NEW, g1_body("hi"))
    lines = [line for line in resp.text.split("\n") if line]
    assert all(line.startswith("data: {") for line in lines)
    assert ndjson("\n".join(line[6:] for line in lines) + "\n")


async def test_client_leaving_a_rest_stream_is_a_normal_end(caplog: pytest.LogCaptureFixture) -> None:
    """A client that drops a paced NDJSON answer midway must not make the fake log an error.

    Served as `fake-grok` and the demo serve it (an AppRunner without handler cancellation), so
    the fake's next write meets the closed connection, as in production."""
    runner = web.AppRunner(make_app(FakeConfig(token_interval=0.05)), handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        body = json.dumps(g1_body("[[tokens:40]] a long answer")).encode()
        headers = {**Fake.headers(), "Content-Type": "application/json", "Cookie": "sso=tok-a; sso-rw=tok-a"}
        with caplog.at_level(logging.DEBUG):
            async with aiohttp.ClientSession() as http:
                async with http.post(f"http://127.0.0.1:{port}{NEW}", data=body, headers=headers) as resp:
                    assert resp.status == 200
                    assert await resp.content.readline()  # the answer has started ...
                # ... and the connection is closed here, halfway through it
            for _ in range(60):
                if any("client left" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    messages = [r.getMessage() for r in caplog.records]
    assert any("client left" in m for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], messages
