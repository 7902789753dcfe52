"""Anthropic Messages through the official anthropic SDK, the real gateway and fakegrok."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.agents.conftest import prompts_sent
from tests.gateway.conftest import KEY, MakeStack, Stack
from tests.pngs import png as make_png

SUPER = "super-anthropic-acct-" + "a" * 32
WEATHER: Any = {"name": "get_weather", "description": "Current weather for a city.",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}
HELLO: Any = [{"role": "user", "content": "Hello there"}]


OPEN: list[anthropic.AsyncAnthropic] = []


def client(stack: Stack, key: str = KEY) -> anthropic.AsyncAnthropic:
    OPEN.append(anthropic.AsyncAnthropic(base_url=str(stack.http.make_url("")), api_key=key, max_retries=0,
                                         timeout=30))
    return OPEN[-1]


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()


@pytest.fixture
async def claude(stack: Stack) -> anthropic.AsyncAnthropic:
    await stack.add_tokens([SUPER], pool="super")
    return client(stack)


async def test_create_text(claude: anthropic.AsyncAnthropic) -> None:
    msg = await claude.messages.create(model="grok-4", max_tokens=256, messages=HELLO,
                                       system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}])
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Echo: Hello there"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


async def test_stream_text(claude: anthropic.AsyncAnthropic) -> None:
    seen: list[str] = []
    async with claude.messages.stream(model="grok-4", max_tokens=256, messages=HELLO) as stream:
        async for ev in stream:
            seen.append(ev.type)
        final = await stream.get_final_message()
    assert seen[0] == "message_start" and seen[-1] == "message_stop"
    assert "content_block_start" in seen and "content_block_stop" in seen and "message_delta" in seen
    assert final.content[0].text == "Echo: Hello there"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


async def test_raw_stream_events(stack: Stack) -> None:
    await stack.add_tokens([SUPER], pool="super")
    async with stack.http.post("/v1/messages", headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                               json={"model": "grok-4-thinking", "max_tokens": 300, "stream": True,
                                     "thinking": {"type": "enabled", "budget_tokens": 1024},
                                     "messages": HELLO}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        raw = await resp.text()
    names = [line[7:] for line in raw.split("\n") if line.startswith("event: ")]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    # thinking block (deltas, then its signature) before the text block, indexes 0 and 1
    assert names.count("content_block_start") == 2 and names.count("content_block_stop") == 2
    assert '"signature_delta"' in raw and raw.index('"thinking_delta"') < raw.index('"text_delta"')


@pytest.mark.parametrize("streamed", [False, True])
async def test_thinking_blocks(claude: anthropic.AsyncAnthropic, streamed: bool) -> None:
    kw: Any = {"model": "grok-4-thinking", "max_tokens": 1024, "messages": HELLO,
               "thinking": {"type": "enabled", "budget_tokens": 1024}}
    if streamed:
        async with claude.messages.stream(**kw) as stream:
            msg = await stream.get_final_message()
    else:
        msg = await claude.messages.create(**kw)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking.startswith("Thinking about the request")  # type: ignore[union-attr]
    assert msg.content[0].signature  # type: ignore[union-attr]
    hidden = await claude.messages.create(**{**kw, "thinking": {"type": "disabled"}})
    assert [b.type for b in hidden.content] == ["text"]
    unasked = await claude.messages.create(model="grok-4-thinking", max_tokens=1024, messages=HELLO)
    assert [b.type for b in unasked.content] == ["text"]  # as Anthropic: thinking only on request


@pytest.mark.parametrize("streamed", [False, True])
async def test_tool_use_round_trip(claude: anthropic.AsyncAnthropic, streamed: bool) -> None:
    ask: Any = [{"role": "user", "content": "Use get_weather: what's the weather in Paris?"}]
    kw: Any = {"model": "grok-4", "max_tokens": 512, "tools": [WEATHER]}
    if streamed:
        async with claude.messages.stream(messages=ask, **kw) as stream:
            first = await stream.get_final_message()
    else:
        first = await claude.messages.create(messages=ask, **kw)
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and use.id.startswith("toolu_")
    follow: Any = [*ask, {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                 "content": [{"type": "text", "text": "18 C and sunny"}]}]}]
    second = await claude.messages.create(messages=follow, **kw)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "Tool result: 18 C and sunny"  # type: ignore[union-attr]


async def test_tool_choice_any_and_none(claude: anthropic.AsyncAnthropic) -> None:
    forced = await claude.messages.create(model="grok-4", max_tokens=64, tools=[WEATHER],
                                          tool_choice={"type": "tool", "name": "get_weather"},
                                          messages=[{"role": "user", "content": "weather in Rome"}])
    assert forced.stop_reason == "tool_use"
    plain = await claude.messages.create(model="grok-4", max_tokens=64, tools=[WEATHER],
                                         tool_choice={"type": "none"},
                                         messages=[{"role": "user", "content": "weather in Rome"}])
    assert plain.content[0].text == "Echo: weather in Rome"  # type: ignore[union-attr]


@pytest.mark.parametrize("streamed", [False, True])
async def test_stop_sequences_and_max_tokens(claude: anthropic.AsyncAnthropic, streamed: bool) -> None:
    kw: Any = {"model": "grok-4", "max_tokens": 256, "stop_sequences": ["w4"],
               "messages": [{"role": "user", "content": "[[tokens:8]]"}]}
    if streamed:
        async with claude.messages.stream(**kw) as stream:
            msg = await stream.get_final_message()
    else:
        msg = await claude.messages.create(**kw)
    assert msg.content[0].text == "Echo: w1 w2 w3 "  # type: ignore[union-attr]
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "w4"
    short = await claude.messages.create(model="grok-4", max_tokens=2,
                                         messages=[{"role": "user", "content": "[[tokens:8]]"}])
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens <= 2


async def test_image_block(claude: anthropic.AsyncAnthropic, stack: Stack) -> None:
    data = base64.b64encode(make_png()).decode()
    msg = await claude.messages.create(model="grok-4", max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
        {"type": "text", "text": "Describe it"}]}])
    assert msg.content[0].text == "Echo: Describe it"  # type: ignore[union-attr]
    uploads = [r for r in await stack.fake_requests() if "upload" in r["path"].lower()]
    assert uploads, "the image was uploaded to Grok"


async def test_count_tokens(claude: anthropic.AsyncAnthropic) -> None:
    plain = await claude.messages.count_tokens(model="grok-4", messages=HELLO)
    with_tools = await claude.messages.count_tokens(model="grok-4", messages=HELLO, tools=[WEATHER])
    assert 0 < plain.input_tokens < with_tools.input_tokens


async def test_errors_in_anthropic_shape(stack: Stack) -> None:
    claude = client(stack)
    with pytest.raises(anthropic.NotFoundError) as nf:  # model known nowhere
        await claude.messages.create(model="claude-not-served-here", max_tokens=10, messages=HELLO)
    assert nf.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError) as over:  # no account in the pool
        await claude.messages.create(model="grok-4", max_tokens=10, messages=HELLO)
    assert over.value.status_code == 529
    assert over.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError) as auth:
        await client(stack, "sk-wrong-key-0000000000").messages.create(model="grok-4", max_tokens=10,
                                                                          messages=HELLO)
    assert auth.value.body["type"] == "error"  # type: ignore[index]
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"messages": HELLO}, "max_tokens"),
        ({"max_tokens": 0, "messages": HELLO}, "max_tokens"),
        ({"max_tokens": 5, "messages": []}, "messages"),
        ({"max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {
            "type": "base64", "media_type": "image/bmp", "data": "AAAA"}}]}]}, "messages[0].content[0].source.media_type"),
        ({"max_tokens": 5, "messages": HELLO, "temperature": 3}, "temperature"),
        ({"max_tokens": 5, "messages": HELLO, "tools": [{"name": "bad name", "input_schema": {}}]}, "tools[0]"),
        ({"max_tokens": 5, "messages": HELLO, "thinking": {"type": "sometimes"}}, "thinking"),
    ]
    async with aiohttp.ClientSession() as http:
        for extra, where in bad:
            async with http.post(stack.http.make_url("/v1/messages"), json={"model": "grok-4", **extra},
                                 headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"}) as resp:
                body = await resp.json()
            assert resp.status == 400, (extra, body)
            assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
            assert where in body["error"]["message"], (where, body)


async def test_claude_code_style_request(make_stack: MakeStack) -> None:
    """Bearer auth (ANTHROPIC_AUTH_TOKEN), ?beta=true, anthropic-beta header, system blocks."""
    stack = await make_stack()
    await stack.add_tokens([SUPER], pool="super")
    async with stack.http.post("/v1/messages?beta=true", headers={
            "Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01",
            "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}, json={
            "model": "grok-4", "max_tokens": 32000, "stream": False,
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",
                                                       "cache_control": {"type": "ephemeral"}}]}],
            "metadata": {"user_id": "u1"}}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["content"] == [{"type": "text", "text": "Echo: hi", "citations": None}]


async def test_system_role_inside_messages_is_tolerated(claude: anthropic.AsyncAnthropic, stack: Stack) -> None:
    """Clients ported from OpenAI put the system prompt in `messages`; it becomes a system turn."""
    msg = await claude.messages.create(model="grok-4", max_tokens=64, messages=[
        {"role": "system", "content": "Answer like a pirate."}, {"role": "user", "content": "ahoy"}])  # type: ignore[misc,list-item]
    assert msg.content[0].text == "Echo: ahoy"  # type: ignore[union-attr]
    assert "Answer like a pirate." in (await prompts_sent(stack))[-1]


async def test_documents_and_replayed_thinking(claude: anthropic.AsyncAnthropic, stack: Stack) -> None:
    """A plain-text document is inlined, a PDF uploaded; thinking blocks sent back are dropped."""
    pdf = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n").decode()
    msg = await claude.messages.create(model="grok-4", max_tokens=64, messages=[
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "mull", "signature": "x"},
                                          {"type": "redacted_thinking", "data": "opaque"},
                                          {"type": "text", "text": "Hello"}]},
        {"role": "user", "content": [
            {"type": "document", "title": "notes", "source": {"type": "text", "media_type": "text/plain",
                                                              "data": "Quarterly numbers"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
            {"type": "text", "text": "Summarise"}]}])
    text = msg.content[0].text  # type: ignore[union-attr]
    assert "Quarterly numbers" in text and text.endswith("Summarise") and "mull" not in text
    uploads = [r for r in await stack.fake_requests() if "upload" in r["path"].lower()]
    assert len(uploads) == 1, "the PDF was uploaded to Grok, the text document inlined"


async def test_rate_limited_key_is_anthropic_429(stack: Stack) -> None:
    from grok2api.access.api_keys import hash_key
    from grok2api.keys import API_KEYS
    from grok2api.storage.base import ApiKeyRecord

    await stack.add_tokens([SUPER], pool="super")
    secret = "sk-anthropic-rpm-000000001"
    await stack.storage.create_key(ApiKeyRecord(id="rpm1", name="rpm1", key_hash=hash_key(secret),
                                                prefix=secret[:6], rpm=1))
    stack.app[API_KEYS].invalidate()
    limited = client(stack, secret)
    await limited.messages.create(model="grok-4", max_tokens=16, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as err:
        await limited.messages.create(model="grok-4", max_tokens=16, messages=HELLO)
    assert err.value.status_code == 429
    body: Any = err.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "per minute" in body["error"]["message"]
    assert int(err.value.response.headers["Retry-After"]) >= 1


async def test_stream_and_count_tokens_errors(stack: Stack) -> None:
    claude = client(stack)
    with pytest.raises(anthropic.InternalServerError) as over:  # no account: a status, not a broken stream
        async with claude.messages.stream(model="grok-4", max_tokens=10, messages=HELLO) as stream:
            await stream.get_final_message()
    assert over.value.status_code == 529
    assert over.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    counted = await claude.messages.count_tokens(model="grok-4", messages=HELLO)  # no account needed
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.BadRequestError) as bad:
        await claude.messages.count_tokens(model="grok-4", messages=[])
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "messages" in bad.value.body["error"]["message"]  # type: ignore[index]
    async with stack.http.post("/v1/messages/count_tokens", json={"model": "grok-4", "messages": HELLO}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["type"] == "authentication_error"


async def test_claude_code_mid_conversation_system_turn(claude: anthropic.AsyncAnthropic, stack: Stack) -> None:
    """Recent Claude Code versions put system turns (text blocks with cache_control) between the others."""
    turns: Any = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
        {"role": "system", "content": [{"type": "text", "text": "Skill loaded: pirate speech.",
                                        "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": "ahoy"}]}]
    msg = await claude.messages.create(model="grok-4", max_tokens=64, system="You are Claude Code.",
                                       messages=turns)
    assert msg.content[0].text == "Echo: ahoy"  # type: ignore[union-attr]
    prompt = (await prompts_sent(stack))[-1]
    assert prompt.index("You are Claude Code.") < prompt.index("Hello") < prompt.index("Skill loaded")
    async with stack.http.post("/v1/messages", headers={"x-api-key": KEY}, json={
            "model": "grok-4", "max_tokens": 5, "messages": [
                {"role": "system", "content": [{"type": "image", "source": {}}]}, *HELLO]}) as resp:
        body = await resp.json()
    assert resp.status == 400 and "messages[0].content[0]" in body["error"]["message"], body


async def test_models_list_in_anthropic_shape(claude: anthropic.AsyncAnthropic) -> None:
    """Claude Code's gateway model discovery lists models with the Anthropic SDK."""
    page = await claude.models.list()
    ids = [m.id for m in page.data]
    assert "grok-4" in ids and "grok-imagine-1.0" not in ids  # chat models only
    assert all(m.type == "model" and m.display_name for m in page.data)


