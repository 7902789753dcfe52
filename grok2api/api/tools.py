"""Tool calling emulated in the prompt, because Grok's web app has no native tools.

Two halves, no I/O and no wire shapes of any one API:

- `tool_prompt(tools, choice)` is a system text that describes the declared functions and
  `tool_choice`, and asks for calls as `<tool_call>{"name": …, "arguments": {…}}</tool_call>`.
  The text contains no blank line, so it stays one paragraph of the flattened prompt. It starts
  with `TOOLS_OPEN` and carries the declared tools as one JSON array line between `<tools>` and
  `</tools>` (fakegrok reads that line; see grok2api/fakegrok/README.md).
- `ToolSieve` reads the model's answer as it streams and splits it into plain text and
  `ToolCall`s. A real model drifts from any instruction, so every common form is accepted:
  `<tool_call>{…}</tool_call>` (one or several), `<tool_calls>[…]</tool_calls>`,
  `<function_call>{…}</function_call>`, `<invoke name="…"><parameter name="…">…</parameter></invoke>`
  (optionally inside `<function_calls>`), and a fenced ```json block holding `{"tool_calls": […]}`.
  Text that might be the start of such a block is held back until it is decided; a block is
  accepted only when every call in it names a declared tool and its arguments are a JSON object,
  otherwise the block's text passes through unchanged. Text that is not a block is never altered.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest

MAX_TOOLS = 128
TOOLS_OPEN = "<tools>"
TOOLS_CLOSE = "</tools>"
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: str = "auto"  # auto | none | required | function
    name: str = ""  # for mode "function"


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: str  # a JSON object, compact
    id: str = field(default_factory=lambda: "call_" + secrets.token_hex(12))


# -- request parsing (OpenAI chat, Responses and Anthropic shapes) ------------------------
def parse_tools(value: Any, param: str = "tools") -> list[ToolSpec]:
    """Function tools from `[{type: function, function: {name, description, parameters}}]`,
    Responses' flat `{type: function, name, parameters}` or Anthropic's `{name, input_schema}`.
    Non-function tools (web_search, …) are ignored."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"`{param}` must be an array.", param=param)
    if len(value) > MAX_TOOLS:
        raise InvalidRequest(f"At most {MAX_TOOLS} tools are supported.", param=param)
    specs: list[ToolSpec] = []
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(f"`{p}` must be an object.", param=p)
        kind = raw.get("type", "function")
        inner = raw.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else raw
        if kind not in ("function", "custom", None) and "input_schema" not in raw:
            continue
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequest(f"`{p}` needs a `name` of letters, digits, `_`, `-`, `.` or `:`.",
                                 param=f"{p}.name")
        schema = fn.get("parameters", fn.get("input_schema")) or {}
        if not isinstance(schema, dict):
            raise InvalidRequest(f"`{p}` parameters must be a JSON schema object.", param=p)
        description = fn.get("description")
        description = description if isinstance(description, str) else ""
        specs.append(ToolSpec(name=name, description=description, parameters=schema))
    return specs


def parse_tool_choice(value: Any, tools: list[ToolSpec], param: str = "tool_choice") -> ToolChoice:
    """"auto" | "none" | "required" | {"type": "function", "function": {"name"}} (chat),
    {"type": "function", "name"} (Responses), {"type": "auto|any|none|tool", "name"} (Anthropic)."""
    if value is None:
        return ToolChoice()
    if isinstance(value, str):
        mode = {"any": "required"}.get(value, value)
        if mode not in ("auto", "none", "required"):
            raise InvalidRequest('`tool_choice` must be "auto", "none", "required" or a function.',
                                 param=param)
        return ToolChoice(mode)
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("auto", "none", "any", "required"):
            return ToolChoice("required" if kind == "any" else kind)
        inner = value.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else value
        name = fn.get("name")
        if kind in ("function", "tool") and isinstance(name, str):
            if name not in {t.name for t in tools}:
                raise InvalidRequest(f"`tool_choice` names `{name}`, which is not in `tools`.", param=param)
            return ToolChoice("function", name)
    raise InvalidRequest("`tool_choice` is not a valid choice.", param=param)


