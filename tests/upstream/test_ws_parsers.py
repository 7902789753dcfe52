"""mgw (§4) and Imagine (§5.1) WebSocket builders and parsers on the protocol document's frames."""

from __future__ import annotations

import base64
import json

import pytest

from grok2api.upstream.chat import ChatRequest
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.events import (
    Done,
    ImageProgress,
    ImageReady,
    ReasoningDelta,
    TextDelta,
)
from grok2api.upstream.imagine import (
    ImagineParser,
    build_request,
    build_reset,
    decode_blob,
    stage_of,
)
from grok2api.upstream.mgw import (
    MgwParser,
    build_item_create,
    build_ping,
    build_response_create,
    build_session_create,
    parse_session,
)
from grok2api.upstream.options import UpstreamConfig

SID = "5a5a0000-0000-4000-8000-00000000c0de"
ASSETS = "https://assets.grok.com"


def env(event: dict[str, object], sid: str | None = SID) -> dict[str, object]:
    return {"session_id": sid, "event": event} if sid else {"event": event}


def test_mgw_document_example() -> None:
    parser = MgwParser("evt_init_1", ASSETS)
    assert parser.feed(env({"type": "session.created", "client_event_id": "evt_init_1"})) == []
    assert not parser.ready
    parser.feed(env({"type": "conversation.attached", "conversation": {"id": SID}}))
    assert parser.ready and parser.session_id == SID
    events = []
    for frame in [
        env({"type": "response.chunk", "chunk": {"text": {"text": "Let me think.", "channel": "CHANNEL_ANALYSIS"}}}),
        env({"type": "response.chunk", "chunk": {"text": {"text": "Hello!", "channel": "CHANNEL_ASSISTANT_RESPONSE"}}}),
        env({"type": "response.chunk", "chunk": {"text": {"text": "ignored", "channel": "CHANNEL_SUGGESTIONS"}}}),
        env({"type": "pong", "event_id": "evt_pong_1"}, None),
        env({"type": "response.done", "response": {"id": "7e7e0000-0000-4000-8000-0000000000aa",
                                                   "status": "completed"}}),
    ]:
        events += parser.feed(frame)
    assert events == [ReasoningDelta("Let me think."), TextDelta("Hello!"),
                      Done(meta={"conversationId": SID, "responseId": "7e7e0000-0000-4000-8000-0000000000aa"})]
    assert parser.done


def test_mgw_other_chunks() -> None:
    parser = MgwParser("e", ASSETS, thinking=True)
    card = {"tool_usage_card": {"tool_usage_card_id": "t", "web_search": {"args": {"query": "q1"}}}}
    assert parser.feed(env({"type": "response.chunk", "chunk": card})) == [ReasoningDelta("[WebSearch] q1\n")]
    cite = {"render_citation": {"id": "c", "kind": "CITATION_KIND_WEB_PAGE", "url": "https://u", "citation_id": "3"}}
    assert parser.feed(env({"type": "response.chunk", "chunk": cite})) == [TextDelta(" [[3]](https://u)")]
    result = {"tool_result": {"tool_call_id": "t", "web_search": {"webpages": [{"url": "https://u"}]}}}
    assert parser.feed(env({"type": "response.chunk", "chunk": result})) == []
    assert parser.feed(env({"type": "response.search.result", "result": {"url": "u"}})) == []
    assert parser.feed(env({"type": "response.output_text.done", "text": "full"})) == []  # text already streamed
    image = {"card_attachment": {"jsonData": json.dumps({"id": "x", "type": "render_file", "image_chunk": {
        "imageUuid": "f", "imageUrl": "users/U/generated/f/image.jpg", "progress": 100, "moderated": False}})}}
    assert parser.feed(env({"type": "response.grok.output", "output": image})) == [
        ImageReady(slot=0, url=f"{ASSETS}/users/U/generated/f/image.jpg")]


def test_mgw_output_text_events_and_no_reasoning_when_unwanted() -> None:
    parser = MgwParser("e", ASSETS, thinking=False)
    assert parser.feed(env({"type": "response.chunk", "chunk": {"text": {"text": "r", "channel": "CHANNEL_REASONING"}}})) == []
    assert parser.feed(env({"type": "response.output_text.done", "text": "whole"})) == [TextDelta("whole")]
    assert parser.feed(env({"type": "response.output_text.delta", "delta": "more"})) == [TextDelta("more")]


def test_mgw_session_created_for_another_event_is_ignored() -> None:
    parser = MgwParser("mine", ASSETS)
    parser.feed(env({"type": "session.created", "client_event_id": "other"}))
    assert not parser.created


