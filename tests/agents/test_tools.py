"""The tool-call sieve and prompt (grok2api.api.tools), fed split at every position."""

from __future__ import annotations

import json

import pytest

from grok2api.api.tools import (
    ToolCall,
    ToolChoice,
    ToolSpec,
    parse_tool_choice,
    parse_tools,
    tool_prompt,
)
from grok2api.api.toolsieve import ToolSieve
from grok2api.errors import InvalidRequest

TOOLS = [ToolSpec("get_weather", "Weather for a city", {"type": "object"}), ToolSpec("add")]
W = '{"city":"Paris"}'


def run(chunks: list[str]) -> list[str | tuple[str, dict]]:
    sieve = ToolSieve(TOOLS)
    out: list[str | ToolCall] = []
    for chunk in chunks:
        out += sieve.feed(chunk)
    out += sieve.flush()
    merged: list[str | tuple[str, dict]] = []
    for item in out:
        if isinstance(item, ToolCall):
            merged.append((item.name, json.loads(item.arguments)))
        elif merged and isinstance(merged[-1], str):
            merged[-1] += item
        else:
            merged.append(item)
    return merged


def every_split(text: str) -> list[list[str]]:
    splits = [[text], list(text)]
    splits += [[text[:i], text[i:]] for i in range(1, len(text))]
    return splits


CASES = [
    ("plain text, no call", "Hello <b>world</b> a < b and ```py\nx```", ["Hello <b>world</b> a < b and ```py\nx```"]),
    ("one tool_call", f'Sure.<tool_call>{{"name":"get_weather","arguments":{W}}}</tool_call>',
     ["Sure.", ("get_weather", {"city": "Paris"})]),
    ("two tool_calls", ('<tool_call>{"name":"add","arguments":{"a":1}}</tool_call>\n'
     '<tool_call>{"name":"get_weather","arguments":"{\\"city\\":\\"Rome\\"}"}</tool_call>\n'),
     [("add", {"a": 1}), ("get_weather", {"city": "Rome"})]),
    ("tool_calls array", ('<tool_calls>[{"name":"add","arguments":{"a":2}},'
     '{"type":"function","function":{"name":"add","arguments":"{\\"a\\":3}"}}]</tool_calls>'),
     [("add", {"a": 2}), ("add", {"a": 3})]),
    ("function_call", '<function_call>{"name":"add","parameters":{"b":1}}</function_call> done',
     [("add", {"b": 1}), "done"]),
    ("invoke", ('x<function_calls><invoke name="get_weather"><parameter name="city">Paris</parameter>'
     '<parameter name="days">3</parameter></invoke></function_calls>'),
     ["x", ("get_weather", {"city": "Paris", "days": 3})]),
    ("bare invoke", '<invoke name="add"></invoke>', [("add", {})]),
    ("fenced json", 'Calling:\n```json\n{"tool_calls":[{"name":"add","arguments":{"a":1}}]}\n```',
     ["Calling:\n", ("add", {"a": 1})]),
    ("fenced json without tool_calls stays text", '```json\n{"a": 1}\n```', ['```json\n{"a": 1}\n```']),
    ("unknown tool stays text", '<tool_call>{"name":"rm","arguments":{}}</tool_call>',
     ['<tool_call>{"name":"rm","arguments":{}}</tool_call>']),
    ("bad arguments stay text", '<tool_call>{"name":"add","arguments":"not json"}</tool_call>',
     ['<tool_call>{"name":"add","arguments":"not json"}</tool_call>']),
    ("unterminated but valid", '<tool_call>{"name":"add","arguments":{}}', [("add", {})]),
    ("unterminated garbage", "a <tool_call> b", ["a <tool_call> b"]),
    ("invoker is not invoke", "<invoker> <invoke", ["<invoker> <invoke"]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_every_split(text: str, expected: list) -> None:
    for chunks in every_split(text):
        assert run(chunks) == expected, chunks


def test_text_is_streamed_not_held() -> None:
    sieve = ToolSieve(TOOLS)
    assert sieve.feed("Hello wor") == ["Hello wor"]
    assert sieve.feed("ld <tool") == ["ld "]
    assert sieve.feed("bar") == ["<toolbar"]


def test_ids_are_unique() -> None:
    sieve = ToolSieve(TOOLS)
    sieve.feed('<tool_call>{"name":"add","arguments":{}}</tool_call>' * 2)
    assert len({c.id for c in sieve.calls}) == 2 and sieve.calls[0].id.startswith("call_")


PATCH_TOOLS = [ToolSpec("apply_patch", kind="custom"), ToolSpec("add"),
               ToolSpec("crm.lookup", namespace="crm"), ToolSpec("crm.add", namespace="crm")]
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"
CUSTOM_CASES = [
    ("custom block", f'<custom_tool_call name="apply_patch">\n{PATCH}\n</custom_tool_call>',
     [("apply_patch", "custom", PATCH)]),
    ("custom block, text kept around", f'Patching.<custom_tool_call name="apply_patch">{PATCH}</custom_tool_call>',
     ["Patching.", ("apply_patch", "custom", PATCH)]),
    ("custom in tool_call json", '<tool_call>{"name":"apply_patch","input":"x\\ny"}</tool_call>',
     [("apply_patch", "custom", "x\ny")]),
    ("custom in invoke", '<invoke name="apply_patch"><parameter name="patch">\nx y\n</parameter></invoke>',
     [("apply_patch", "custom", "x y")]),
    ("custom block naming a function", '<custom_tool_call name="add">{"a": 1}</custom_tool_call>',
     [("add", "function", {"a": 1})]),
    ("custom block naming nothing declared", '<custom_tool_call name="rm">x</custom_tool_call>',
     ['<custom_tool_call name="rm">x</custom_tool_call>']),
    ("custom json without text stays text", '<tool_call>{"name":"apply_patch","arguments":{"a":1,"b":2}}</tool_call>',
     ['<tool_call>{"name":"apply_patch","arguments":{"a":1,"b":2}}</tool_call>']),
    ("namespace by qualified name", '<tool_call>{"name":"crm.lookup","arguments":{}}</tool_call>',
     [("crm.lookup", "crm", {})]),
    ("namespace by bare name", '<tool_call>{"name":"lookup","arguments":{}}</tool_call>', [("crm.lookup", "crm", {})]),
    ("ambiguous bare name is the top-level tool", '<tool_call>{"name":"add","arguments":{}}</tool_call>',
     [("add", "function", {})]),
    ("not a custom block", "<custom_tool_callx> a", ["<custom_tool_callx> a"]),
    ("unterminated custom block", '<custom_tool_call name="apply_patch">\nx', [("apply_patch", "custom", "x")]),
]


def run_custom(chunks: list[str]) -> list[str | tuple[str, str, object]]:
    sieve = ToolSieve(PATCH_TOOLS)
    out: list[str | ToolCall] = []
    for chunk in chunks:
        out += sieve.feed(chunk)
    out += sieve.flush()
    merged: list[str | tuple[str, str, object]] = []
    for item in out:
        if isinstance(item, ToolCall) and item.custom:
            merged.append((item.name, "custom", item.input))
        elif isinstance(item, ToolCall):
            merged.append((item.name, item.namespace or "function", json.loads(item.arguments)))
        elif merged and isinstance(merged[-1], str):
            merged[-1] += item
        else:
            merged.append(item)
    return merged


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CUSTOM_CASES], ids=[c[0] for c in CUSTOM_CASES])
def test_custom_and_namespace_every_split(text: str, expected: list) -> None:
    for chunks in every_split(text):
        assert run_custom(chunks) == expected, chunks