# -- the prompt ------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return re.sub(r"\n\s*\n", "\n", text).strip()


def tool_prompt(tools: list[ToolSpec], choice: ToolChoice) -> str:
    """The system text that declares the tools; empty when no tool may be called."""
    if choice.mode == "function":
        tools = [t for t in tools if t.name == choice.name]
    if not tools or choice.mode == "none":
        return ""
    declared = [{"name": t.name, "description": _one_line(t.description), "parameters": t.parameters}
                for t in tools]
    if choice.mode == "function":
        rule = f"You MUST call the tool `{choice.name}` now."
    elif choice.mode == "required":
        rule = "You MUST call at least one tool now."
    else:
        rule = "Call a tool only when it helps; otherwise answer normally."
    return "\n".join([
        "You can call the tools declared below (a JSON array of function definitions with JSON-schema parameters).",
        TOOLS_OPEN,
        json.dumps(declared, ensure_ascii=False, separators=(",", ":")),
        TOOLS_CLOSE,
        rule,
        "To call a tool, answer with one block per call and no other text around it:",
        '<tool_call>{"name": "TOOL_NAME", "arguments": {"ARG": "VALUE"}}</tool_call>',
        ("Several blocks may follow each other for parallel calls. The arguments must be a JSON object "
        "matching the tool's parameters. Tool results come back in later messages from role `tool`; "
        "use them to answer the user."),
    ])


def call_block(name: str, arguments: str | dict[str, Any]) -> str:
    """An earlier call, replayed in the prompt in the form the model is asked to use."""
    args = arguments if isinstance(arguments, dict) else _loads_object(arguments) or {}
    return "<tool_call>" + json.dumps({"name": name, "arguments": args}, ensure_ascii=False) + "</tool_call>"


