"""The fake model's answer to a prompt that declares tools: a deterministic tool-call block.

A gateway that emulates tools writes the declared functions into the prompt as one JSON array
line between `<tools>` and `</tools>` (grok.com itself knows nothing of this; it is just prompt
text). This module reads only the flattened prompt, never gateway code. The user's words are
those of the last user turn, context blocks aside (rules in `prompt.py`):

- conversation ends with tool results (`tool (name): …` turns) → a plain answer quoting them:
  `Tool result: <text>` (several joined with `; `).
- else a call of each tool whose name the user's words contain as a word (exact case; a
  namespace member also by its bare name), in order of appearance; with none named, the tool a
  "MUST call the tool `X`" line names, or the first tool when a call is required; otherwise no
  call (the plain echo), so a greeting never triggers a tool.
- arguments follow the tool's JSON schema, required properties only (nested objects likewise):
  an `enum` takes the listed value the user's words contain, else the first one; numbers and
  integers take the words' numbers in order; strings take a double-quoted phrase or else a
  capitalised word that does not start a sentence, else the words themselves; booleans are
  false unless the words name the property; arrays are empty.
- a `custom` (free-text) tool gets the words' first fenced code block as its input (else the
  first quoted phrase, else the words), in a `<custom_tool_call name="…">` block.
- `[[notool]]` in the message → no call (the plain echo). `[[toolform:F]]` picks the block form
  of function calls, F in tool_call (default), tool_calls, function_call, invoke, json — the
  forms real models drift into, so the gateway's parser is exercised on each.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .prompt import tool_results, user_words

_TOOLS = re.compile(r"<tools>\s*\n(\[.*?\])\s*\n</tools>", re.S)
_MUST = re.compile(r"MUST call the tool `([^`]+)`")
_REQUIRED = "MUST call at least one tool"
_FORM = re.compile(r"\[\[toolform:(\w+)\]\]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r'"([^"\n]{1,200})"')
_CAPITAL = re.compile(r"\b([A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)*)")
_FENCE = re.compile(r"```[\w-]*\n(.*?)\n?```", re.S)
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


def _word_at(text: str, word: str) -> int:
    """Where `word` first stands as a whole word (not inside an identifier), or -1."""
    match = re.search(rf"(?<![\w.]){re.escape(word)}(?![\w])", text)
    return match.start() if match else -1


class Words:
    """The user's words, handed out to arguments in order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.numbers = _NUMBER.findall(text)
        quoted = _QUOTED.findall(text)
        capitals = [m.group(1) for m in _CAPITAL.finditer(text)  # names, not sentence starts
                    if text[: m.start()].rstrip()[-1:] not in ("", ".", "?", "!", ":")]
        self.strings = quoted or capitals
        self.used = {"number": 0, "string": 0}

    def _next(self, kind: str, pool: list[str]) -> str | None:
        i = self.used[kind]
        self.used[kind] = i + 1
        return pool[i] if i < len(pool) else None

    def number(self, integer: bool) -> int | float:
        found = self._next("number", self.numbers)
        value = float(found) if found is not None else 0.0
        return int(value) if integer or value.is_integer() else value

    def string(self) -> str:
        found = self._next("string", self.strings)
        return found if found is not None else self.text

    def mentions(self, name: str) -> bool:
        lower = self.text.lower()
        return _word_at(lower, name.lower()) != -1 or _word_at(lower, name.lower().replace("_", " ")) != -1


def _value(schema: dict[str, Any], name: str, words: Words) -> Any:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        named = [v for v in enum if isinstance(v, str) and _word_at(words.text.lower(), v.lower()) != -1]
        return named[0] if named else enum[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        options = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(options, list) and options and isinstance(options[0], dict):
            return _value(options[0], name, words)
    if kind in ("number", "integer"):
        return words.number(kind == "integer")
    if kind == "boolean":
        return words.mentions(name)
    if kind == "array":
        return []
    if kind == "object":
        return arguments(schema, words)
    return words.string()


def arguments(schema: Any, words: Words) -> dict[str, Any]:
    """Values for the schema's required properties, in the order the schema lists them."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    required = schema.get("required") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or not isinstance(required, list):
        return {}
    return {name: _value(spec if isinstance(spec, dict) else {}, name, words)
            for name, spec in props.items() if name in required}


def _chosen(tools: list[dict[str, Any]], message: str, words: str) -> list[dict[str, Any]]:
    named = []
    for i, tool in enumerate(tools):
        at = [_word_at(words, n) for n in {tool["name"], tool["name"].rsplit(".", 1)[-1]}]
        found = [a for a in at if a != -1]
        if found:
            named.append((min(found), i))
    if named:
        return [tools[i] for _, i in sorted(named)]
    must = _MUST.search(message)
    forced = [t for t in tools if must and t["name"] == must.group(1)]
    if forced:
        return forced
    return tools[:1] if _REQUIRED in message else []


def custom_input(words: str) -> str:
    fence = _FENCE.search(words)
    if fence:
        return fence.group(1)
    quoted = _QUOTED.search(words)
    return quoted.group(1) if quoted else words


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


def tool_answer(message: str) -> str | None:
    """The answer text when the prompt declares tools and one is due, else None (the echo applies)."""
    tools = declared_tools(message)
    words = user_words(message)
    if not tools or NOTOOL in words:
        return None
    results = tool_results(message)
    if results is not None:
        return "Tool result: " + "; ".join(results)
    form_match = _FORM.search(words)
    clean = _FORM.sub("", words).strip()
    chosen = _chosen(tools, message, clean)
    if not chosen:
        return None
    custom = [t for t in chosen if t.get("type") == "custom"]
    if custom:  # free text cannot share a JSON block; one custom call per answer
        name = custom[0]["name"]
        return f'<custom_tool_call name="{name}">\n{custom_input(clean)}\n</custom_tool_call>'
    calls = [{"name": t["name"], "arguments": arguments(t.get("parameters"), Words(clean))} for t in chosen]
    return _block(form_match.group(1) if form_match else "tool_call", calls)
