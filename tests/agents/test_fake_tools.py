"""fakegrok's reading of a flattened prompt and its tool-call answers (grok2api.fakegrok.prompt, .toolcalls)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grok2api.api.tools import ToolChoice, ToolSpec, tool_prompt
from grok2api.fakegrok.prompt import tool_results, turns, user_words
from grok2api.fakegrok.replies import build_reply
from grok2api.fakegrok.toolcalls import tool_answer

TURN_CASES = [
    ("py-a bare final user", "system: be terse\n\nuser: first\n\nassistant: ok\n\nsecond\n\nquestion",
     [("system", "be terse"), ("user", "first"), ("assistant", "ok"), ("user", "second\n\nquestion")]),
    ("go tagged", "[system]\nbe terse\n\n[user]\nfirst\n\n[assistant]\nok\n\n[user]\nlast one",
     [("system", "be terse"), ("user", "first"), ("assistant", "ok"), ("user", "last one")]),
    ("tool result with blank lines keeps earlier turns",
     "user: list it\n\nassistant: <tool_call>{}</tool_call>\n\ntool (ls): a.txt\n\nb.txt\n\n\nc.txt",
     [("user", "list it"), ("assistant", "<tool_call>{}</tool_call>"), ("tool", "a.txt\n\nb.txt\n\n\nc.txt")]),
    ("system after the user keeps its paragraphs",
     "system: tools\n\nuser: hello there\n\nsystem: # Environment\n\nPlatform: linux\n\nsay \"x\"",
     [("system", "tools"), ("user", "hello there"), ("system", "# Environment\n\nPlatform: linux\n\nsay \"x\"")]),
    ("mid-conversation system turn then a bare user",
     "user: a\n\nassistant: b\n\nsystem: note\n\nd",
     [("user", "a"), ("assistant", "b"), ("system", "note"), ("user", "d")]),
    ("a bare message", "just\n\nwords", [("user", "just\n\nwords")]),
]


@pytest.mark.parametrize(("message", "expected"), [(m, e) for _, m, e in TURN_CASES], ids=[c[0] for c in TURN_CASES])
def test_turns(message: str, expected: list[tuple[str, str]]) -> None:
    assert [(t.role, t.text) for t in turns(message)] == expected


def test_user_words_skip_context_blocks_and_system_turns() -> None:
    message = ("system: x\n\nuser: <system-reminder>\nctx \"quoted\"\n\nmore\n</system-reminder>\n"
               "<environment_context>\n  <cwd>/r</cwd>\n</environment_context>\n\nsay hi\n\n"
               "system: # Env\n\nWrite \"select:<name>\"")
    assert user_words(message) == "say hi"
    assert build_reply(message, thinking=False).text == "Echo: say hi"
    assert user_words("user: <b>hi</b>") == "" and build_reply("<b>hi</b>", thinking=False).text == "Echo: <b>hi</b>"
    assert tool_results("user: a\n\nassistant: b\n\ntool (f): r1\n\ntool (g): r2\n\nsystem: after") == ["r1", "r2"]
    assert tool_results("user: a\n\ntool (f): r\n\nassistant: done") is None


def _prompt(tools: list[ToolSpec], words: str, choice: ToolChoice | None = None) -> str:
    return f"system: {tool_prompt(tools, choice or ToolChoice())}\n\n{words}"


def _call(answer: str | None) -> tuple[str, dict[str, Any]]:
    assert answer is not None and answer.startswith("<tool_call>"), answer
    obj = json.loads(answer.removeprefix("<tool_call>").removesuffix("</tool_call>"))
    return obj["name"], obj["arguments"]


SCHEMA = {"type": "object", "required": ["path", "mode", "force", "count", "options", "tags", "kind"],
          "properties": {
              "path": {"type": "string"}, "note": {"type": "string"},
              "mode": {"type": "string", "enum": ["append", "overwrite", "create"]},
              "force": {"type": "boolean"}, "dry_run": {"type": "boolean"},
              "count": {"type": ["integer", "null"]}, "tags": {"type": "array", "items": {"type": "string"}},
              "kind": {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
              "options": {"type": "object", "required": ["depth"], "properties": {
                  "depth": {"type": "number"}, "verbose": {"type": "boolean"}}}}}
SAVE = ToolSpec("save", "Save a file.", SCHEMA)


def test_arguments_follow_the_schema() -> None:
    name, args = _call(tool_answer(_prompt([SAVE], 'Please save "out.txt" 3 times, depth 2.5')))
    assert name == "save"
    assert args == {"path": "out.txt", "mode": "append", "force": False, "count": 3, "tags": [], "kind": "a",
                    "options": {"depth": 2.5}}
    _, args = _call(tool_answer(_prompt([SAVE], 'save "x" with overwrite and force')))
    assert args["mode"] == "overwrite" and args["force"] is True
    no_required = ToolSpec("ping", "", {"type": "object", "properties": {"host": {"type": "string"}}})
    assert _call(tool_answer(_prompt([no_required], "ping it")))[1] == {}


def test_which_tool_is_called() -> None:
    tools = [ToolSpec("Agent", "", {}), ToolSpec("Write", "", {}), ToolSpec("TodoWrite", "", {})]
    assert tool_answer(_prompt(tools, "say hi")) is None  # nothing named, nothing required: words
    assert tool_answer(_prompt(tools, "write a poem about Agents")) is None  # names are exact words
    assert _call(tool_answer(_prompt(tools, "use TodoWrite")))[0] == "TodoWrite"
    assert _call(tool_answer(_prompt(tools, "hi", ToolChoice("required"))))[0] == "Agent"
    assert _call(tool_answer(_prompt(tools, "hi", ToolChoice("function", "Write"))))[0] == "Write"
    both = tool_answer(_prompt(tools, "Write first, then Agent"))
    assert both is not None and [json.loads(b)["name"] for b in both.replace("</tool_call>", "").split(
        "<tool_call>")[1:]] == ["Write", "Agent"]
    spaced = ToolSpec("crm.lookup", "", {}, namespace="crm")
    assert _call(tool_answer(_prompt([spaced], "run lookup")))[0] == "crm.lookup"


def test_custom_tool_input() -> None:
    patch = ToolSpec("apply_patch", "Patch files.", kind="custom", format={"type": "grammar", "syntax": "lark",
                                                                            "definition": "start: x"})
    fenced = tool_answer(_prompt([patch], "Use apply_patch:\n```diff\n*** Begin Patch\n\n*** End Patch\n```"))
    assert fenced == '<custom_tool_call name="apply_patch">\n*** Begin Patch\n\n*** End Patch\n</custom_tool_call>'
    quoted = tool_answer(_prompt([patch], 'apply_patch "one line"'))
    assert quoted == '<custom_tool_call name="apply_patch">\none line\n</custom_tool_call>'
