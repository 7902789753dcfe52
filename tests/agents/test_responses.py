"""The Responses API (/v1/responses, Codex's wire) through the openai SDK, the real gateway and fakegrok."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import openai
import pytest

from grok2api.access.api_keys import create_key
from grok2api.api.chat_render import CONTENT, TOOL
from grok2api.api.responses_output import OutputBuilder
from grok2api.api.tools import ToolCall
from tests.agents.conftest import prompts_sent
from tests.gateway.conftest import KEY, REDIS_URL, MakeStack, Stack
from tests.pngs import png as make_png

SUPER = "super-responses-acct-" + "r" * 32
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
MULTIPLY = {"type": "function", "name": "multiply", "description": "Multiply two integers.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                           "required": ["a", "b"]}}
TOOLS: Any = [WEATHER, MULTIPLY, {"type": "web_search"}]  # hosted tools are ignored


@pytest.fixture
async def rstack(make_stack: MakeStack) -> Stack:
    stack = await make_stack()
    await stack.add_tokens([SUPER], pool="super")
    return stack






async def _post(stack: Stack, body: dict[str, Any], key: str = KEY) -> tuple[int, Any]:
    async with stack.http.post("/v1/responses", json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status, await resp.json()


# -- plain and streamed --------------------------------------------------------------------
async def test_create_plain(rstack: Stack) -> None:
    result = await rstack.sdk.responses.create(model="grok-4", input="Hello there",
                                               instructions="Answer kindly", metadata={"run": "1"})
    assert result.id.startswith("resp_") and result.object == "response"
    assert result.status == "completed" and result.error is None and result.incomplete_details is None
    assert result.output_text == "Echo: Hello there"
    [message] = result.output
    assert message.type == "message" and message.id.startswith("msg_") and message.role == "assistant"
    assert message.status == "completed"
    assert [(p.type, p.text, p.annotations) for p in message.content] == [("output_text", "Echo: Hello there", [])]
    usage = result.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0
    assert result.instructions == "Answer kindly" and result.metadata == {"run": "1"}
    assert result.model == "grok-4" and result.store is True and result.parallel_tool_calls is True
    assert result.tool_choice == "auto" and result.tools == []
    # Instructions go upstream as a system turn before the input.
    prompt = (await prompts_sent(rstack))[-1]
    assert prompt.index("Answer kindly") < prompt.index("Hello there")


async def test_stream_events(rstack: Stack) -> None:
    stream = await rstack.sdk.responses.create(model="grok-4", input="stream [[tokens:8]] me", stream=True)
    events = [e async for e in stream]
    types = [e.type for e in events]
    assert types[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert set(types[4:-4]) == {"response.output_text.delta"} and types.count("response.output_text.delta") > 1
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert deltas == final.output_text == "Echo: w1 w2 w3 w4 w5 w6 w7"
    item_id = final.output[0].id
    assert all(e.item_id == item_id for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert events[0].response.id == final.id and events[0].response.status == "in_progress"  # type: ignore[union-attr]
    assert final.usage is not None and final.usage.output_tokens > 0


async def test_stream_helper_final_response(rstack: Stack) -> None:
    async with rstack.sdk.responses.stream(model="grok-4", input="helper please") as stream:
        texts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(texts) == final.output_text == "Echo: helper please"
    # Stored: the same object comes back from GET.
    again = await rstack.sdk.responses.retrieve(final.id)
    assert again.output_text == final.output_text and again.status == "completed"


async def test_stream_keeps_raw_sse_framing(rstack: Stack) -> None:
    async with rstack.http.post("/v1/responses", json={"model": "grok-4", "input": "raw", "stream": True},
                                headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        body = (await resp.read()).decode()
    frames = [f for f in body.split("\n\n") if f.strip()]
    for frame in frames:
        event_line, data_line = frame.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}"
    assert "[DONE]" not in body


async def test_keepalive_during_silence(make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_PERFORMANCE_SSE_KEEPALIVE_SEC": "1"})
    await stack.add_tokens([SUPER], pool="super")
    stack.state.config.first_frame_delay = 1.3
    async with stack.http.post("/v1/responses", json={"model": "grok-4", "input": "slow", "stream": True},
                               headers={"Authorization": f"Bearer {KEY}"}) as resp:
        body = (await resp.read()).decode()
    frames = [f for f in body.split("\n\n") if f.strip()]
    assert ": keepalive" in frames
    keepalive = frames.index(": keepalive")
    assert frames[keepalive - 1].startswith("event: response.in_progress")
    assert frames[-1].startswith("event: response.completed") and "Echo: slow" in frames[-1]


# -- tools ---------------------------------------------------------------------------------
async def test_function_tool_round_trip_with_previous_response_id(rstack: Stack) -> None:
    sdk = rstack.sdk
    first = await sdk.responses.create(model="grok-4", tools=TOOLS,
                                       input="Use get_weather: what's the weather in Paris?")
    [call] = first.output
    assert call.type == "function_call" and call.id and call.id.startswith("fc_")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.status == "completed" and call.call_id
    assert first.output_text == "" and first.status == "completed"
    second = await sdk.responses.create(
        model="grok-4", previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18 C and sunny"}])
    assert second.output_text == "Tool result: 18 C and sunny"
    assert second.previous_response_id == first.id
    prompt = (await prompts_sent(rstack))[-1]
    assert "Use get_weather: what's the weather in Paris?" in prompt and '"name": "get_weather"' in prompt
    assert "18 C and sunny" in prompt and "tool (get_weather)" in prompt


async def test_function_tool_round_trip_stateless_full_input(rstack: Stack) -> None:
    """Codex's way: store false and the whole conversation sent back every turn."""
    sdk = rstack.sdk
    ask = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "multiply 6 by 7"}]}]
    async with sdk.responses.stream(model="grok-4", input=ask, tools=TOOLS, store=False) as stream:
        events = [e async for e in stream]
        first = await stream.get_final_response()
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types and "response.function_call_arguments.done" in types
    [call] = first.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"a": 6, "b": 7}
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(first.id)  # store: false
    follow = [*ask, *(item.model_dump(exclude_none=True) for item in first.output),
              {"type": "reasoning", "id": "rs_x", "summary": []},  # ignored on input
              {"type": "function_call_output", "call_id": call.call_id, "output": "42"}]
    second = await sdk.responses.create(model="grok-4", input=follow, tools=TOOLS, store=False)
    assert second.output_text == "Tool result: 42"