@pytest.mark.parametrize(("frame", "kind"), [
    (env({"type": "error", "error": {"code": "anti_bot", "message": "anti-bot rejected"}}), ErrorKind.ANTI_BOT),
    (env({"type": "error", "error": {"code": 8, "message": "Too many requests"}}), ErrorKind.RATE_LIMITED),
    (env({"type": "response.grok.output", "output": {"stream_error": {"message": "boom", "code": 13}}}),
     ErrorKind.UPSTREAM),
    (env({"type": "response.done", "response": {"id": "r", "status": "failed"}}), ErrorKind.UPSTREAM),
    (env({"type": "session.ended"}), ErrorKind.UPSTREAM),
    (env({"type": "conversation.attached", "conversation": {"id": "not-the-session"}}), ErrorKind.UPSTREAM),
])
def test_mgw_errors(frame: dict[str, object], kind: ErrorKind) -> None:
    parser = MgwParser("e", ASSETS)
    parser.feed(env({"type": "session.created", "client_event_id": "e"}))
    with pytest.raises(UpstreamError) as info:
        parser.feed(frame)
    assert info.value.kind is kind


def test_mgw_builders() -> None:
    request = ChatRequest(message="[user]\nDescribe", mode="expert", file_ids=("f1",))
    create = build_session_create(request, UpstreamConfig(temporary=True, disable_memory=True), "evt_init_x")
    session = create["event"]["session"]
    assert create["event"]["type"] == "session.create" and create["event"]["event_id"] == "evt_init_x"
    assert session["model"] == "expert"
    assert session["x_grok"]["protocol_capabilities"] == ["conversation_attached", "custom_methods_v1"]
    assert session["x_grok"]["disable_artifact"] is True and session["x_grok"]["is_temporary"] is True
    assert "session_id" not in create
    item = build_item_create(SID, request, 1767000000000)
    assert item["session_id"] == SID and item["event"]["event_id"] == "evt_msg_1767000000000"
    chunks = item["event"]["item"]["x_grok"]["input_chunks"]
    assert chunks[0] == {"mention": {"target": {"file_mention": {"file_id": "f1"}}}}
    assert chunks[1] == {"text": {"text": "[user]\nDescribe"}}
    assert item["event"]["file_attachment_ids"] == ["f1"]
    plain = build_item_create(SID, ChatRequest(message="hi", mode="fast"), 1)
    assert "file_attachment_ids" not in plain["event"]
    assert build_response_create(SID, 5) == {"session_id": SID, "event": {"type": "response.create",
                                                                          "event_id": "evt_resp_5"}}
    assert build_ping(7) == {"event": {"type": "ping", "event_id": "evt_hb_7"}}


def test_parse_session() -> None:
    uid = "9b8e0000-0000-4000-8000-000000000001"
    assert parse_session({"status": "authenticated", "session": {"userId": uid}}) == uid
    assert parse_session({"status": "authenticated", "user": {"id": uid}}) == uid
    assert parse_session({"status": "authenticated", "session": {"userId": "nope"}, "sub": uid}) == uid
    for bad in ({"status": "unauthenticated"}, {"status": "blocked"}, {"status": "authenticated", "session": {}}):
        with pytest.raises(UpstreamError) as info:
            parse_session(bad)
        assert info.value.kind is ErrorKind.AUTH


# -- Imagine -------------------------------------------------------------------
IMG = "6f1e2d3c-0000-4000-8000-000000000001"
IMG2 = "6f1e2d3c-0000-4000-8000-000000000002"
PUBLIC = "https://imagine-public.x.ai/imagine-public/images/"
JPEG = b"\xff\xd8\xff\xe0" + bytes(80_000)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def document_frames() -> list[dict[str, object]]:
    return [
        {"type": "json", "current_status": "start_stage", "image_id": IMG, "order": 0, "width": 784, "height": 1168},
        {"type": "image", "id": IMG, "order": 0, "percentage_complete": 35, "url": f"{PUBLIC}{IMG}.png", "blob": b64(PNG)},
        {"type": "image", "id": IMG, "order": 0, "percentage_complete": 80, "url": f"{PUBLIC}{IMG}.png",
         "blob": b64(PNG + bytes(30_000))},
        {"type": "image", "id": IMG, "order": 0, "percentage_complete": 100, "url": f"{PUBLIC}{IMG}.jpg", "blob": b64(JPEG)},
        {"type": "json", "current_status": "completed", "image_id": IMG, "order": 0, "width": 784, "height": 1168,
         "moderated": False, "r_rated": False},
        {"type": "json", "current_status": "completed", "image_id": IMG2, "order": 1, "moderated": True,
         "r_rated": False},
    ]


