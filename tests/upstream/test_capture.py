"""Transcripts: redaction of every secret kind, the transport tap (HTTP, streams, WebSockets) and the capture bounds."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grok2api.upstream import ChatRequest, GrokClient
from grok2api.upstream.capture import Capture, CaptureOptions
from grok2api.upstream.errors import UpstreamError
from grok2api.upstream.exchange import Exchange, step_of
from grok2api.upstream.redact import Redactor

from .conftest import FakeGrok, collect

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uX2lkIjoiYWJjZGVmIn0.c2lnbmF0dXJlLXZhbHVlLTEyMw"
UID = "3f9c2a1e-7b4d-4e8f-9a2b-1c3d5e7f9a0b"
EMAIL = "alice.smith@example.com"
STATSIG = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
CF = "cf-clearance-value-9876543210abcdef"
CF_BM = "bm-cookie-value-0123456789"
AMZ = "f3a9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4f3e2d1"
LIVEKIT = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoibGl2ZWtpdC1yb29tIn0.bGl2ZWtpdC1zaWduYXR1cmU"
API_KEY = "sk-live-0123456789abcdefghij"
META = "c2l0ZS12ZXJpZmljYXRpb24tbWV0YS1jb250ZW50LXZhbHVlLWZvci10ZXN0cy0xMjM0NTY3ODk"
SIGNER_VALUE = "U2lnbmVyLXZhbHVlLWZyb20tdGhlLXNpZ25lci1zZXJ2aWNlLTAxMjM0NTY3ODlhYmNkZWY"
SECRETS = [TOKEN, UID, EMAIL, STATSIG, CF, CF_BM, AMZ, LIVEKIT, API_KEY, META, SIGNER_VALUE,
           "user-password-123", "proxyuser:proxypass"]


def secret_transcript() -> dict[str, Any]:
    """A transcript document holding every kind of secret, in every place one can hide."""
    session = {"status": "authenticated", "user": {"id": UID, "email": EMAIL, "name": "Alice"},
               "session": {"userId": UID}}
    frames = [
        {"t": 0.01, "dir": "send", "text": json.dumps({"event": {"type": "session.create"}, "uid": UID})},
        {"t": 0.02, "dir": "recv", "text": json.dumps({"result": {"response": {
            "token": f"see https://assets.grok.com/users/{UID}/abc/content?X-Amz-Signature={AMZ}&X-Amz-Date=1"}}})},
        {"t": 0.03, "dir": "recv", "text": f"error: sso={TOKEN}; cf_clearance={CF} rejected for {EMAIL}"},
        {"t": 0.04, "dir": "recv", "text": json.dumps({"token": LIVEKIT, "livekitUrl": "wss://livekit.grok.com"})},
    ]
    return {
        "format": "grok2api-transcript/1", "kind": "ws", "egress": "proxy",
        "request": {"method": "GET", "url": f"wss://grok.com/ws/mgw/?uid={UID}",
                    "headers": {"Cookie": f"sso={TOKEN}; sso-rw={TOKEN}; cf_clearance={CF}; __cf_bm={CF_BM}; "
                                          f"x-userid={UID}",
                                "x-statsig-id": STATSIG, "Authorization": f"Bearer {API_KEY}",
                                "Proxy-Authorization": "Basic proxyuser:proxypass"},
                    "json": {"password": "user-password-123", "metaContent": META, "email": EMAIL}},
        "response": {"status": 101, "headers": {"set-cookie": f"__cf_bm={CF_BM}; Path=/; HttpOnly"},
                     "text": json.dumps(session) + f'<meta name="grok-site-verification" content="{META}">'
                                                   + json.dumps({"x-statsig-id": SIGNER_VALUE})},
        "frames": frames, "error": f"token {TOKEN} expired for {EMAIL}",
    }


def test_no_secret_survives_redaction() -> None:
    redacted = json.dumps(Redactor().document(secret_transcript()))
    for secret in SECRETS:
        assert secret not in redacted, secret
    # Structure and harmless text survive.
    assert "wss://grok.com/ws/mgw/" in redacted and "livekit.grok.com" in redacted and "Alice" in redacted


def test_placeholders_are_stable_and_keep_shapes() -> None:
    redactor = Redactor()
    one, two = redactor.document(secret_transcript()), redactor.document(secret_transcript())
    assert one == two  # stable for one redactor (across files of one capture)
    uid = redactor.placeholder("uid", UID)
    assert uuid.UUID(uid) and uid in json.dumps(one)
    assert f"uid={uid}" in one["request"]["url"]
    assert one["request"]["headers"]["Cookie"].count(redactor.placeholder("sso", TOKEN)) == 2  # sso and sso-rw agree
    assert redactor.placeholder("email", EMAIL).endswith("@redacted.invalid")
    import base64
    assert len(base64.b64decode(redactor.placeholder("meta", META))) == 48  # the signer input keeps its size
    assert Redactor().placeholder("uid", UID) != uid  # another capture, another key: not linkable, not reversible


def test_step_classification() -> None:
    assert step_of("ws", "/ws/mgw/") == "chat_mgw"
    assert step_of("ws", "/_demo/grok/ws/imagine/listen") == "imagine"
    assert step_of("http", "/api/auth/session") == "session"
    assert step_of("http", "/rest/rate-limits") == "rate_limits"
    assert step_of("stream", "/rest/app-chat/conversations/new", {"modeId": "fast"}) == "chat_rest"
    assert step_of("stream", "/rest/app-chat/conversations/new", {"mediaGenInput": {"textToVideo": {}}}) == "media_rest"
    assert step_of("http", "/rest/media/post/create") == "media_rest"
    assert step_of("http", "/http/upload-file-v2/direct") == "other"


# -- the tap on the real transport ----------------------------------------------------
def tapped(client: GrokClient) -> list[Exchange]:
    seen: list[Exchange] = []
    client.transport.taps.append(seen.append)
    return seen


async def test_tap_sees_http_stream_and_websocket_with_frames(client: GrokClient, fake: FakeGrok) -> None:
    seen = tapped(client)
    await client.rate_limits("basic-tap", "fast")
    await collect(client.chat("basic-tap", ChatRequest(message="hello tap", mode="fast", mode_id="fast",
                                                       transport="rest")))
    await collect(client.chat("basic-tap", ChatRequest(message="hello socket", mode="fast", transport="ws")))
    kinds = [(ex.kind, ex.step, ex.outcome) for ex in seen]
    assert ("http", "rate_limits", "ok") in kinds
    assert ("stream", "chat_rest", "ok") in kinds
    assert ("ws", "chat_mgw", "ok") in kinds
    assert ("http", "session", "ok") in kinds
    stream = next(ex for ex in seen if ex.kind == "stream")
    assert stream.status == 200 and stream.frames and all(f.dir == "recv" for f in stream.frames)
    assert [f.t for f in stream.frames] == sorted(f.t for f in stream.frames)
    assert "hello tap" in json.dumps(stream.request_json)
    ws = next(ex for ex in seen if ex.kind == "ws")
    directions = {f.dir for f in ws.frames}
    assert directions == {"send", "recv"} and ws.status == 101 and ws.closed_by == "client"
    assert any('"response.done"' in f.text for f in ws.frames)


class CountingTap(list[Exchange]):
    """A tap like the health view's: it counts, so the transport keeps no body or frames for it."""

    wants_frames = False

    def __call__(self, ex: Exchange) -> None:
        self.append(ex)