async def test_tool_choice_forced_and_none(rstack: Stack) -> None:
    forced = await rstack.sdk.responses.create(model="grok-4", input="numbers 2 and 5", tools=TOOLS,
                                               tool_choice={"type": "function", "name": "multiply"})
    assert [item.type for item in forced.output] == ["function_call"]
    assert forced.output[0].name == "multiply"  # type: ignore[union-attr]
    assert "MUST call the tool `multiply`" in (await prompts_sent(rstack))[-1]
    plain = await rstack.sdk.responses.create(model="grok-4", input="weather in Oslo", tools=TOOLS,
                                              tool_choice="none")
    assert plain.output_text == "Echo: weather in Oslo"


# -- conversation state ---------------------------------------------------------------------
async def test_previous_response_id_replays_the_earlier_turns(rstack: Stack) -> None:
    sdk = rstack.sdk
    first = await sdk.responses.create(model="grok-4", input="Remember pineapple", instructions="SECRET-RULE")
    second = await sdk.responses.create(model="grok-4", input="Which fruit?", previous_response_id=first.id)
    assert second.output_text == "Echo: Which fruit?"
    third = await sdk.responses.create(model="grok-4", input="And now?", previous_response_id=second.id)
    prompt = (await prompts_sent(rstack))[-1]
    # The whole chain, in order; instructions do not carry over (as in OpenAI's API).
    order = ["Remember pineapple", "Echo: Remember pineapple", "Which fruit?", "Echo: Which fruit?", "And now?"]
    positions = [prompt.index(text) for text in order]
    assert positions == sorted(positions)
    assert "SECRET-RULE" not in prompt
    # The chain survives the deletion of an earlier response: each one keeps the conversation.
    await sdk.responses.delete(first.id)
    fourth = await sdk.responses.create(model="grok-4", input="Still there?", previous_response_id=third.id)
    assert fourth.status == "completed"
    assert "Remember pineapple" in (await prompts_sent(rstack))[-1]


