"""The mgw chat gateway (§4) and Imagine (§5.1) WebSockets through curl_cffi's ws_connect."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from curl_cffi import CurlError
from curl_cffi.requests.exceptions import RequestException
from curl_cffi.requests.websockets import WebSocketError

from .conftest import Fake
from .mediacheck import jpeg_size, png_size

REFUSED = (WebSocketError, RequestException, CurlError)


def session_create(model: str = "fast", **x_grok: Any) -> str:
    return json.dumps({"event": {"type": "session.create", "event_id": "evt_init_1", "session": {
        "model": model, "x_grok": {"protocol_capabilities": ["conversation_attached"], "use_chunk": True,
                                   "disable_artifact": True, **x_grok}}}})


def item(sid: str, text: str, parent: str | None = None, files: list[str] | None = None) -> str:
    chunks: list[dict[str, Any]] = [{"mention": {"target": {"file_mention": {"file_id": f}}}} for f in files or []]
    chunks.append({"text": {"text": text}})
    event: dict[str, Any] = {"type": "conversation.item.create", "event_id": "evt_msg_1",
                             "item": {"type": "message", "role": "user", "x_grok": {"input_chunks": chunks}}}
    if files:
        event["file_attachment_ids"] = files
    if parent:
        event["parent_response_id"] = parent
    return json.dumps({"session_id": sid, "event": event})


async def mgw_open(fake: Fake, token: str = "tok-a") -> Any:
    uid = await fake.session_uid(token)
    return await fake.http.ws_connect(fake.ws_url(f"/ws/mgw/?uid={uid}"),
                                      cookies=fake.cookies(token, **{"x-userid": uid}),
                                      headers={"Origin": "https://grok.com"})


async def recv(ws: Any) -> dict[str, Any]:
    return json.loads(await ws.recv_str())


async def turn(ws: Any, sid: str, text: str, parent: str | None = None) -> list[dict[str, Any]]:
    await ws.send_str(item(sid, text, parent))
    await ws.send_str(json.dumps({"session_id": sid, "event": {"type": "response.create", "event_id": "evt_resp_1"}}))
    events = []
    while True:
        message = await recv(ws)
        events.append(message)
        if message["event"]["type"] in ("response.done", "error"):
            return events


async def test_mgw_handshake_ping_chunks_done(fake: Fake) -> None:
    ws = await mgw_open(fake, "super-a")
    await ws.send_str(json.dumps({"event": {"type": "ping", "event_id": "evt_hb_1"}}))
    pong = await recv(ws)
    assert pong["event"]["type"] == "pong" and pong["event"]["client_event_id"] == "evt_hb_1"
    await ws.send_str(session_create("expert"))
    created, attached = await recv(ws), await recv(ws)
    assert created["event"] == {"type": "session.created", "client_event_id": "evt_init_1"}
    sid = created["session_id"]
    assert attached["event"]["conversation"]["id"] == sid == attached["session_id"]
    events = await turn(ws, sid, "[user]\nhello [[render]] [[artifact]]")
    chunks = [e["event"]["chunk"] for e in events if e["event"]["type"] == "response.chunk"]
    analysis = [c["text"]["text"] for c in chunks if c.get("text", {}).get("channel") == "CHANNEL_ANALYSIS"]
    answer = "".join(c["text"]["text"] for c in chunks if c.get("text", {}).get("channel") == "CHANNEL_ASSISTANT_RESPONSE")
    assert analysis and answer == "Echo: hello", "artifact suppressed by disable_artifact"
    assert any("render_citation" in c for c in chunks)
    done = events[-1]["event"]
    assert done["type"] == "response.done" and done["response"]["status"] == "completed"
    second = await turn(ws, sid, "[user]\nagain", parent=done["response"]["id"])
    assert second[-1]["event"]["type"] == "response.done"
    await ws.close()


async def test_mgw_continuation_with_load_existing(fake: Fake) -> None:
    ws = await mgw_open(fake)
    await ws.send_str(session_create())
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    done = (await turn(ws, sid, "[user]\nfirst"))[-1]["event"]["response"]["id"]
    await ws.close()
    ws = await mgw_open(fake)
    await ws.send_str(json.dumps({"session_id": sid, "event": {"type": "session.create", "event_id": "evt_init_2",
                                  "session": {"model": "fast", "x_grok": {"conversation_id": sid, "load_existing": True,
                                                                          "needs_history": False}}}}))
    assert (await recv(ws))["session_id"] == sid
    await recv(ws)
    events = await turn(ws, sid, "[user]\nsecond", parent=done)
    assert events[-1]["event"]["type"] == "response.done"
    await ws.close()


async def test_mgw_protocol_errors(fake: Fake) -> None:
    ws = await mgw_open(fake)
    await ws.send_str(item("nope", "hi"))
    error = await recv(ws)
    assert error["event"]["type"] == "error" and "before session" in error["event"]["error"]["message"]
    await ws.close()
    ws = await mgw_open(fake)
    await ws.send_str(session_create("turbo"))
    assert (await recv(ws))["event"]["type"] == "error"
    await ws.close()
    ws = await mgw_open(fake)
    await ws.send_str(session_create())
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    await ws.send_str(json.dumps({"session_id": sid, "event": {"type": "response.create", "event_id": "e"}}))
    assert (await recv(ws))["event"]["type"] == "error"
    await ws.close()


async def test_mgw_handshake_checks_uid_and_cookie(fake: Fake) -> None:
    uid = await fake.session_uid("tok-a")
    with pytest.raises(REFUSED, match="400"):  # no x-userid cookie
        await fake.http.ws_connect(fake.ws_url(f"/ws/mgw/?uid={uid}"), cookies=fake.cookies("tok-a"))
    with pytest.raises(REFUSED, match="400"):  # uid of someone else
        await fake.http.ws_connect(fake.ws_url("/ws/mgw/?uid=00000000-0000-4000-8000-000000000000"),
                                   cookies=fake.cookies("tok-a", **{"x-userid": uid}))
    with pytest.raises(REFUSED, match="401"):  # no SSO
        await fake.http.ws_connect(fake.ws_url(f"/ws/mgw/?uid={uid}"), cookies={"x-userid": uid})


async def test_mgw_quota_exhausted_is_error_event(fake: Fake) -> None:
    await fake.control("POST", "/accounts", {"token": "tok-a", "quotas": {"fast": 0}})
    ws = await mgw_open(fake)
    await ws.send_str(session_create())
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    error = (await turn(ws, sid, "[user]\nhi"))[-1]["event"]
    assert error["type"] == "error" and error["error"]["code"] == 8
    await ws.close()


def imagine_request(text: str, **props: Any) -> str:
    return json.dumps({"type": "conversation.item.create", "timestamp": 1767000000123, "item": {
        "type": "message", "content": [{"requestId": "req-1", "text": text, "type": "input_text", "properties": {
            "section_count": 0, "is_kids_mode": False, "enable_nsfw": True, "skip_upsampler": False,
            "is_initial": False, "aspect_ratio": "2:3", **props}}]}})


RESET = json.dumps({"type": "conversation.item.create", "timestamp": 1767000000000,
                    "item": {"type": "message", "content": [{"type": "reset"}]}})


async def imagine_frames(ws: Any, slots: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while sum(1 for f in frames if f.get("current_status") == "completed") < slots:
        frames.append(json.loads(await ws.recv_str()))
        if frames[-1]["type"] == "error":
            break
    return frames


async def test_imagine_slots_sizes_and_downloads(fake: Fake) -> None:
    ws = await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))
    await ws.send_str(RESET)
    await ws.send_str(imagine_request("a red fox", aspect_ratio="16:9", num_generations=2, enable_pro=True))
    frames = await imagine_frames(ws, 2)
    await ws.close()
    for order in (0, 1):
        slot = [f for f in frames if f["order"] == order]
        assert slot[0]["current_status"] == "start_stage" and slot[-1]["current_status"] == "completed"
        image_id = slot[0]["image_id"]
        images = [f for f in slot if f["type"] == "image"]
        assert [i["percentage_complete"] for i in images] == [35, 80, 100]
        assert all(i["id"] == image_id and image_id in i["url"] for i in images)
        sizes = [len(i["blob"]) for i in images]
        assert sizes[0] < 30_000 < sizes[1] < 100_000 < sizes[2]
        assert images[0]["url"].endswith(".png") and images[2]["url"].endswith(".jpg")
        assert png_size(base64.b64decode(images[1]["blob"]))
        width, height = jpeg_size(base64.b64decode(images[2]["blob"]))
        assert (width, height) == (slot[0]["width"], slot[0]["height"]) and width > height
        assert slot[-1]["moderated"] is False
        path = images[2]["url"].split("x.ai", 1)[1]
        public = await fake.get(path, token=None)
        assert public.status_code == 200 and public.content == base64.b64decode(images[2]["blob"])


async def test_imagine_defaults_and_validation(fake: Fake) -> None:
    ws = await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))
    await ws.send_str(imagine_request("six of them"))  # PY-A style: no num_generations, not pro
    frames = await imagine_frames(ws, 6)
    assert len({f["image_id"] for f in frames if f["type"] == "json"}) == 6
    await ws.send_str(imagine_request("bad", aspect_ratio="5:7"))
    error = json.loads(await ws.recv_str())
    assert error["type"] == "error" and error["err_code"] == "invalid_argument"
    await ws.close()


async def test_imagine_moderation_and_quota(fake: Fake) -> None:
    await fake.control("POST", "/accounts", {"token": "tok-a", "quotas": {"imagePro": 1}})
    ws = await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"), cookies=fake.cookies("tok-a"))
    await ws.send_str(imagine_request("[[moderated]] thing", num_generations=1))
    frames = await imagine_frames(ws, 1)
    assert frames[-1]["moderated"] is True and not any(f.get("percentage_complete") == 100 for f in frames)
    await ws.send_str(imagine_request("again", num_generations=1))
    assert json.loads(await ws.recv_str())["err_code"] == "rate_limit_exceeded"
    await ws.close()


async def test_ws_requires_cookie(fake: Fake) -> None:
    with pytest.raises(REFUSED, match="401"):
        await fake.http.ws_connect(fake.ws_url("/ws/imagine/listen"))


def new_session(event_id: str, model: str = "fast") -> str:
    return json.dumps({"event": {"type": "session.create", "event_id": event_id, "session": {
        "model": model, "x_grok": {"disable_artifact": True, "is_temporary": True}}}})


async def opened(fake: Fake) -> tuple[Any, str]:
    """A socket with one session created and attached: (socket, session id)."""
    ws = await mgw_open(fake)
    await ws.send_str(new_session("evt_init_a"))
    sid = (await recv(ws))["session_id"]
    await recv(ws)
    return ws, sid


async def test_mgw_keeps_serving_new_conversations_on_one_socket(fake: Fake) -> None:
    """C8 (the default): after response.done the socket stays open; the next conversation starts with its own
    session.create, and the fake refuses what would mix two conversations."""
    assert fake.state.config.mgw_keep_serving
    ws, first = await opened(fake)
    assert (await turn(ws, first, "[user]\none"))[-1]["event"]["type"] == "response.done"
    await ws.send_str(json.dumps({"event": {"type": "ping", "event_id": "evt_hb_7"}}))
    assert (await recv(ws))["event"]["type"] == "pong"  # idle between conversations, pinged like the browser
    await ws.send_str(new_session("evt_init_b"))
    created, attached = await recv(ws), await recv(ws)
    second = created["session_id"]
    assert created["event"]["client_event_id"] == "evt_init_b" and attached["event"]["conversation"]["id"] == second
    assert second != first
    events = await turn(ws, second, "[user]\ntwo")
    assert events[-1]["event"]["type"] == "response.done"
    answer = "".join(e["event"]["chunk"]["text"]["text"] for e in events if e["event"]["type"] == "response.chunk"
                     and e["event"]["chunk"].get("text", {}).get("channel") == "CHANNEL_ASSISTANT_RESPONSE")
    assert answer == "Echo: two"
    convs = fake.state.conversations
    assert [m[2] for m in convs[first].messages] == ["[user]\none", "Echo: one"]  # nothing leaked across
    assert [m[2] for m in convs[second].messages] == ["[user]\ntwo", "Echo: two"]
    # The finished conversation is not where a new one starts: without a parent it is refused.
    await ws.send_str(new_session("evt_init_c"))
    assert (await recv(ws))["session_id"] not in (first, second)
    await recv(ws)
    error = (await turn(ws, second, "[user]\nwrong session"))[-1]["event"]
    assert error["type"] == "error" and "does not match" in error["error"]["message"]
    await ws.close()


async def test_mgw_refuses_what_would_mix_conversations(fake: Fake) -> None:
    ws, sid = await opened(fake)
    await ws.send_str(new_session("evt_init_b"))  # before the first one's response.done
    error = (await recv(ws))["event"]
    assert error["type"] == "error" and error["error"]["message"] == "session already created"
    await ws.close()

    ws, sid = await opened(fake)
    await turn(ws, sid, "[user]\none")
    error = (await turn(ws, sid, "[user]\na new question without session.create"))[-1]["event"]
    assert error["type"] == "error" and "starts with session.create" in error["error"]["message"]
    await ws.close()

    ws, sid = await opened(fake)
    await turn(ws, sid, "[user]\none")
    await ws.send_str(new_session("evt_init_a"))  # an event id this socket has seen
    assert "already used" in (await recv(ws))["event"]["error"]["message"]
    await ws.close()

    ws = await mgw_open(fake)
    await ws.send_str(json.dumps({"session_id": sid, **json.loads(new_session("evt_init_x"))}))
    assert "carries no session_id" in (await recv(ws))["event"]["error"]["message"]
    await ws.close()


async def test_mgw_closes_after_response_done_when_not_keep_serving(fake: Fake) -> None:
    fake.state.config.update({"mgw_keep_serving": False})
    ws, sid = await opened(fake)
    assert (await turn(ws, sid, "[user]\none"))[-1]["event"]["type"] == "response.done"
    with pytest.raises(WebSocketError):
        await ws.recv_str()  # the server closed the socket right after response.done
    assert ws.close_code == 1000