def test_imagine_document_stream() -> None:
    parser = ImagineParser(2, UpstreamConfig())
    events = []
    for frame in document_frames():
        events += parser.feed(frame, 0.0)
    # previews carry their image (forwarded as partial images); the final's bytes come with ImageReady
    assert events[:3] == [ImageProgress(0, 35, "preview", PNG, "image/png"),
                          ImageProgress(0, 80, "medium", PNG + bytes(30_000), "image/png"),
                          ImageProgress(0, 100, "final")]
    assert events[3] == ImageReady(slot=0, url=f"{PUBLIC}{IMG}.jpg", data=JPEG, mime="image/jpeg")
    assert events[4] == ImageReady(slot=1, moderated=True)
    assert parser.complete and parser.finals == 1


def test_imagine_completed_before_final_and_out_of_order_slots() -> None:
    parser = ImagineParser(2, UpstreamConfig())
    assert parser.feed({"type": "json", "current_status": "completed", "image_id": IMG, "order": 1,
                        "moderated": False}, 0.0) == []
    events = parser.feed({"type": "image", "url": f"{PUBLIC}{IMG}.jpg", "blob": b64(JPEG), "order": 1}, 0.0)
    assert events[-1] == ImageReady(slot=1, url=f"{PUBLIC}{IMG}.jpg", data=JPEG, mime="image/jpeg")


def test_imagine_final_without_completed_counts_at_finish() -> None:
    parser = ImagineParser(1, UpstreamConfig())
    parser.feed({"type": "image", "url": f"{PUBLIC}{IMG}.jpg", "blob": "data:image/jpeg;base64," + b64(JPEG)}, 0.0)
    assert not parser.complete
    assert parser.finish() == [ImageReady(slot=0, url=f"{PUBLIC}{IMG}.jpg", data=JPEG, mime="image/jpeg")]


def test_imagine_blocked_heuristic() -> None:
    config = UpstreamConfig(image_ws_blocked_seconds=15)
    parser = ImagineParser(1, config)
    parser.feed({"type": "image", "id": IMG, "percentage_complete": 60, "url": f"{PUBLIC}{IMG}.png",
                 "blob": "A" * 40_000}, 100.0)
    assert parser.check_blocked(110.0) == []
    assert parser.check_blocked(115.0) == [ImageReady(slot=0, moderated=True)]
    assert parser.complete


def test_imagine_error_frame_and_extra_images() -> None:
    parser = ImagineParser(1, UpstreamConfig())
    with pytest.raises(UpstreamError) as info:
        parser.feed({"type": "error", "err_code": "rate_limit_exceeded", "err_msg": "Too many requests"}, 0.0)
    assert info.value.kind is ErrorKind.RATE_LIMITED
    parser.feed({"type": "json", "current_status": "start_stage", "image_id": "a", "order": 0}, 0.0)
    assert parser.feed({"type": "json", "current_status": "start_stage", "image_id": "b", "order": 1}, 0.0) == []


@pytest.mark.parametrize(("url", "size", "pct", "stage"), [
    ("x.png", 100, 35.0, "preview"), ("x.png", 40_000, 80.0, "medium"), ("x.png", 120_000, 90.0, "final"),
    ("x.jpg", 100, 50.0, "final"), ("x.png", 100, 100.0, "final"), ("x.png", 40_000, None, "medium"),
    ("x.png", 10, None, "preview"),
])
def test_stage_rules(url: str, size: int, pct: float | None, stage: str) -> None:
    assert stage_of(url, size, pct, UpstreamConfig()) == stage


def test_imagine_builders_and_blob_decoding() -> None:
    assert build_reset(1)["item"]["content"] == [{"type": "reset"}]
    req = build_request("a fox", n=12, aspect_ratio="16:9", nsfw=False, pro=True, request_id="r", now_ms=2)
    content = req["item"]["content"][0]
    assert content["requestId"] == "r" and content["text"] == "a fox" and content["type"] == "input_text"
    assert content["properties"]["num_generations"] == 10 and content["properties"]["enable_pro"] is True
    assert content["properties"]["enable_nsfw"] is False and content["properties"]["aspect_ratio"] == "16:9"
    assert build_request("x", n=1, aspect_ratio="7:5", nsfw=True, pro=False, request_id="r",
                         now_ms=2)["item"]["content"][0]["properties"]["aspect_ratio"] == "2:3"
    assert decode_blob(b64(PNG)) == (PNG, "image/png")
    assert decode_blob("data:image/webp;base64," + b64(b"RIFF")) == (b"RIFF", "image/webp")
    assert decode_blob("***") == (b"", "")
