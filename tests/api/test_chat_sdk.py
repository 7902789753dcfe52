"""Chat completions through the official openai SDK: shapes, streaming, reasoning, media, errors."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import openai
import pytest

from grok2api.access.api_keys import create_key
from grok2api.errors import (
    RateLimited,
    ServiceUnavailable,
    UpstreamFailed,
    UpstreamTimeout,
)
from grok2api.keys import STORAGE
from grok2api.upstream.events import (
    Done,
    ImageProgress,
    ImageReady,
    ReasoningDelta,
    TextDelta,
    VideoProgress,
    VideoReady,
)
from tests.api.conftest import Api, MakeApi
from tests.api.fakes import FakeGateway

HELLO = [{"role": "user", "content": "Say hello"}]
THINKING = [ReasoningDelta("Let me "), ReasoningDelta("think."), TextDelta("The answer"),
            TextDelta(" is 4."), Done()]


async def test_non_stream(api: Api) -> None:
    result = await api.sdk.chat.completions.create(model="grok-4", messages=HELLO, stream=False)
    assert result.object == "chat.completion" and result.id.startswith("chatcmpl-")
    assert result.model == "grok-4"
    choice = result.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == "Hello world"
    assert choice.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.completion_tokens == 3  # "Hello world": 11 bytes -> 3 tokens
    assert result.usage.total_tokens == result.usage.prompt_tokens + 3
    assert result.usage.completion_tokens_details.reasoning_tokens == 0
    job = api.gateway.jobs[0]
    assert job.model == "grok-4" and job.messages[0].text == "Say hello" and job.stream is False


async def test_stream_and_include_usage(api: Api) -> None:
    stream = await api.sdk.chat.completions.create(
        model="grok-4", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    whole = await api.sdk.chat.completions.create(model="grok-4", messages=HELLO, stream=False)
    assert chunks[-1].usage == whole.usage  # one estimate, however the answer was delivered


async def test_stream_default_from_settings(make_api: MakeApi) -> None:
    api = await make_api({"GROK2API_CHAT_STREAM": "false"})
    resp = await api.http.post("/v1/chat/completions", json={"model": "grok-4", "messages": HELLO},
                               headers=api.headers())
    assert resp.content_type == "application/json"
    api = await make_api({"GROK2API_CHAT_STREAM": "true"})
    resp = await api.http.post("/v1/chat/completions", json={"model": "grok-4", "messages": HELLO},
                               headers=api.headers())
    assert resp.content_type == "text/event-stream"
    await resp.read()


async def test_reasoning_content_by_default(make_api: MakeApi) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: list(THINKING)))
    result = await api.sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=False)
    message = result.choices[0].message
    assert message.content == "The answer is 4."
    assert message.reasoning_content == "Let me think."  # type: ignore[attr-defined]
    assert result.usage.completion_tokens_details.reasoning_tokens == 4  # 13 bytes
    stream = await api.sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=True)
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "Let me think."
    assert "".join(d.content or "" for d in deltas) == "The answer is 4."
    assert api.gateway.jobs[0].thinking is True


async def test_think_tags_format(make_api: MakeApi) -> None:
    api = await make_api({"GROK2API_APP_REASONING_FORMAT": "think_tags"},
                         gateway=FakeGateway(lambda job: list(THINKING)))
    result = await api.sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=False)
    assert result.choices[0].message.content == "<think>\nLet me think.\n</think>\n\nThe answer is 4."
    assert getattr(result.choices[0].message, "reasoning_content", None) is None
    stream = await api.sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "<think>\nLet me think.\n</think>\n\nThe answer is 4."


async def test_per_key_reasoning_format_overrides_global(make_api: MakeApi) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: list(THINKING)))
    new = await create_key(api.http.app[STORAGE], "tags", reasoning_format="think_tags")
    sdk = openai.AsyncOpenAI(base_url=str(api.http.make_url("/v1")), api_key=new.key, max_retries=0)
    async with sdk:
        result = await sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=False)
    assert result.choices[0].message.content.startswith("<think>\nLet me think.")


@pytest.mark.parametrize("how", ["request", "setting"])
async def test_thinking_disabled_hides_reasoning(make_api: MakeApi, how: str) -> None:
    env = {"GROK2API_CHAT_THINKING": "false"} if how == "setting" else {}
    api = await make_api(env, gateway=FakeGateway(lambda job: list(THINKING)))
    extra = {"thinking": "disabled"} if how == "request" else {}
    result = await api.sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=False,
                                                   extra_body=extra)
    assert result.choices[0].message.content == "The answer is 4."
    assert getattr(result.choices[0].message, "reasoning_content", None) is None
    assert api.gateway.jobs[0].thinking is False
    stream = await api.sdk.chat.completions.create(model="grok-4-thinking", messages=HELLO, stream=True,
                                                   extra_body=extra)
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    assert not any(getattr(d, "reasoning_content", None) for d in deltas)


async def test_image_input_as_data_url(api: Api) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    await api.sdk.chat.completions.create(model="grok-4", stream=False, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}])
    job = api.gateway.jobs[0]
    assert job.messages[0].text == "What is this?"
    assert [(a.data, a.mime) for a in job.attachments] == [(png, "image/png")]


async def test_image_through_chat_links_to_the_cache(make_api: MakeApi) -> None:
    gateway = FakeGateway()
    api = await make_api(gateway=gateway)
    name = await api.media.store("image", b"\xff\xd8jpeg-bytes", "image/jpeg")
    gateway.script = lambda job: [ImageProgress(0, 30), ImageProgress(0, 30), ImageProgress(0, 90),
                                  ImageReady(slot=0, url="https://assets/x.jpg", local=name), Done()]
    stream = await api.sdk.chat.completions.create(model="grok-imagine-1.0", messages=HELLO, stream=True)
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    progress = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert progress == "Generating image 1: 30%\nGenerating image 1: 90%\n"
    content = "".join(d.content or "" for d in deltas)
    assert content == f"![image](http://127.0.0.1:8000/v1/files/image/{name})\n"
    link = await api.http.get(urlsplit(content[9:-2]).path)  # no API key needed
    assert link.status == 200 and link.content_type == "image/jpeg"
    assert await link.read() == b"\xff\xd8jpeg-bytes"


async def test_image_base64_format(make_api: MakeApi) -> None:
    gateway = FakeGateway()
    api = await make_api({"GROK2API_APP_IMAGE_FORMAT": "base64"}, gateway=gateway)
    name = await api.media.store("image", b"PNGDATA", "image/png")
    gateway.script = lambda job: [ImageReady(slot=0, local=name), Done()]
    result = await api.sdk.chat.completions.create(model="grok-imagine-1.0", messages=HELLO, stream=False)
    assert result.choices[0].message.content == (
        "![image](data:image/png;base64," + base64.b64encode(b"PNGDATA").decode() + ")\n")


@pytest.mark.parametrize("video_format", ["html", "url"])
async def test_video_through_chat(make_api: MakeApi, video_format: str) -> None:
    gateway = FakeGateway()
    api = await make_api({"GROK2API_APP_VIDEO_FORMAT": video_format,
                          "GROK2API_APP_APP_URL": "https://gw.example"}, gateway=gateway)
    name = await api.media.store("video", b"\x00\x00\x00\x18ftypmp42" + b"v" * 1000, "video/mp4")
    gateway.script = lambda job: [VideoProgress(10), VideoProgress(60),
                                  VideoReady(url="https://assets/v.mp4", local=name), Done()]
    result = await api.sdk.chat.completions.create(
        model="grok-imagine-video", messages=HELLO, stream=False,
        extra_body={"video_config": {"aspect_ratio": "9:16", "video_length": 10}})
    link = f"https://gw.example/v1/files/video/{name}"
    expected = f'<video src="{link}" controls="controls"></video>\n' if video_format == "html" else link + "\n"
    assert result.choices[0].message.content == expected
    ranged = await api.http.get(f"/v1/files/video/{name}", headers={"Range": "bytes=4-11"})
    assert ranged.status == 206 and ranged.content_type == "video/mp4"
    assert await ranged.read() == b"ftypmp42"


async def test_moderated_media_is_content_filter(make_api: MakeApi) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: [ImageReady(slot=0, moderated=True), Done()]))
    result = await api.sdk.chat.completions.create(model="grok-imagine-1.0", messages=HELLO, stream=False)
    assert result.choices[0].finish_reason == "content_filter"
    assert result.choices[0].message.content == ""


async def test_max_tokens_cuts_with_length(make_api: MakeApi) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: [TextDelta("a" * 40), TextDelta("b" * 40), Done()]))
    result = await api.sdk.chat.completions.create(model="grok-4", messages=HELLO, stream=False, max_tokens=5)
    assert result.choices[0].message.content == "a" * 20
    assert result.choices[0].finish_reason == "length" and result.usage.completion_tokens == 5
    assert api.gateway.open == 0  # the rest of the answer was not waited for


async def test_models(make_api: MakeApi) -> None:
    api = await make_api()
    ids = [m.id async for m in api.sdk.models.list()]
    assert "grok-4" in ids and "grok-imagine-video" in ids
    model = await api.sdk.models.retrieve("grok-4")
    assert model.id == "grok-4" and model.object == "model" and model.owned_by
    new = await create_key(api.http.app[STORAGE], "narrow", allowed_models=["grok-3"])
    async with openai.AsyncOpenAI(base_url=str(api.http.make_url("/v1")), api_key=new.key,
                                  max_retries=0) as sdk:
        assert [m.id async for m in sdk.models.list()] == ["grok-3"]
        with pytest.raises(openai.NotFoundError):
            await sdk.models.retrieve("grok-4")


# -- errors as the SDK's exceptions -------------------------------------------------------

async def test_bad_request(api: Api) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await api.sdk.chat.completions.create(model="grok-4", messages=HELLO, n=2)
    assert info.value.body["param"] == "n"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        await api.sdk.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}])
    assert info.value.body["param"] == "messages[0].content[0]"  # type: ignore[index]


async def test_wrong_key(make_api: MakeApi) -> None:
    api = await make_api(key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as info:
        await api.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert info.value.code == "invalid_api_key"


async def test_model_not_allowed(api: Api) -> None:
    new = await create_key(api.http.app[STORAGE], "narrow", allowed_models=["grok-3"])
    async with openai.AsyncOpenAI(base_url=str(api.http.make_url("/v1")), api_key=new.key,
                                  max_retries=0) as sdk:
        with pytest.raises(openai.PermissionDeniedError) as info:
            await sdk.chat.completions.create(model="grok-4", messages=HELLO)
        assert info.value.code == "model_not_allowed"
        result = await sdk.chat.completions.create(model="grok-3", messages=HELLO, stream=False)
        assert result.choices[0].message.content == "Hello world"


async def test_unknown_model(api: Api) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await api.sdk.chat.completions.create(model="gpt-5", messages=HELLO)
    assert info.value.code == "model_not_found"


async def test_rate_limited(make_api: MakeApi) -> None:
    gateway = FakeGateway()
    gateway.raise_on_call = RateLimited("slow down", retry_after=7)
    api = await make_api(gateway=gateway)
    with pytest.raises(openai.RateLimitError) as info:
        await api.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert info.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize(("error", "status"), [
    (UpstreamFailed("grok broke"), 502),
    (ServiceUnavailable("no account", headers={"Retry-After": "30"}), 503),
    (UpstreamTimeout("too slow"), 504),
])
@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_errors_before_the_first_event(make_api: MakeApi, error: Exception, status: int,
                                                      stream: bool) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: [error]))
    with pytest.raises(openai.InternalServerError) as info:
        await api.sdk.chat.completions.create(model="grok-4", messages=HELLO, stream=stream)
    assert info.value.status_code == status
    assert info.value.response.headers["x-should-retry"] == "false"


async def test_error_after_the_first_event_ends_the_stream(make_api: MakeApi) -> None:
    api = await make_api(gateway=FakeGateway(lambda job: [TextDelta("partial"), UpstreamFailed("lost it")]))
    stream = await api.sdk.chat.completions.create(model="grok-4", messages=HELLO, stream=True)
    seen = []
    with pytest.raises(openai.APIError, match="lost it"):
        async for chunk in stream:
            seen.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in seen if c.choices) == "partial"
