"""Reads tool calls out of the model's streamed answer (the other half of grok2api.api.tools).

`ToolSieve` splits the text into plain text and `ToolCall`s. A real model drifts from any
instruction, so every common form is accepted: `<tool_call>{…}</tool_call>` (one or several),
`<tool_calls>[…]</tool_calls>`, `<function_call>{…}</function_call>`,
`<invoke name="…"><parameter name="…">…</parameter></invoke>` (optionally inside
`<function_calls>`), a fenced ```json block holding `{"tool_calls": […]}`, and for custom
(free-text) tools `<custom_tool_call name="…">TEXT</custom_tool_call>`. A custom tool may also be
called in the JSON forms with its text as the `input` (or as the only string argument).
Text that might be the start of such a block is held back until it is decided; a block is
accepted only when every call in it names a declared tool with acceptable arguments, otherwise
the block's text passes through unchanged. Text that is not a block is never altered.
A namespace member may be called by its bare name when that name is unambiguous.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .tools import CUSTOM_CLOSE, CUSTOM_OPEN, ToolCall, ToolSpec

# (opening marker, closing marker); matched case-insensitively.
_BLOCKS: tuple[tuple[str, str], ...] = (
    ("<tool_calls>", "</tool_calls>"),
    ("<tool_call>", "</tool_call>"),
    ("<function_calls>", "</function_calls>"),
    ("<function_call>", "</function_call>"),
    ("<invoke", "</invoke>"),
    (CUSTOM_OPEN, CUSTOM_CLOSE),
    ("```json", "```"),
)
_CLOSES = dict(_BLOCKS)
_ATTRIBUTED = ("<invoke", CUSTOM_OPEN)  # openings followed by attributes: need a word boundary
_INVOKE = re.compile(r"<invoke\s+name\s*=\s*[\"']([^\"']+)[\"']\s*>(.*?)</invoke>", re.DOTALL | re.IGNORECASE)
_PARAM = re.compile(r"<parameter\s+name\s*=\s*[\"']([^\"']+)[\"']\s*>(.*?)</parameter>", re.DOTALL | re.IGNORECASE)
_INNER_CALL = re.compile(r"<(tool_call|function_call)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_CUSTOM = re.compile(r"<custom_tool_call\s+name\s*=\s*[\"']([^\"']+)[\"']\s*>(.*?)(?:</custom_tool_call>)?\Z",
                     re.DOTALL | re.IGNORECASE)


class Declared:
    """The declared tools by the names the model may use for them."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.by_name = {t.name: t for t in tools}
        bare: dict[str, list[ToolSpec]] = {}
        for t in tools:
            if t.namespace:
                bare.setdefault(t.name[len(t.namespace) + 1:], []).append(t)
        for name, specs in bare.items():
            if len(specs) == 1 and name not in self.by_name:
                self.by_name[name] = specs[0]

    def get(self, name: Any) -> ToolSpec | None:
        return self.by_name.get(name) if isinstance(name, str) else None

    @staticmethod
    def function(spec: ToolSpec, args: dict[str, Any]) -> ToolCall:
        return ToolCall(name=spec.name, namespace=spec.namespace,
                        arguments=json.dumps(args, ensure_ascii=False, separators=(",", ":")))

    @staticmethod
    def custom(spec: ToolSpec, text: str) -> ToolCall:
        return ToolCall(name=spec.name, namespace=spec.namespace, arguments="", input=text)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def _custom_input(args: Any) -> str | None:
    """A custom tool's text from JSON-form arguments: a string, or an object's `input` or only string."""
    if isinstance(args, str):
        return args
    if isinstance(args, dict):
        if isinstance(args.get("input"), str):
            return args["input"]
        strings = [v for v in args.values() if isinstance(v, str)]
        if len(args) == 1 and strings:
            return strings[0]
    return None