def test_custom_and_namespace_declarations() -> None:
    specs = parse_tools([
        {"type": "custom", "name": "apply_patch", "description": "Patch\n\nfiles",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: x\n\nx: /a/"}},
        {"type": "namespace", "name": "crm", "description": "CRM", "tools": [
            {"type": "function", "name": "lookup", "parameters": {"type": "object"}},
            {"type": "custom", "name": "note"}]},
        {"type": "web_search"}], responses=True)
    assert [(s.name, s.kind, s.namespace) for s in specs] == [
        ("apply_patch", "custom", ""), ("crm.lookup", "function", "crm"), ("crm.note", "custom", "crm")]
    text = tool_prompt(specs, ToolChoice())
    assert "\n\n" not in text and '"type":"custom"' in text and '"definition":"start: x\\n\\nx: /a/"' in text
    assert '<custom_tool_call name="TOOL_NAME">' in text
    assert "<custom_tool_call" not in tool_prompt([ToolSpec("add")], ToolChoice())
    assert parse_tool_choice({"type": "custom", "name": "apply_patch"}, specs) == ToolChoice("function", "apply_patch")
    assert parse_tool_choice({"type": "function", "name": "lookup", "namespace": "crm"}, specs).name == "crm.lookup"
    with pytest.raises(InvalidRequest) as info:
        parse_tools([{"type": "custom", "name": "p"}])  # chat and Anthropic have no free-text tools
    assert info.value.param == "tools[0].type"
    assert parse_tools([{"type": "namespace", "name": "n", "tools": []}]) == []  # chat / Anthropic ignore them
    with pytest.raises(InvalidRequest) as info:
        parse_tools([{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}], responses=True)
    assert info.value.param == "tools[0].tools[0]"


def test_prompt_and_choice() -> None:
    specs = parse_tools([{"type": "function", "function": {"name": "add", "description": "a\n\nb",
                                                           "parameters": {"type": "object"}}},
                         {"type": "web_search"}, {"name": "w", "input_schema": {"type": "object"}}])
    assert [s.name for s in specs] == ["add", "w"]
    text = tool_prompt(specs, ToolChoice())
    assert "\n\n" not in text and "<tools>" in text and '"name":"add"' in text
    assert tool_prompt(specs, ToolChoice("none")) == ""
    forced = parse_tool_choice({"type": "function", "function": {"name": "w"}}, specs)
    assert forced == ToolChoice("function", "w")
    assert '"name":"add"' not in tool_prompt(specs, forced) and "MUST call the tool `w`" in tool_prompt(specs, forced)
    assert parse_tool_choice({"type": "any"}, specs).mode == "required"
    with pytest.raises(InvalidRequest):
        parse_tool_choice({"type": "function", "function": {"name": "nope"}}, specs)
    with pytest.raises(InvalidRequest):
        parse_tools([{"type": "function", "function": {"name": "bad name"}}])
