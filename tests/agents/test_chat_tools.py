"""Tool calling on /v1/chat/completions through the openai SDK, the real gateway and fakegrok."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.agents.conftest import prompts_sent
from tests.gateway.conftest import MakeStack, Stack

SUPER = "super-agents-acct-" + "t" * 32
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.\n\nUse it for weather questions.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
MULTIPLY = {"type": "function", "function": {
    "name": "multiply", "description": "Multiply two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}
TOOLS: Any = [WEATHER, MULTIPLY]


@pytest.fixture(params=["ws", "rest"])
async def tool_stack(request: pytest.FixtureRequest, make_stack: MakeStack) -> Stack:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": request.param})
    await stack.add_tokens([SUPER], pool="super")
    return stack






async def test_non_stream_round_trip(tool_stack: Stack) -> None:
    sdk = tool_stack.sdk
    ask = [{"role": "user", "content": "Use get_weather: what's the weather in Paris?"}]
    first = await sdk.chat.completions.create(model="grok-4", messages=ask, tools=TOOLS, stream=False)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert first.usage is not None and first.usage.completion_tokens > 0

    follow = [*ask, choice.message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}]
    second = await sdk.chat.completions.create(model="grok-4", messages=follow, tools=TOOLS, stream=False)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Tool result: 18 C and sunny"
    assert not second.choices[0].message.tool_calls
    # The earlier call and its result went upstream as text the model can read.
    last_prompt = (await prompts_sent(tool_stack))[-1]
    assert "<tools>" in last_prompt and '"name": "get_weather"' in last_prompt
    assert "18 C and sunny" in last_prompt and "get_weather" in last_prompt


async def test_streamed_parallel_calls(tool_stack: Stack) -> None:
    stream = await tool_stack.sdk.chat.completions.create(
        model="grok-4", stream=True, tools=TOOLS, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Use get_weather for Rome, then multiply 6 by 7."}])
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert [tc.index for tc in calls] == [0, 1]
    assert [tc.function.name for tc in calls] == ["get_weather", "multiply"]
    assert [json.loads(tc.function.arguments) for tc in calls] == [{"city": "Rome"}, {"a": 6, "b": 7}]
    assert len({tc.id for tc in calls}) == 2
    assert "".join(d.content or "" for d in deltas) == ""  # the call blocks never leak as text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None


@pytest.mark.parametrize("form", ["tool_calls", "function_call", "invoke", "json"])
async def test_every_drifted_form_becomes_calls(stack: Stack, form: str) -> None:
    await stack.add_tokens([SUPER], pool="super")
    result = await stack.sdk.chat.completions.create(
        model="grok-4", stream=False, tools=TOOLS,
        messages=[{"role": "user", "content": f"multiply 3 and 4 [[toolform:{form}]]"}])
    [call] = result.choices[0].message.tool_calls or []
    assert call.function.name == "multiply" and json.loads(call.function.arguments) == {"a": 3, "b": 4}
    assert result.choices[0].finish_reason == "tool_calls"


async def test_text_passes_through_when_no_call(stack: Stack) -> None:
    await stack.add_tokens([SUPER], pool="super")
    text = "Tell me <b>about</b> a < b [[notool]]"
    result = await stack.sdk.chat.completions.create(
        model="grok-4", stream=False, tools=TOOLS, messages=[{"role": "user", "content": text}])
    assert result.choices[0].message.content == "Echo: Tell me <b>about</b> a < b"
    assert result.choices[0].finish_reason == "stop" and not result.choices[0].message.tool_calls


async def test_tool_choice(stack: Stack) -> None:
    await stack.add_tokens([SUPER], pool="super")
    forced = await stack.sdk.chat.completions.create(
        model="grok-4", stream=False, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "multiply"}},
        messages=[{"role": "user", "content": "numbers 2 and 5"}])
    [call] = forced.choices[0].message.tool_calls or []
    assert call.function.name == "multiply"
    prompt = (await prompts_sent(stack))[-1]
    assert "MUST call the tool `multiply`" in prompt and "get_weather" not in prompt
    # tool_choice "none": the tools are not described at all, so the model answers in text.
    plain = await stack.sdk.chat.completions.create(
        model="grok-4", stream=False, tools=TOOLS, tool_choice="none",
        messages=[{"role": "user", "content": "weather in Oslo"}])
    assert plain.choices[0].message.content == "Echo: weather in Oslo"
    assert "<tools>" not in (await prompts_sent(stack))[-1]


async def test_bad_tools_are_400_naming_the_param(stack: Stack) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tools": {"x": 1}}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].name"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
         "messages[0].tool_calls[0].function.name"),
    ]
    for extra, param in cases:
        body = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], **extra}
        with pytest.raises(openai.BadRequestError) as info:
            await stack.sdk.chat.completions.create(**body)
        assert info.value.status_code == 400
        assert info.value.body["param"] == param, (extra, info.value.body)  # type: ignore[index]
