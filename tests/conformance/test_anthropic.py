"""Every Anthropic-shaped answer of the gateway, validated against Anthropic's official OpenAPI document."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.conformance.conftest import KEY, SUPER, Stack
from tests.conformance.spec import check, load, sse_events

HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
THINKING = {"type": "enabled", "budget_tokens": 1024}


async def post(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str] | None = None,
               expect: int = 200) -> Any:
    async with stack.http.post(path, json=body, headers=HEADERS if headers is None else headers) as resp:
        assert resp.status == expect, await resp.text()
        if resp.content_type == "text/event-stream":
            return list(sse_events(await resp.text()))
        return await resp.json()


def test_documents_name_the_schemas_used_here() -> None:
    spec = load("anthropic")
    assert spec.response_schema("/v1/messages", "post") == "Message"
    assert spec.response_schema("/v1/messages", "post", status="4XX") == "ErrorResponse"
    assert spec.response_schema("/v1/messages/count_tokens", "post") == "CountMessageTokensResponse"
    assert spec.response_schema("/v1/models", "get") == "ListResponse_ModelInfo_"


CASES = [
    {"model": "grok-4", "max_tokens": 256, "messages": HELLO},
    {"model": "grok-4-thinking", "max_tokens": 1024, "messages": HELLO, "thinking": THINKING},
    {"model": "grok-4", "max_tokens": 512, "tools": [WEATHER],
     "messages": [{"role": "user", "content": "Use get_weather: what's the weather in Paris?"}]},
    {"model": "grok-4", "max_tokens": 5, "messages": [{"role": "user", "content": "long [[tokens:40]] one"}]},
    {"model": "grok-4", "max_tokens": 256, "stop_sequences": ["w3"],
     "messages": [{"role": "user", "content": "cut [[tokens:8]] here"}]},
]
IDS = ["text", "thinking", "tool_use", "max_tokens", "stop_sequence"]


@pytest.mark.parametrize("body", CASES, ids=IDS)
async def test_message(stack: Stack, body: dict[str, Any]) -> None:
    message = await post(stack, "/v1/messages", body)
    check("anthropic", "Message", message)


@pytest.mark.parametrize("body", CASES, ids=IDS)
async def test_message_stream(stack: Stack, body: dict[str, Any]) -> None:
    events = await post(stack, "/v1/messages", {**body, "stream": True})
    names = [e.name for e in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    for sse in events:
        data = sse.json()
        assert data["type"] == sse.name
        check("anthropic", "MessageStreamEvent", data)


async def test_stream_error_event(stack: Stack) -> None:
    stack.state.config.token_interval = 0.01
    stack.switches(SUPER, stream_error=True)  # the upstream breaks after the first tokens
    events = await post(stack, "/v1/messages", {**CASES[0], "stream": True,
                                                "messages": [{"role": "user", "content": "break [[tokens:6]] late"}]})
    assert events[-1].name == "error"
    check("anthropic", "ErrorResponse", events[-1].json())


async def test_count_tokens(stack: Stack) -> None:
    counted = await post(stack, "/v1/messages/count_tokens", {"model": "grok-4", "messages": HELLO,
                                                              "tools": [WEATHER]})
    check("anthropic", "CountMessageTokensResponse", counted)


async def test_models(stack: Stack) -> None:
    async with stack.http.get("/v1/models", headers=HEADERS) as resp:
        assert resp.status == 200
        listed = await resp.json()
    assert listed["data"]
    check("anthropic", "ListResponse_ModelInfo_", listed)


async def test_errors(stack: Stack) -> None:
    cases: list[tuple[dict[str, str], dict[str, Any], int]] = [
        (HEADERS, {"model": "grok-4", "messages": HELLO}, 400),
        (HEADERS, {"model": "claude-not-here", "max_tokens": 5, "messages": HELLO}, 404),
        ({"x-api-key": "sk-wrong-key-000000000000", "anthropic-version": "2023-06-01"}, CASES[0], 401),
    ]
    for headers, body, status in cases:
        error = await post(stack, "/v1/messages", body, headers, status)
        check("anthropic", "ErrorResponse", error)
        assert error["request_id"]
    async with stack.http.post("/v1/messages", data=b"{not json", headers={
            **HEADERS, "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        check("anthropic", "ErrorResponse", await resp.json())


async def test_overloaded_error(make_stack: Any) -> None:
    empty = await make_stack()  # no account at all: Anthropic's overloaded 529
    for stream in (False, True):
        error = await post(empty, "/v1/messages", {**CASES[0], "stream": stream}, expect=529)
        check("anthropic", "ErrorResponse", error)


async def test_request_too_large(make_stack: Any) -> None:
    stack = await make_stack({"GROK2API_SECURITY_MAX_BODY_SIZE_MB": "1"})
    huge = {**CASES[0], "messages": [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]}
    async with stack.http.post("/v1/messages", data=io.BytesIO(json.dumps(huge).encode()),
                               headers={**HEADERS, "Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        error = await resp.json()
    assert error["error"]["type"] == "request_too_large"  # Anthropic's 413 type (the allow-listed one)
    check("anthropic", "ErrorResponse", error)