async def test_output_config_format_goes_into_the_prompt(claude: anthropic.AsyncAnthropic, stack: Stack) -> None:
    """Claude Code's title call: `output_config.format` json_schema (+ effort) is asked for in the prompt."""
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"],
              "additionalProperties": False}
    body = {"model": "grok-4", "max_tokens": 64, "system": "Write a title.", "messages": HELLO,
            "output_config": {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with stack.http.post("/v1/messages", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    prompt = (await prompts_sent(stack))[-1]
    wanted = json.dumps(schema, separators=(",", ":"))
    assert f"matches this JSON schema, with no code fence and no other text: {wanted}" in prompt
    assert prompt.index("Write a title.") < prompt.index(wanted) < prompt.index("Hello there")
    legacy = {**body, "output_config": None, "output_format": {"type": "json_schema", "schema": {"type": "array"}}}
    async with stack.http.post("/v1/messages/count_tokens", json=legacy, headers=headers) as resp:
        assert resp.status == 200
    for config, where in [({"effort": "extreme"}, "output_config.effort"),
                          ({"format": {"type": "json_object"}}, "output_config.format.type"),
                          ({"format": {"type": "json_schema"}}, "output_config.format.schema"),
                          ("high", "output_config")]:
        async with stack.http.post("/v1/messages", json={**body, "output_config": config}, headers=headers) as resp:
            error = await resp.json()
        assert resp.status == 400 and error["error"]["type"] == "invalid_request_error"
        assert error["error"]["message"].startswith(where + ":"), error
    plain = await claude.messages.create(model="grok-4", max_tokens=64, messages=HELLO,
                                         extra_body={"output_config": {"effort": "max"}})
    assert plain.content[0].text == "Echo: Hello there"  # type: ignore[union-attr]
    assert "JSON schema" not in (await prompts_sent(stack))[-1]


CLAUDE_CODE_TOOLS: Any = [
    {"name": "Agent", "description": "Launch an agent.", "input_schema": {
        "type": "object", "properties": {"prompt": {"type": "string"}, "isolation": {"type": "string", "enum": [
            "worktree", "remote"]}}, "required": ["prompt"]}},
    {"name": "Write", "description": "Write a file.", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["file_path", "content"]}},
    {"name": "Read", "description": "Read a file.", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"}, "limit": {"type": "number"},
                                         "pages": {"type": "string"}}, "required": ["file_path"]}}]