async def test_get_delete_and_input_items(rstack: Stack) -> None:
    sdk = rstack.sdk
    created = await sdk.responses.create(model="grok-4", input=[
        {"role": "developer", "content": "be brief"}, {"role": "user", "content": "list me"}])
    got = await sdk.responses.retrieve(created.id)
    assert got.model_dump() == created.model_dump()
    items = await sdk.responses.input_items.list(created.id, order="asc")
    assert [(i.type, i.role) for i in items.data] == [("message", "developer"), ("message", "user")]  # type: ignore[union-attr]
    assert items.data[1].content[0].text == "list me"  # type: ignore[union-attr]
    deleted = await sdk.responses.delete(created.id)
    assert deleted is None  # the SDK returns nothing; check the wire shape below
    with pytest.raises(openai.NotFoundError) as info:
        await sdk.responses.retrieve(created.id)
    assert info.value.body["code"] == "not_found"  # type: ignore[index]
    again = await sdk.responses.create(model="grok-4", input="x")
    async with rstack.http.delete(f"/v1/responses/{again.id}", headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"id": again.id, "object": "response.deleted", "deleted": True}
    async with rstack.http.delete(f"/v1/responses/{again.id}", headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 404
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve("resp_unknown")


async def test_stored_responses_belong_to_their_key(rstack: Stack) -> None:
    created = await rstack.sdk.responses.create(model="grok-4", input="mine")
    other = await create_key(rstack.storage, "other")
    async with openai.AsyncOpenAI(base_url=str(rstack.http.make_url("/v1")), api_key=other.key,
                                  max_retries=0) as sdk2:
        with pytest.raises(openai.NotFoundError):
            await sdk2.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            await sdk2.responses.delete(created.id)
        with pytest.raises(openai.BadRequestError) as info:
            await sdk2.responses.create(model="grok-4", input="x", previous_response_id=created.id)
        assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
        own = await sdk2.responses.create(model="grok-4", input="theirs")
        assert (await sdk2.responses.retrieve(own.id)).output_text == "Echo: theirs"
    assert (await rstack.sdk.responses.retrieve(created.id)).output_text == "Echo: mine"


async def test_stored_response_expires(make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_CHAT_RESPONSES_RETENTION_HOURS": "0.0002"})  # 0.72 s
    await stack.add_tokens([SUPER], pool="super")
    created = await stack.sdk.responses.create(model="grok-4", input="short lived")
    assert (await stack.sdk.responses.retrieve(created.id)).id == created.id
    await asyncio.sleep(0.9)
    with pytest.raises(openai.NotFoundError):
        await stack.sdk.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError):
        await stack.sdk.responses.create(model="grok-4", input="x", previous_response_id=created.id)


# -- reasoning, truncation, failures ---------------------------------------------------------
async def test_reasoning_items_with_a_thinking_model(rstack: Stack) -> None:
    result = await rstack.sdk.responses.create(model="grok-4-thinking", input="think about it",
                                               reasoning={"effort": "high", "summary": "auto"})
    assert [item.type for item in result.output] == ["reasoning", "message"]
    reasoning = result.output[0]
    assert reasoning.id.startswith("rs_") and reasoning.summary[0].type == "summary_text"  # type: ignore[union-attr]
    assert reasoning.summary[0].text  # type: ignore[union-attr]
    assert result.output_text == "Echo: think about it"
    assert result.usage is not None and result.usage.output_tokens_details.reasoning_tokens > 0
    assert result.reasoning is not None and result.reasoning.effort == "high"

    stream = await rstack.sdk.responses.create(model="grok-4-thinking", input="think again", stream=True)
    events = [e async for e in stream]
    types = [e.type for e in events]
    first_text = types.index("response.content_part.added")
    assert types[2:4] == ["response.output_item.added", "response.reasoning_summary_part.added"]
    summary_deltas = [i for i, t in enumerate(types) if t == "response.reasoning_summary_text.delta"]
    assert summary_deltas and max(summary_deltas) < first_text
    assert types.index("response.reasoning_summary_text.done") < types.index("response.reasoning_summary_part.done")
    final = events[-1].response  # type: ignore[union-attr]
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")  # type: ignore[union-attr]
    assert final.output[0].summary[0].text == summary
    assert {e.output_index for e in events if e.type == "response.output_text.delta"} == {1}  # type: ignore[union-attr]

    hidden = await rstack.sdk.responses.create(model="grok-4-thinking", input="quick", reasoning={"effort": "none"})
    assert [item.type for item in hidden.output] == ["message"]


async def test_max_output_tokens_makes_it_incomplete(rstack: Stack) -> None:
    result = await rstack.sdk.responses.create(model="grok-4", input="long [[tokens:60]] one", max_output_tokens=5)
    assert result.status == "incomplete" and result.incomplete_details is not None
    assert result.incomplete_details.reason == "max_output_tokens"
    assert result.output[0].status == "incomplete"  # type: ignore[union-attr]
    assert result.max_output_tokens == 5 and result.output_text.startswith("Echo:")
    stream = await rstack.sdk.responses.create(model="grok-4", input="long [[tokens:60]] two",
                                               max_output_tokens=5, stream=True)
    events = [e async for e in stream]
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]