def _call_from_obj(obj: Any, tools: Declared) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    fn: dict[str, Any] = obj["function"] if isinstance(obj.get("function"), dict) else obj
    spec = tools.get(fn.get("name", fn.get("tool_name", obj.get("name"))))
    if spec is None:
        return None
    args: Any = {}
    for key in ("arguments", "parameters", "input", "args"):
        if key in fn:
            args = fn[key]
            break
    if spec.kind == "custom":
        text = _custom_input(args)
        return None if text is None else tools.custom(spec, text)
    if isinstance(args, str):
        args = _loads(args) if args.strip() else {}
    return tools.function(spec, args) if isinstance(args, dict) else None


def _calls_from_json(text: str, tools: Declared) -> list[ToolCall] | None:
    value = _loads(text.strip())
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    calls = [_call_from_obj(item, tools) for item in items]
    if not calls or any(c is None for c in calls):
        return None
    return calls  # type: ignore[return-value]


def _param_value(raw: str) -> Any:
    text = raw.strip()
    value = _loads(text)
    return text if value is None and text != "null" else value


def _calls_from_invokes(text: str, tools: Declared) -> list[ToolCall] | None:
    calls: list[ToolCall] = []
    for match in _INVOKE.finditer(text):
        spec = tools.get(match.group(1).strip())
        if spec is None:
            return None
        params = list(_PARAM.finditer(match.group(2)))
        if spec.kind == "custom":
            if len(params) != 1:
                return None
            calls.append(tools.custom(spec, _strip_newline(params[0].group(2))))
            continue
        calls.append(tools.function(spec, {m.group(1): _param_value(m.group(2)) for m in params}))
    return calls or None


def _strip_newline(text: str) -> str:
    """The block's text without the one line break that puts it on its own lines."""
    text = text[1:] if text.startswith("\n") else text
    return text[:-1] if text.endswith("\n") else text


def _calls_from_custom(block: str, tools: Declared) -> list[ToolCall] | None:
    match = _CUSTOM.match(block)
    spec = tools.get(match.group(1).strip()) if match else None
    if match is None or spec is None:
        return None
    body = _strip_newline(match.group(2))
    if spec.kind == "custom":
        return [tools.custom(spec, body)]
    args = _loads(body)
    return [tools.function(spec, args)] if isinstance(args, dict) else None


def parse_block(opening: str, block: str, tools: Declared) -> list[ToolCall] | None:
    """The calls in one complete block (markers included), or None when it is not a valid call."""
    lower = opening.lower()
    if lower in ("<invoke", "<function_calls>"):
        return _calls_from_invokes(block, tools)
    if lower == CUSTOM_OPEN:
        return _calls_from_custom(block, tools)
    inner = block[len(opening):]
    close = _CLOSES[lower]
    if inner.lower().endswith(close):
        inner = inner[: -len(close)]
    if lower == "```json":
        obj = _loads(inner.strip())
        if not isinstance(obj, dict) or not isinstance(obj.get("tool_calls"), list):
            return None
        return _calls_from_json(inner, tools)
    calls = _calls_from_json(inner, tools)
    if calls is None and lower == "<tool_calls>":
        found = [_calls_from_json(m.group(2), tools) for m in _INNER_CALL.finditer(inner)]
        if found and all(found):
            calls = [c for group in found for c in group]  # type: ignore[union-attr]
        else:
            calls = _calls_from_invokes(inner, tools)
    return calls


class ToolSieve:
    """Splits streamed model text into plain text pieces (str) and ToolCall objects."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.tools = Declared(tools)
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
            end = self._buf.lower().find(_CLOSES[self._open], len(self._open))
            if end == -1:
                break
            block = self._buf[: end + len(_CLOSES[self._open])]
            self._buf = self._buf[len(block):]
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
            while i != -1 and opening in _ATTRIBUTED and not self._boundary(lower, i + len(opening)):
                i = lower.find(opening, i + 1)
            if i != -1 and i < best:
                best, found = i, opening
        return best, found

    @staticmethod
    def _boundary(lower: str, after: int) -> bool:
        return lower[after: after + 1] in ("", " ", "\t", "\n", ">")

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
        calls = parse_block(opening, block, self.tools)
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