# -- the streaming parser ---------------------------------------------------------------
# (opening marker, closing marker); matched case-insensitively.
_BLOCKS: tuple[tuple[str, str], ...] = (
    ("<tool_calls>", "</tool_calls>"),
    ("<tool_call>", "</tool_call>"),
    ("<function_calls>", "</function_calls>"),
    ("<function_call>", "</function_call>"),
    ("<invoke", "</invoke>"),
    ("```json", "```"),
)
_INVOKE = re.compile(r"<invoke\s+name\s*=\s*[\"']([^\"']+)[\"']\s*>(.*?)</invoke>", re.DOTALL | re.IGNORECASE)
_PARAM = re.compile(r"<parameter\s+name\s*=\s*[\"']([^\"']+)[\"']\s*>(.*?)</parameter>", re.DOTALL | re.IGNORECASE)
_INNER_CALL = re.compile(r"<(tool_call|function_call)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _call_from_obj(obj: Any, names: set[str]) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    inner = obj.get("function")
    fn: dict[str, Any] = inner if isinstance(inner, dict) else obj
    name = fn.get("name", fn.get("tool_name", obj.get("name")))
    if not isinstance(name, str) or name not in names:
        return None
    args: Any = {}
    for key in ("arguments", "parameters", "input", "args"):
        if key in fn:
            args = fn[key]
            break
    if isinstance(args, str):
        args = _loads_object(args) if args.strip() else {}
    if not isinstance(args, dict):
        return None
    return ToolCall(name=name, arguments=json.dumps(args, ensure_ascii=False, separators=(",", ":")))


def _calls_from_json(text: str, names: set[str]) -> list[ToolCall] | None:
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    calls = [_call_from_obj(item, names) for item in items]
    if not calls or any(c is None for c in calls):
        return None
    return calls  # type: ignore[return-value]


def _param_value(raw: str) -> Any:
    text = raw.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _calls_from_invokes(text: str, names: set[str]) -> list[ToolCall] | None:
    calls: list[ToolCall] = []
    for match in _INVOKE.finditer(text):
        name = match.group(1).strip()
        if name not in names:
            return None
        args = {m.group(1): _param_value(m.group(2)) for m in _PARAM.finditer(match.group(2))}
        calls.append(ToolCall(name=name, arguments=json.dumps(args, ensure_ascii=False, separators=(",", ":"))))
    return calls or None


def parse_block(opening: str, block: str, names: set[str]) -> list[ToolCall] | None:
    """The calls in one complete block (markers included), or None when it is not a valid call."""
    lower = opening.lower()
    if lower in ("<invoke", "<function_calls>"):
        return _calls_from_invokes(block, names)
    inner = block[len(opening):]
    close = dict(_BLOCKS)[lower]
    if inner.lower().endswith(close):
        inner = inner[: -len(close)]
    if lower == "```json":
        obj = _loads_object(inner.strip())
        if obj is None or not isinstance(obj.get("tool_calls"), list):
            return None
        return _calls_from_json(inner, names)
    calls = _calls_from_json(inner, names)
    if calls is None and lower == "<tool_calls>":
        found = [_calls_from_json(m.group(2), names) for m in _INNER_CALL.finditer(inner)]
        if found and all(found):
            calls = [c for group in found for c in group]  # type: ignore[union-attr]
        else:
            calls = _calls_from_invokes(inner, names)
    return calls


class ToolSieve:
    """Splits streamed model text into plain text pieces (str) and ToolCall objects."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.names = {t.name for t in tools}
        self.calls: list[ToolCall] = []
        self._buf = ""
        self._open: str | None = None  # the opening marker of the block being read
        self._after_call = False  # drop whitespace right after a call block

    def feed(self, text: str) -> list[str | ToolCall]:
        self._buf += text
        out: list[str | ToolCall] = []
        while self._buf:
            if self._open is None:
                start, opening = self._find_opening()
                if opening is None:
                    keep = self._partial_tail()
                    self._emit_text(out, self._buf[: len(self._buf) - keep])
                    self._buf = self._buf[len(self._buf) - keep:]
                    break
                self._emit_text(out, self._buf[:start])
                self._buf = self._buf[start:]
                self._open = opening
            close = dict(_BLOCKS)[self._open]
            end = self._buf.lower().find(close, len(self._open))
            if end == -1:
                break
            block = self._buf[: end + len(close)]
            self._buf = self._buf[end + len(close):]
            self._finish_block(out, block)
        return out

    def flush(self) -> list[str | ToolCall]:
        out: list[str | ToolCall] = []
        if self._open is not None:  # an unterminated block: accept it if it parses anyway
            block, self._buf = self._buf, ""
            self._finish_block(out, block)
        self._emit_text(out, self._buf)
        self._buf = ""
        return out

    # -- internals ----------------------------------------------------------------
    def _find_opening(self) -> tuple[int, str | None]:
        lower = self._buf.lower()
        best, found = len(lower), None
        for opening, _ in _BLOCKS:
            i = lower.find(opening)
            while i != -1 and opening == "<invoke" and not self._invoke_boundary(lower, i):
                i = lower.find(opening, i + 1)
            if i != -1 and i < best:
                best, found = i, opening
        return best, found

    @staticmethod
    def _invoke_boundary(lower: str, i: int) -> bool:
        nxt = lower[i + len("<invoke"): i + len("<invoke") + 1]
        return nxt in ("", " ", "\t", "\n", ">")

    def _partial_tail(self) -> int:
        """How many trailing characters could still grow into an opening marker."""
        lower = self._buf.lower()
        for n in range(min(len(lower), max(len(o) for o, _ in _BLOCKS)), 0, -1):
            tail = lower[-n:]
            if any(o.startswith(tail) for o, _ in _BLOCKS):
                return n
        return 0

    def _finish_block(self, out: list[str | ToolCall], block: str) -> None:
        opening, self._open = self._open or "", None
        calls = parse_block(opening, block, self.names)
        if calls:
            self.calls += calls
            out.extend(calls)
            self._after_call = True
        else:
            self._emit_text(out, block)

    def _emit_text(self, out: list[str | ToolCall], text: str) -> None:
        if self._after_call:
            stripped = text.lstrip()
            if not stripped:
                return
            text, self._after_call = stripped, False
        if not text:
            return
        if out and isinstance(out[-1], str):
            out[-1] += text
        else:
            out.append(text)
