"""What Codex needs from /v1/models and /v1/responses: its catalogue, custom (freeform) tools and
namespace tools, through the openai SDK, the real gateway and fakegrok."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from tests.agents.codex_schema import ModelInfo, ModelsResponse
from tests.agents.conftest import prompts_sent
from tests.gateway.conftest import KEY, MakeStack, Stack

SUPER = "super-codex-acct-" + "c" * 32
# A grammar in the shape Codex declares for apply_patch (Lark), written for this test.
LARK = ('start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?\n'
        'hunk: add_hunk\nadd_hunk: "*** Add File: " filename LF add_line+\nfilename: /(.+)/\n'
        'add_line: "+" /(.*)/ LF -> line\n%import common.LF\n')
APPLY_PATCH: Any = {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch.\n\nFreeform.",
                    "format": {"type": "grammar", "syntax": "lark", "definition": LARK}}
SHELL: Any = {"type": "function", "name": "shell_command", "description": "Runs a shell command.",
              "parameters": {"type": "object", "properties": {"command": {"type": "string"},
                                                             "login": {"type": "boolean"}},
                             "required": ["command"]}}
AGENTS: Any = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
    {"type": "function", "name": "spawn_agent", "description": "Start a sub-agent.",
     "parameters": {"type": "object", "properties": {"message": {"type": "string"},
                                                     "reasoning_effort": {"type": "string",
                                                                          "enum": ["low", "medium", "high"]}},
                    "required": ["message", "reasoning_effort"]}},
    {"type": "function", "name": "wait_agent", "description": "Wait for sub-agents.",
     "parameters": {"type": "object", "properties": {"targets": {"type": "array", "items": {"type": "string"}}},
                    "required": ["targets"]}}]}
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+Hello from grok2api\n*** End Patch"
ASK_PATCH = f"Use apply_patch to add the file:\n```\n{PATCH}\n```"


@pytest.fixture
async def cstack(make_stack: MakeStack) -> Stack:
    stack = await make_stack()
    await stack.add_tokens([SUPER], pool="super")
    return stack


async def _catalogue(stack: Stack) -> dict[str, Any]:
    async with stack.http.get("/v1/models", params={"client_version": "0.171.0"},
                              headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 200
        return await resp.json()


# -- the catalogue ----------------------------------------------------------------------------
async def test_catalogue_decodes_under_codex_schema(cstack: Stack) -> None:
    raw = await _catalogue(cstack)
    catalogue = ModelsResponse.model_validate(raw)
    by_slug = {m.slug: m for m in catalogue.models}
    plain, thinking = by_slug["grok-4"], by_slug["grok-4-thinking"]
    for model in (plain, thinking):
        assert model.apply_patch_tool_type == "freeform" and model.shell_type == "shell_command"
        assert model.visibility == "list" and model.supported_in_api and model.base_instructions
        assert model.context_window and model.context_window > 0
    assert plain.supported_reasoning_levels == [] and plain.default_reasoning_level is None
    assert [p.effort for p in thinking.supported_reasoning_levels] == ["low", "medium", "high"]
    assert thinking.default_reasoning_level == "medium"
    assert "grok-imagine-1.0" not in by_slug  # chat models only
    assert len({m.priority for m in catalogue.models}) == len(catalogue.models)
    # The strict model is not a rubber stamp: what the gateway sent before Codex 0.171 fails it.
    entry = raw["models"][0]
    for bad in ({"apply_patch_tool_type": "function"}, {"shell_type": "bash"}, {"priority": "1"}):
        with pytest.raises(ValidationError):
            ModelInfo.model_validate({**entry, **bad})
    with pytest.raises(ValidationError):
        ModelInfo.model_validate({k: v for k, v in entry.items() if k != "truncation_policy"})


# -- custom (freeform) tools --------------------------------------------------------------------
async def test_custom_tool_call_and_replay(cstack: Stack) -> None:
    sdk = cstack.sdk
    first = await sdk.responses.create(model="grok-4", input=ASK_PATCH, tools=[SHELL, APPLY_PATCH])
    [call] = first.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input == PATCH
    assert call.call_id.startswith("call_") and call.id and call.id.startswith("ctc_")
    assert first.status == "completed" and first.output_text == ""
    prompt = (await prompts_sent(cstack))[-1]
    assert '"type":"custom"' in prompt and "*** Begin Patch" in prompt  # the grammar, one line
    assert '<custom_tool_call name="TOOL_NAME">' in prompt
    # Codex replays the call and its output in the next request's input (store: false).
    second = await sdk.responses.create(model="grok-4", store=False, tools=[SHELL, APPLY_PATCH], input=[
        {"type": "message", "role": "user", "content": ASK_PATCH},
        {"type": "custom_tool_call", "call_id": call.call_id, "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Success. Updated hello.txt"}])
    assert second.output_text == "Tool result: Success. Updated hello.txt"
    replayed = (await prompts_sent(cstack))[-1]
    assert f'<custom_tool_call name="apply_patch">\n{PATCH}\n</custom_tool_call>' in replayed
    assert "tool (apply_patch): Success. Updated hello.txt" in replayed
    # The stored chain replays it the same way.
    third = await sdk.responses.create(model="grok-4", previous_response_id=first.id, tools=[APPLY_PATCH], input=[
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": [{"type": "input_text", "text": "ok"}]}])
    assert third.output_text == "Tool result: ok"


async def test_custom_tool_call_streamed(cstack: Stack) -> None:
    stream = await cstack.sdk.responses.create(model="grok-4", input=ASK_PATCH, tools=[APPLY_PATCH], stream=True)
    events = [e async for e in stream]
    types = [e.type for e in events]
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
                     "response.output_item.done", "response.completed"]
    added, delta, done, item_done = events[2:6]
    assert added.item.type == "custom_tool_call" and added.item.input == ""  # type: ignore[union-attr]
    item_id = added.item.id  # type: ignore[union-attr]
    assert delta.item_id == item_id and done.item_id == item_id  # type: ignore[union-attr]
    assert delta.delta == PATCH and done.input == PATCH  # type: ignore[union-attr]
    assert item_done.item.input == PATCH and item_done.output_index == 0  # type: ignore[union-attr]
    final = events[-1].response  # type: ignore[union-attr]
    assert [(o.type, o.input) for o in final.output] == [("custom_tool_call", PATCH)]  # type: ignore[union-attr]


async def test_custom_tools_only_on_responses(cstack: Stack) -> None:
    body = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "custom", "custom": {"name": "apply_patch"}}]}
    async with cstack.http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == "tools[0].type" and "/v1/responses" in error["message"]
    bad = {"model": "grok-4", "input": "x", "tools": [{**APPLY_PATCH, "format": {"type": "regex"}}]}
    async with cstack.http.post("/v1/responses", json=bad, headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "tools[0].format"


# -- namespace tools ------------------------------------------------------------------------------
async def test_namespace_tool_round_trip(cstack: Stack) -> None:
    sdk = cstack.sdk
    ask = 'Use multi_agent_v1.spawn_agent with "review the diff" at high effort'
    first = await sdk.responses.create(model="grok-4", input=ask, tools=[SHELL, AGENTS])
    [call] = first.output
    assert call.type == "function_call" and call.name == "spawn_agent"
    assert call.namespace == "multi_agent_v1"
    assert json.loads(call.arguments) == {"message": "review the diff", "reasoning_effort": "high"}
    prompt = (await prompts_sent(cstack))[-1]
    assert '"name":"multi_agent_v1.spawn_agent"' in prompt and '"name":"multi_agent_v1.wait_agent"' in prompt
    second = await sdk.responses.create(model="grok-4", previous_response_id=first.id, tools=[SHELL, AGENTS], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "agent a1 started"}])
    assert second.output_text == "Tool result: agent a1 started"
    replayed = (await prompts_sent(cstack))[-1]
    assert '"name": "multi_agent_v1.spawn_agent"' in replayed and "tool (multi_agent_v1.spawn_agent)" in replayed
    # tool_choice names a member with its namespace.
    choice: Any = {"type": "function", "name": "wait_agent", "namespace": "multi_agent_v1"}
    forced = await sdk.responses.create(model="grok-4", input="wait for them", tools=[AGENTS], tool_choice=choice)
    [wait] = forced.output
    assert wait.type == "function_call"
    assert (wait.name, wait.namespace, json.loads(wait.arguments)) == ("wait_agent", "multi_agent_v1", {"targets": []})
    assert "MUST call the tool `multi_agent_v1.wait_agent`" in (await prompts_sent(cstack))[-1]