async def test_failure_after_headers_ends_with_response_failed(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([SUPER], pool="super")
    stack.state.config.token_interval = 0.01
    stack.switches(SUPER, stream_error=True)
    stream = await stack.sdk.responses.create(model="grok-4", input="break [[tokens:6]] late", stream=True)
    events = [e async for e in stream]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.failed"
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed" and failed.error is not None and failed.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_early_failure_keeps_its_http_status(make_stack: MakeStack) -> None:
    stack = await make_stack()  # no account at all
    with pytest.raises(openai.APIStatusError) as info:
        await stack.sdk.responses.create(model="grok-4", input="nobody home", stream=True)
    assert info.value.status_code == 503


async def test_image_input_is_uploaded(rstack: Stack) -> None:
    url = "data:image/png;base64," + base64.b64encode(make_png()).decode()
    result = await rstack.sdk.responses.create(model="grok-4", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this"}, {"type": "input_image", "image_url": url, "detail": "auto"}]}])
    assert result.output_text == "Echo: what is this"
    assert [r for r in await rstack.fake_requests() if "upload-file" in r["path"]]


async def test_json_schema_format_is_asked_in_the_prompt(rstack: Stack) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    result = await rstack.sdk.responses.create(
        model="grok-4", input="structured please",
        text={"format": {"type": "json_schema", "name": "reply", "schema": schema}})
    assert result.status == "completed" and result.text is not None
    assert result.text.format.type == "json_schema"  # type: ignore[union-attr]
    prompt = (await prompts_sent(rstack))[-1]
    assert "Answer with only a JSON value that matches this JSON schema" in prompt and '"answer"' in prompt


async def test_bad_input_is_400_naming_the_param(rstack: Stack) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input": None}, "input"),
        ({"input": []}, "input"),
        ({"model": ""}, "model"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "x"},
                                                 {"type": "input_image", "file_id": "file-1"}]}]},
         "input[0].content[1].file_id"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x"}]}]},
         "input[0].content[0].image_url"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
         "input[0].content[0].file_id"),
        ({"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
         "input[0].content[0]"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call_output", "call_id": "c", "output": 5}]}, "input[0].output"),
        ({"temperature": 5}, "temperature"),
        ({"top_p": "high"}, "top_p"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"previous_response_id": "resp_missing"}, "previous_response_id"),
        ({"background": True}, "background"),
        ({"metadata": {"a": 1}}, "metadata"),
    ]
    for extra, param in cases:
        status, body = await _post(rstack, {"model": "grok-4", "input": "hi", **extra})
        assert status == 400, (extra, body)
        assert body["error"]["param"] == param, (extra, body)
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    status, body = await _post(rstack, {"model": "no-such-model", "input": "hi"})
    assert status == 404 and body["error"]["code"] == "model_not_found"


# -- the Codex model catalogue ----------------------------------------------------------------
# -- another storage engine ---------------------------------------------------------------------
async def test_stored_responses_on_redis(make_stack: MakeStack) -> None:
    stack = await make_stack(storage_type="redis", storage_url=REDIS_URL)
    await stack.add_tokens([SUPER], pool="super")
    first = await stack.sdk.responses.create(model="grok-4", input="kept in redis")
    second = await stack.sdk.responses.create(model="grok-4", input="next", previous_response_id=first.id)
    assert "kept in redis" in (await prompts_sent(stack))[-1]
    assert (await stack.sdk.responses.retrieve(second.id)).output_text == "Echo: next"
    await stack.sdk.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        await stack.sdk.responses.retrieve(second.id)


async def test_a_codex_shaped_turn(rstack: Stack) -> None:
    """The fields Codex sends every turn are accepted (stateless, streamed, with its function tools)."""
    shell = {"type": "function", "name": "shell_command", "description": "Runs a shell command.", "strict": False,
             "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                            "required": ["command"], "additionalProperties": False}}
    body = {
        "model": "grok-4", "instructions": "You are Codex.", "store": False, "stream": True,
        "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox"}]},
                  {"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": 'run shell_command with "ls -la"'}]}],
        "tools": [shell, {"type": "web_search"}], "tool_choice": "auto", "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "3f2a-session", "text": {"verbosity": "low"},
    }
    async with rstack.http.post("/v1/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 200
        frames = [f for f in (await resp.read()).decode().split("\n\n") if f.strip()]
    events = [json.loads(f.split("\n", 1)[1].removeprefix("data: ")) for f in frames]
    final = events[-1]
    assert final["type"] == "response.completed"
    [call] = final["response"]["output"]
    assert call["type"] == "function_call" and call["name"] == "shell_command"
    assert json.loads(call["arguments"]) == {"command": "ls -la"}
    assert final["response"]["parallel_tool_calls"] is False and final["response"]["store"] is False


def test_whitespace_before_a_call_makes_no_message() -> None:
    builder = OutputBuilder("grok-4", {})
    builder.feed([(CONTENT, "\n"), (TOOL, ToolCall(name="f", arguments="{}")), (CONTENT, "")])
    builder.finish()
    assert [item["type"] for item in builder.output] == ["function_call"]
    builder = OutputBuilder("grok-4", {})
    builder.feed([(CONTENT, "\n"), (CONTENT, "text")])
    builder.finish()
    assert builder.output[0]["content"][0]["text"] == "\ntext"