async def test_a_counting_tap_gets_step_and_status_without_the_contents(client: GrokClient, fake: FakeGrok) -> None:
    seen = CountingTap()
    client.transport.taps.append(seen)
    await collect(client.chat("basic-tap", ChatRequest(message="hello count", mode="fast", mode_id="fast",
                                                       transport="rest")))
    stream = next(ex for ex in seen if ex.kind == "stream")
    assert (stream.step, stream.outcome, stream.status) == ("chat_rest", "ok", 200)
    assert stream.request_json is None and stream.request_bytes == b"" and not stream.frames
    assert not stream.response_headers
    assert stream.request_headers  # kept: the health view redacts error texts with them


async def test_tap_sees_each_attempt_of_a_refused_call(make_client: Callable[..., GrokClient], fake: FakeGrok) -> None:
    client = make_client(statsig_strategies=("local", "fallback"))
    seen = tapped(client)
    await fake.scenario("basic-refused", anti_bot=True)
    with pytest.raises(UpstreamError):
        await collect(client.chat("basic-refused", ChatRequest(message="hi", mode_id="fast", transport="rest")))
    chats = [ex for ex in seen if ex.step == "chat_rest"]
    assert [ex.outcome for ex in chats] == ["anti_bot", "anti_bot"]  # the first value, then the one retry
    assert all(ex.status == 403 and b"anti-bot" in ex.response_body for ex in chats)