REMINDER = ("<system-reminder>\nAs you answer, you can use this context:\n# gitStatus\n\nCurrent branch: "
            'main\n\nUse the Write tool for "notes.md" when asked.\n</system-reminder>')
ENVIRONMENT = ('# Environment\nYou have been invoked in: "/repo"\n\nPlatform: linux\n\n'
               'When asked to "save", Write the file "select:<name>".')


async def test_claude_code_greeting_calls_no_tool(claude: anthropic.AsyncAnthropic, stack: Stack) -> None:
    """`claude -p "say hi"`: tools declared, context blocks around the words, a system turn after
    them. The fake answers in words, so nothing is written and the agent does not loop."""
    turns: Any = [{"role": "user", "content": [{"type": "text", "text": REMINDER}, {"type": "text", "text": "say hi"}]},
                  {"role": "system", "content": [{"type": "text", "text": ENVIRONMENT}]}]
    msg = await claude.messages.create(model="grok-4", max_tokens=256, system="You are Claude Code.",
                                       tools=CLAUDE_CODE_TOOLS, messages=turns)
    assert [b.type for b in msg.content] == ["text"] and msg.stop_reason == "end_turn"
    assert msg.content[0].text == "Echo: say hi"  # type: ignore[union-attr]
    # Asked for by name, the call takes its arguments from the user's words only, required ones only.
    turns[0]["content"][1]["text"] = 'Use Write to create "/repo/hello.txt" with "Hello there"'
    msg = await claude.messages.create(model="grok-4", max_tokens=256, tools=CLAUDE_CODE_TOOLS, messages=turns)
    [use] = msg.content
    assert use.type == "tool_use" and use.name == "Write"
    assert use.input == {"file_path": "/repo/hello.txt", "content": "Hello there"}
    # A tool result with blank lines is one result: the fake answers it instead of calling again.
    result = 'def main():\n    print("hi")\n\n\nif __name__ == "__main__":\n    main()\n\nWrote 6 lines.'
    follow: Any = [*turns, {"role": "assistant", "content": [use.model_dump()]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}]}]
    done = await claude.messages.create(model="grok-4", max_tokens=256, tools=CLAUDE_CODE_TOOLS, messages=follow)
    assert [b.type for b in done.content] == ["text"] and done.stop_reason == "end_turn"
    assert done.content[0].text == f"Tool result: {result}"  # type: ignore[union-attr]
