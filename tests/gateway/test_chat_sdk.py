"""Chat through the official openai SDK, the real gateway and curl_cffi client, against fakegrok."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest

from tests.gateway.conftest import MakeStack, Stack
from tests.pngs import png as make_png

BASIC = "sso-e2e-basic-" + "b" * 32
SUPER = "super-e2e-acct-" + "s" * 32



@pytest.fixture(params=["ws", "rest"])
async def chat_stack(request: pytest.FixtureRequest, make_stack: MakeStack) -> Stack:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": request.param})
    await stack.add_tokens([SUPER], pool="super")
    return stack


async def _upstream_chat_paths(stack: Stack) -> list[str]:
    return [r["path"] for r in await stack.fake_requests()
            if r["path"].startswith(("/ws/mgw", "/rest/app-chat/conversations"))]


async def test_non_stream_without_thinking(chat_stack: Stack) -> None:
    result = await chat_stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "hello from the sdk"}])
    msg = result.choices[0].message
    assert msg.content == "Echo: hello from the sdk"
    assert getattr(msg, "reasoning_content", None) is None
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens > 0
    assert result.usage.completion_tokens_details.reasoning_tokens == 0
    assert await _upstream_chat_paths(chat_stack)  # it really went to fakegrok


async def test_non_stream_with_thinking(chat_stack: Stack) -> None:
    result = await chat_stack.sdk.chat.completions.create(
        model="grok-4-thinking", messages=[{"role": "user", "content": "think about it"}])
    msg = result.choices[0].message
    assert msg.content == "Echo: think about it"
    reasoning = getattr(msg, "reasoning_content", None)
    assert reasoning and reasoning.strip()
    assert "Echo" not in reasoning
    assert result.usage.completion_tokens_details.reasoning_tokens > 0


async def test_thinking_disabled_hides_reasoning(chat_stack: Stack) -> None:
    result = await chat_stack.sdk.chat.completions.create(
        model="grok-4-thinking", messages=[{"role": "user", "content": "quietly"}],
        extra_body={"thinking": "disabled"})
    msg = result.choices[0].message
    assert msg.content == "Echo: quietly"
    assert getattr(msg, "reasoning_content", None) is None


async def test_stream_with_thinking_and_usage(chat_stack: Stack) -> None:
    chat_stack.state.config.token_interval = 0.02  # paced frames: the answer must arrive in pieces
    stream = await chat_stack.sdk.chat.completions.create(
        model="grok-4-thinking", messages=[{"role": "user", "content": "stream [[tokens:6]] please"}],
        stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or ""
                        for c in chunks if c.choices)
    assert content == "Echo: w1 w2 w3 w4 w5"
    assert reasoning.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.usage.completion_tokens_details.reasoning_tokens > 0
    # Several content deltas: the answer was really streamed, not buffered into one chunk.
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 3


async def test_stream_without_thinking_or_usage(chat_stack: Stack) -> None:
    stream = await chat_stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "plain stream"}], stream=True)
    chunks = [c async for c in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Echo: plain stream"
    assert all(getattr(c.choices[0].delta, "reasoning_content", None) is None for c in chunks if c.choices)
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


async def test_transport_setting_picks_the_upstream_path(make_stack: MakeStack) -> None:
    for transport, expected in (("ws", "/ws/mgw/"), ("rest", "/rest/app-chat/conversations/new")):
        stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport})
        await stack.add_tokens([BASIC])
        await stack.sdk.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "x"}])
        paths = await _upstream_chat_paths(stack)
        assert paths == [expected], (transport, paths)


async def test_image_attachment_is_uploaded(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([BASIC])
    png = make_png()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    result = await stack.sdk.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is in this picture"},
        {"type": "image_url", "image_url": {"url": url}}]}])
    assert result.choices[0].message.content.startswith("Echo:")
    uploads = [r for r in await stack.fake_requests() if "upload-file" in r["path"]]
    assert len(uploads) == 1, [r["path"] for r in await stack.fake_requests()]
    form = uploads[0]["form"]
    assert form["file"] == {"filename": form["file"]["filename"], "mime": "image/png", "size": len(png)}
    stored = [a for a in stack.state.assets.values() if a.data == png]
    assert len(stored) == 1 and stored[0].owner == BASIC
    # The chat call that followed carries the uploaded file's id.
    chats = [r for r in await stack.fake_requests() if r["path"].startswith("/ws/mgw")]
    assert chats and stored[0].asset_id in str(chats[-1].get("ws_messages"))


async def test_image_through_chat_downloads_real_bytes(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([BASIC])
    result = await stack.sdk.chat.completions.create(
        model="grok-imagine-1.0", messages=[{"role": "user", "content": "a red fox in snow"}])
    content = result.choices[0].message.content
    assert "/v1/files/image/" in content, content
    link = content.split("](", 1)[1].split(")", 1)[0]
    path = urlsplit(link).path
    resp = await stack.http.get(path)  # no API key: embedded links must work
    body = await resp.read()
    assert resp.status == 200, body[:200]
    assert resp.headers["Content-Type"].startswith("image/")
    assert body[:3] == b"\xff\xd8\xff" or body[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(body) > 1000
    assert any(r["path"].startswith("/ws/imagine") for r in await stack.fake_requests())


async def test_image_through_chat_streams_progress(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([BASIC])
    stream = await stack.sdk.chat.completions.create(
        model="grok-imagine-1.0", messages=[{"role": "user", "content": "a blue whale"}], stream=True)
    chunks = [c async for c in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "/v1/files/image/" in content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


async def test_video_through_chat_with_video_config(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([SUPER], pool="super")  # basic accounts make at most 6 s (C6)
    result = await stack.sdk.chat.completions.create(
        model="grok-imagine-video", messages=[{"role": "user", "content": "a cat surfing"}],
        extra_body={"video_config": {"aspect_ratio": "16:9", "video_length": 10, "resolution_name": "480p"}})
    content = result.choices[0].message.content
    assert "/v1/files/video/" in content, content
    link = content.split('src="', 1)[1].split('"', 1)[0]
    resp = await stack.http.get(urlsplit(link).path)
    body = await resp.read()
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("video/mp4")
    assert body[4:8] == b"ftyp"
    posts = [r for r in await stack.fake_requests() if r["path"] == "/rest/app-chat/conversations/new"]
    assert posts, "the video request went through conversations/new"
    t2v = posts[-1]["json"]["mediaGenInput"]["textToVideo"]
    assert (t2v["prompt"], t2v["aspectRatio"], t2v["duration"], t2v["resolutionName"]) == (
        "a cat surfing", "16:9", 10, "480p")


async def test_image_to_video_through_chat_uploads_the_image(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([BASIC])
    png = make_png(16, 16)
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    result = await stack.sdk.chat.completions.create(model="grok-imagine-video", messages=[{"role": "user", "content": [
        {"type": "text", "text": "make it move"}, {"type": "image_url", "image_url": {"url": url}}]}],
        extra_body={"video_config": {"aspect_ratio": "1:1", "video_length": 6}})
    content = result.choices[0].message.content
    assert "/v1/files/video/" in content, content
    resp = await stack.http.get(urlsplit(content.split('src="', 1)[1].split('"', 1)[0]).path)
    assert resp.status == 200 and (await resp.read())[4:8] == b"ftyp"
    records = await stack.fake_requests()
    uploads = [r for r in records if "upload-file" in r["path"]]
    assert len(uploads) == 1 and uploads[0]["form"]["file"]["size"] == len(png)
    stored = [a for a in stack.state.assets.values() if a.data == png]
    assert len(stored) == 1
    media_calls = [r for r in records if r["method"] == "POST" and r["path"].startswith("/rest/")]
    assert any(stored[0].asset_id in str(r["json"]) for r in media_calls), [r["path"] for r in media_calls]