async def test_refused_websocket_handshake_is_recorded(client: GrokClient, fake: FakeGrok) -> None:
    seen = tapped(client)
    await fake.scenario("basic-ws-429", rate_limited=7)
    with pytest.raises(UpstreamError):
        await collect(client.imagine("basic-ws-429", "a cat", n=1))
    ws = next(ex for ex in seen if ex.kind == "ws")
    assert ws.status == 429 and ws.outcome == "rate_limited"


async def test_capture_writes_redacted_files(client: GrokClient, tmp_path: Path) -> None:
    capture = Capture(CaptureOptions(directory=str(tmp_path)))
    client.transport.taps.append(capture)
    token = "basic-capture-" + "x" * 30
    await collect(client.chat(token, ChatRequest(message="hello capture", mode="fast", transport="ws")))
    await capture.close()
    files = sorted(tmp_path.glob("*.json"))
    assert [json.loads(p.read_text())["step"] for p in files] == ["session", "chat_mgw"]
    everything = "".join(p.read_text() for p in files)
    assert token not in everything
    from grok2api.fakegrok import uid_for_token
    assert uid_for_token(token) not in everything and "@fakegrok.invalid" not in everything
    ws = json.loads(files[1].read_text())
    assert ws["kind"] == "ws" and ws["response"]["status"] == 101
    assert any("hello capture" in f["text"] for f in ws["frames"] if f["dir"] == "send")
    for name in files:
        assert token not in name.name


def test_capture_keeps_size_and_age_bounds(tmp_path: Path) -> None:
    capture = Capture(CaptureOptions(directory=str(tmp_path), max_bytes=6000, max_age=3600))
    old = tmp_path / "20000101T000000.000000-000000-other-old.json"
    old.write_text("{}")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    for i in range(10):
        ex = Exchange("http", "GET", f"https://grok.com/rest/thing{i}", "", {"Accept": "*/*"})
        ex.answered(200, {"content-type": "text/plain"}, b"x" * 1000)
        ex.finish(None)
        capture(ex)
    import asyncio
    asyncio.run(capture.close())
    files = sorted(tmp_path.glob("*.json"))
    assert not old.exists()  # older than max_age
    assert sum(p.stat().st_size for p in files) <= 6000
    assert 1 <= len(files) < 10 and files[-1].name.endswith("-thing9.json")  # the newest are kept


def test_capture_cuts_long_bodies_and_stays_off_when_disabled(tmp_path: Path) -> None:
    import asyncio
    on = {"enabled": False}
    capture = Capture(lambda: CaptureOptions(enabled=on["enabled"], directory=str(tmp_path), max_body=100))
    ex = Exchange("http", "GET", "https://grok.com/rest/big", "", {})
    ex.answered(200, {}, b"y" * 1000)
    ex.finish(None)
    capture(ex)
    assert capture.written == 0 and not list(tmp_path.glob("*.json"))
    on["enabled"] = True
    capture(ex)
    asyncio.run(capture.close())
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["truncated"] is True and doc["response"]["text"] == "y" * 100
