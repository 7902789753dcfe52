"""Every OpenAI-shaped answer of the gateway, validated against OpenAI's official OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.conftest import KEY, SUPER, Stack
from tests.conformance.spec import check, load, sse_events
from tests.pngs import png

# The SDK warns that OpenAI's own Sora API is shutting down; the shape is what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
AUTH = {"Authorization": f"Bearer {KEY}"}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


async def post(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str] | None = None,
               expect: int = 200) -> Any:
    async with stack.http.post(path, json=body, headers=headers if headers is not None else AUTH) as resp:
        assert resp.status == expect, await resp.text()
        if resp.content_type == "text/event-stream":
            return list(sse_events(await resp.text()))
        return await resp.json()


async def get(stack: Stack, path: str, expect: int = 200, **params: str) -> Any:
    async with stack.http.get(path, headers=AUTH, params=params) as resp:
        assert resp.status == expect, await resp.text()
        return await resp.json()


def test_documents_name_the_schemas_used_here() -> None:
    """The component names below are the ones the document gives for each operation."""
    spec = load("openai")
    assert spec.response_schema("/chat/completions", "post") == "CreateChatCompletionResponse"
    assert spec.response_schema("/chat/completions", "post", "text/event-stream") == \
        "CreateChatCompletionStreamResponse"
    assert spec.response_schema("/responses", "post", "text/event-stream") == "ResponseStreamEvent"
    assert spec.response_schema("/images/edits", "post", "text/event-stream") == "ImageEditStreamEvent"
    assert spec.response_schema("/videos/{video_id}", "get") == "VideoResource"


# -- chat completions ---------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["grok-4", "grok-4-thinking"])
async def test_chat_body(stack: Stack, model: str) -> None:
    body = await post(stack, "/v1/chat/completions", {"model": model, "messages": [
        {"role": "user", "content": "Hello there"}]})
    check("openai", "CreateChatCompletionResponse", body)


async def test_chat_stream_chunks_and_usage_chunk(stack: Stack) -> None:
    events = await post(stack, "/v1/chat/completions", {
        "model": "grok-4-thinking", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "stream [[tokens:5]] me"}]})
    assert events[-1].data == "[DONE]"
    chunks = [e.json() for e in events[:-1]]
    assert chunks[-1]["usage"] and chunks[-1]["choices"] == []  # the usage chunk
    for chunk in chunks:
        check("openai", "CreateChatCompletionStreamResponse", chunk)


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_tool_calls(stack: Stack, stream: bool) -> None:
    answer = await post(stack, "/v1/chat/completions", {
        "model": "grok-4", "stream": stream, "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Use get_weather: what's the weather in Paris?"}]})
    if not stream:
        assert answer["choices"][0]["finish_reason"] == "tool_calls"
        check("openai", "CreateChatCompletionResponse", answer)
        return
    chunks = [e.json() for e in answer[:-1]]
    assert any(c["choices"] and c["choices"][0]["delta"].get("tool_calls") for c in chunks)
    for chunk in chunks:
        check("openai", "CreateChatCompletionStreamResponse", chunk)


async def test_chat_stream_error_event(stack: Stack) -> None:
    stack.state.config.token_interval = 0.01
    stack.switches(SUPER, stream_error=True)  # the upstream breaks after the first tokens
    events = await post(stack, "/v1/chat/completions", {
        "model": "grok-4", "stream": True, "messages": [{"role": "user", "content": "break [[tokens:6]] late"}]})
    assert events[-1].data == "[DONE]" and "error" in events[-2].json()
    check("openai", "ErrorResponse", events[-2].json())
    for sse in events[:-2]:
        check("openai", "CreateChatCompletionStreamResponse", sse.json())


async def test_errors(stack: Stack) -> None:
    cases: list[tuple[dict[str, str], dict[str, Any], int]] = [
        (AUTH, {"model": "grok-4"}, 400),
        (AUTH, {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}, 404),
        ({"Authorization": "Bearer sk-wrong-key-000000000000"},
         {"model": "grok-4", "messages": [{"role": "user", "content": "x"}]}, 401),
    ]
    for headers, body, status in cases:
        check("openai", "ErrorResponse", await post(stack, "/v1/chat/completions", body, headers, status))
    unauthorised = await post(stack, "/v1/chat/completions", {}, {}, 401)
    # OpenAI's own 401: an invalid_request_error whose code says what was wrong.
    assert unauthorised["error"]["type"] == "invalid_request_error"
    assert unauthorised["error"]["code"] == "invalid_api_key"


# -- models --------------------------------------------------------------------------------------
async def test_models(stack: Stack) -> None:
    listed = await get(stack, "/v1/models")
    check("openai", "ListModelsResponse", listed)
    check("openai", "Model", await get(stack, "/v1/models/grok-4"))
    check("openai", "ErrorResponse", await get(stack, "/v1/models/nope", expect=404))


# -- Responses -----------------------------------------------------------------------------------
FLAT_WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather for a city.",
                "parameters": WEATHER["function"]["parameters"]}  # type: ignore[index]


@pytest.mark.parametrize("request_body", [
    {"model": "grok-4", "input": "Hello there", "instructions": "Be kind", "metadata": {"a": "b"}},
    {"model": "grok-4-thinking", "input": "Think about it", "reasoning": {"effort": "high", "summary": "auto"}},
    {"model": "grok-4", "input": "Use get_weather: weather in Paris?", "tools": [FLAT_WEATHER]},
    {"model": "grok-4", "input": "Use get_weather: weather in Paris?",
     "tools": [{**FLAT_WEATHER, "strict": True}]},
    {"model": "grok-4", "input": "apply it", "tools": [
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch."}]},
    {"model": "grok-4", "input": "long [[tokens:50]] answer", "max_output_tokens": 16},
], ids=["plain", "reasoning", "function", "strict-function", "custom", "incomplete"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_responses(stack: Stack, request_body: dict[str, Any], stream: bool) -> None:
    answer = await post(stack, "/v1/responses", {**request_body, "stream": stream})
    if stream:
        assert answer, "no events"
        for sse in answer:
            data = sse.json()
            assert data["type"] == sse.name
            check("openai", "ResponseStreamEvent", data)
        answer = answer[-1].json()["response"]
        assert answer["usage"]["total_tokens"] > 0  # null only while the answer is being made
        check("openai", "Response", answer)
    for sent, echoed in zip(request_body.get("tools", []), answer["tools"]):
        if sent["type"] == "function":  # echoed as sent, null when not sent
            assert "strict" in echoed and echoed["strict"] == sent.get("strict")
    retrieved = await get(stack, f"/v1/responses/{answer['id']}")
    check("openai", "Response", retrieved)
    check("openai", "ResponseItemList", await get(stack, f"/v1/responses/{answer['id']}/input_items"))


async def test_response_errors(stack: Stack) -> None:
    check("openai", "ErrorResponse", await get(stack, "/v1/responses/resp_nope", expect=404))
    check("openai", "ErrorResponse", await post(stack, "/v1/responses", {"model": "grok-4"}, expect=400))


async def test_response_failed_event(stack: Stack) -> None:
    stack.state.config.token_interval = 0.01
    stack.switches(SUPER, stream_error=True)  # the upstream breaks after the first tokens
    events = await post(stack, "/v1/responses", {"model": "grok-4", "stream": True,
                                                 "input": "break [[tokens:6]] late"})
    assert events[-1].name == "response.failed"
    for sse in events:
        check("openai", "ResponseStreamEvent", sse.json())


# -- images --------------------------------------------------------------------------------------
@pytest.mark.parametrize("response_format", ["url", "b64_json"])
async def test_image_generations(stack: Stack, response_format: str) -> None:
    body = await post(stack, "/v1/images/generations", {"prompt": "a small boat", "n": 2,
                                                         "response_format": response_format})
    check("openai", "ImagesResponse", body)


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
async def test_image_generation_stream(stack: Stack, response_format: str) -> None:
    events = await post(stack, "/v1/images/generations", {
        "prompt": "a small boat", "n": 2, "stream": True, "response_format": response_format,
        "partial_images": 1})
    types = [e.json()["type"] for e in events if e.data != "[DONE]"]
    assert "image_generation.completed" in types and "image_generation.partial_image" in types
    for sse in events:
        if sse.data == "[DONE]":
            continue
        event = sse.json()
        check("openai", "ImageGenStreamEvent", event)
        assert event["b64_json"], f"{event['type']} has an empty b64_json"
        if event["type"] == "image_generation.completed":
            assert event["usage"]["total_tokens"] > 0
    per_image = [sum(1 for e in events if e.data != "[DONE]" and e.json()["type"].endswith("partial_image")
                     and e.json()["image_index"] == i) for i in (0, 1)]
    assert per_image == [1, 1]  # the fake sends two previews per image; `partial_images` caps them
    none = await post(stack, "/v1/images/generations", {"prompt": "a boat", "stream": True, "partial_images": 0})
    assert [e.json()["type"] for e in none if e.data != "[DONE]"] == ["image_generation.completed"]


async def _edit(stack: Stack, stream: bool) -> Any:
    from aiohttp import FormData
    form = FormData()
    form.add_field("image", png(), filename="in.png", content_type="image/png")
    form.add_field("prompt", "add a hat")
    form.add_field("response_format", "url")
    if stream:
        form.add_field("stream", "true")
    async with stack.http.post("/v1/images/edits", data=form, headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()
        if stream:
            return list(sse_events(await resp.text()))
        return await resp.json()


async def test_image_edits(stack: Stack) -> None:
    check("openai", "ImagesResponse", await _edit(stack, stream=False))
    events = await _edit(stack, stream=True)
    assert any(e.data != "[DONE]" and e.json()["type"] == "image_edit.completed" for e in events)
    for sse in events:
        if sse.data != "[DONE]":
            check("openai", "ImageEditStreamEvent", sse.json())
            assert sse.json()["b64_json"]


async def test_image_errors(stack: Stack) -> None:
    check("openai", "ErrorResponse", await post(stack, "/v1/images/generations", {"prompt": ""}, expect=400))
    error = await post(stack, "/v1/images/generations", {"prompt": "x", "partial_images": 4}, expect=400)
    assert error["error"]["param"] == "partial_images"


# -- videos --------------------------------------------------------------------------------------
@pytest.mark.parametrize("request_body", [
    {"prompt": "a paper boat"},
    {"prompt": "a paper boat", "seconds": "8", "size": "1280x720"},
    {"prompt": "a tall tower", "size": "720x1280", "seconds": "4"},
    {"prompt": "[[moderated]] something"},
], ids=["defaults", "landscape", "portrait", "failed"])
async def test_videos(stack: Stack, request_body: dict[str, Any]) -> None:
    created = await post(stack, "/v1/videos", request_body)
    check("openai", "VideoResource", created)
    done = await stack.sdk.videos.poll(created["id"], poll_interval_ms=50)
    check("openai", "VideoResource", await get(stack, f"/v1/videos/{done.id}"))
    if "size" in request_body:
        assert done.size == request_body["size"]


async def test_video_errors(stack: Stack) -> None:
    check("openai", "ErrorResponse", await get(stack, "/v1/videos/video_nope", expect=404))
    check("openai", "ErrorResponse", await post(stack, "/v1/videos", {"prompt": "x", "size": "big"}, expect=400))
