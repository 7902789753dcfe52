"""The fake model's answer to a prompt that declares tools: a deterministic tool-call block.

A gateway that emulates tools writes the declared functions into the prompt as one JSON array
line between `<tools>` and `</tools>` (grok.com itself knows nothing of this; it is just prompt
text). This module reads only the flattened prompt, never gateway code:

- last turn is a user message → call tools: those whose names appear in the message (in order
  of appearance, one call each), else the one a "MUST call the tool `X`" line names, else the
  first declared tool. Arguments are filled from the message by JSON-schema type: numbers and
  integers take the message's numbers in order, strings take a double-quoted phrase or else a
  capitalised word that does not start a sentence, booleans are true.
- last turn is tool results (`tool (name): …` paragraphs / `[tool (name)]` blocks) → a plain
  answer quoting them: `Tool result: <text>` (several joined with `; `).
- `[[notool]]` in the message → no call (the plain echo). `[[toolform:F]]` picks the block form,
  F in tool_call (default), tool_calls, function_call, invoke, json — the forms real models
  drift into, so the gateway's parser is exercised on each.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOOLS = re.compile(r"<tools>\s*\n(\[.*?\])\s*\n</tools>", re.S)
_MUST = re.compile(r"MUST call the tool `([^`]+)`")
_FORM = re.compile(r"\[\[toolform:(\w+)\]\]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r'"([^"\n]{1,200})"')
_CAPITAL = re.compile(r"\b([A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)*)")
_PLAIN_TURN = re.compile(r"^(system|user|assistant|developer|function|tool(?: \(([^)\n]*)\))?): ", re.M)
_TAGGED_TURN = re.compile(r"^\[(system|user|assistant|developer|function|tool(?: \(([^)\n]*)\))?)\]\n", re.M)
NOTOOL = "[[notool]]"


def declared_tools(message: str) -> list[dict[str, Any]]:
    match = _TOOLS.search(message)
    if not match:
        return []
    try:
        tools = json.loads(match.group(1))
    except json.JSONDecodeError:
        return []
    return [t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _turns(message: str) -> list[tuple[str, str]]:
    """(role, text) turns of a flattened prompt; a bare last paragraph (PY-A style) is a user turn."""
    pattern = _TAGGED_TURN if _TAGGED_TURN.search(message) else _PLAIN_TURN
    turns: list[tuple[str, str]] = []
    matches = list(pattern.finditer(message))
    if matches and matches[0].start() > 0:
        turns.append(("user", message[: matches[0].start()]))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(message)
        turns.append((m.group(1).split(" ", 1)[0], message[m.end():end].strip()))
    if pattern is _PLAIN_TURN and turns:
        role, text = turns[-1]
        head, sep, tail = text.partition("\n\n")
        if sep and role != "user" and tail.strip():  # PY-A leaves the final user message bare
            turns[-1] = (role, head)
            turns.append(("user", tail.strip()))
    if not matches:
        turns.append(("user", message.strip()))
    return turns


def tool_results(message: str) -> list[str] | None:
    """The trailing tool-result turns, or None when the conversation ends with another role."""
    results: list[str] = []
    for role, text in reversed(_turns(message)):
        if role != "tool":
            break
        results.insert(0, text)
    return results or None


def _argument(schema: dict[str, Any], user: str, used: dict[str, int]) -> Any:
    kind = schema.get("type")
    if kind in ("number", "integer"):
        numbers = _NUMBER.findall(user)
        i = used.setdefault("number", 0)
        used["number"] = i + 1
        value = float(numbers[i]) if i < len(numbers) else 0
        return int(value) if kind == "integer" or float(value).is_integer() else value
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    quoted = _QUOTED.findall(user)
    capitals = [m.group(1) for m in _CAPITAL.finditer(user)  # names, not sentence starts
                if user[: m.start()].rstrip()[-1:] not in ("", ".", "?", "!")]
    i = used.setdefault("string", 0)
    used["string"] = i + 1
    pool = quoted or capitals
    return pool[i] if i < len(pool) else user


def _arguments(tool: dict[str, Any], user: str) -> dict[str, Any]:
    params = tool.get("parameters")
    params = params if isinstance(params, dict) else {}
    props = params.get("properties")
    props = props if isinstance(props, dict) else {}
    used: dict[str, int] = {}
    return {name: _argument(schema if isinstance(schema, dict) else {}, user, used)
            for name, schema in props.items()}


def _chosen(tools: list[dict[str, Any]], message: str, user: str) -> list[dict[str, Any]]:
    lower = user.lower()
    named = sorted((lower.find(t["name"].lower()), i) for i, t in enumerate(tools)
                   if t["name"].lower() in lower)
    if named:
        return [tools[i] for _, i in named]
    must = _MUST.search(message)
    forced = [t for t in tools if must and t["name"] == must.group(1)]
    return forced or tools[:1]


def _block(form: str, calls: list[dict[str, Any]]) -> str:
    if form == "tool_calls":
        return "<tool_calls>" + json.dumps(calls) + "</tool_calls>"
    if form == "function_call":
        return "".join(f"<function_call>{json.dumps(c)}</function_call>" for c in calls)
    if form == "invoke":
        invokes = "".join(
            f'<invoke name="{c["name"]}">' + "".join(
                f'<parameter name="{k}">{v if isinstance(v, str) else json.dumps(v)}</parameter>'
                for k, v in c["arguments"].items()) + "</invoke>" for c in calls)
        return "<function_calls>" + invokes + "</function_calls>"
    if form == "json":
        return "```json\n" + json.dumps({"tool_calls": calls}) + "\n```"
    return "\n".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)


def tool_answer(message: str, user: str) -> str | None:
    """The answer text when the prompt declares tools, else None (the usual echo applies)."""
    tools = declared_tools(message)
    if not tools or NOTOOL in user:
        return None
    results = tool_results(message)
    if results is not None:
        return "Tool result: " + "; ".join(results)
    form_match = _FORM.search(user)
    clean = _FORM.sub("", user).strip()
    calls = [{"name": t["name"], "arguments": _arguments(t, clean)} for t in _chosen(tools, message, clean)]
    return _block(form_match.group(1) if form_match else "tool_call", calls)
