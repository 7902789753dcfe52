"""Tool calling emulated in the prompt, because Grok's web app has no native tools: the declarations.

No I/O and no wire shapes of any one API. `parse_tools` / `parse_tool_choice` read the three
APIs' tool declarations into `ToolSpec`s; `tool_prompt(tools, choice)` is the system text that
describes them and `tool_choice`, and asks for calls as
`<tool_call>{"name": …, "arguments": {…}}</tool_call>`. The text contains no blank line, so it
stays one paragraph of the flattened prompt. It starts with `TOOLS_OPEN` and carries the declared
tools as one JSON array line between `<tools>` and `</tools>` (fakegrok reads that line; see
grok2api/fakegrok/README.md). The answer is read back by `toolsieve.ToolSieve`.

Two Responses-only kinds of declaration (Codex sends both):
- `custom` (freeform) tools take free text, not JSON, e.g. Codex's `apply_patch` with a Lark
  grammar. They are declared with `"type": "custom"` and their `format`, and called as
  `<custom_tool_call name="…">TEXT</custom_tool_call>`; the call comes back as a
  `custom_tool_call` item with a string `input`.
- `namespace` tools group functions: each member is declared as `namespace.function` (the name
  the model calls); the call goes back as the member's own `name` with its `namespace`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .. import ids
from ..errors import InvalidRequest

MAX_TOOLS = 128
TOOLS_OPEN = "<tools>"
TOOLS_CLOSE = "</tools>"
CUSTOM_OPEN = "<custom_tool_call"
CUSTOM_CLOSE = "</custom_tool_call>"
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str  # what the model calls: `namespace.function` for a namespace member
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    kind: str = "function"  # function | custom (free-text input)
    format: dict[str, Any] | None = None  # a custom tool's input format (text or grammar)
    namespace: str = ""  # the Responses namespace this function was declared in


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: str = "auto"  # auto | none | required | function
    name: str = ""  # for mode "function"


@dataclass(slots=True)
class ToolCall:
    name: str  # as declared to the model (qualified for a namespace member)
    arguments: str  # a JSON object, compact; "" for a custom tool's call
    id: str = field(default_factory=lambda: "call_" + ids.token_hex(12))
    input: str | None = None  # a custom tool's free-text input
    namespace: str = ""

    @property
    def custom(self) -> bool:
        return self.input is not None

    @property
    def local_name(self) -> str:
        """The name within its namespace, as the client declared it."""
        return self.name[len(self.namespace) + 1:] if self.namespace else self.name


# -- request parsing (OpenAI chat, Responses and Anthropic shapes) ------------------------
def _name(fn: dict[str, Any], p: str) -> str:
    name = fn.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest(f"`{p}` needs a `name` of letters, digits, `_`, `-`, `.` or `:`.", param=f"{p}.name")
    return name


def _description(fn: dict[str, Any]) -> str:
    return fn["description"] if isinstance(fn.get("description"), str) else ""


def _function(fn: dict[str, Any], p: str, namespace: str = "") -> ToolSpec:
    name = _name(fn, p)
    schema = fn.get("parameters", fn.get("input_schema")) or {}
    if not isinstance(schema, dict):
        raise InvalidRequest(f"`{p}` parameters must be a JSON schema object.", param=p)
    return ToolSpec(name=f"{namespace}.{name}" if namespace else name, description=_description(fn),
                    parameters=schema, namespace=namespace)


def _custom(raw: dict[str, Any], p: str, namespace: str = "") -> ToolSpec:
    fmt = raw.get("format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in ("text", "grammar")):
        raise InvalidRequest(f'`{p}.format.type` must be "text" or "grammar".', param=f"{p}.format")
    if fmt and fmt["type"] == "grammar" and not isinstance(fmt.get("definition"), str):
        raise InvalidRequest(f"`{p}.format.definition` must be a string.", param=f"{p}.format.definition")
    name = _name(raw, p)
    return ToolSpec(name=f"{namespace}.{name}" if namespace else name, description=_description(raw),
                    kind="custom", format=fmt or None, namespace=namespace)


def _namespace(raw: dict[str, Any], p: str) -> list[ToolSpec]:
    namespace = _name(raw, p)
    members = raw.get("tools")
    if not isinstance(members, list):
        raise InvalidRequest(f"`{p}.tools` must be an array.", param=f"{p}.tools")
    specs = []
    for j, member in enumerate(members):
        mp = f"{p}.tools[{j}]"
        kind = member.get("type", "function") if isinstance(member, dict) else None
        if kind not in ("function", "custom"):
            raise InvalidRequest(f"`{mp}` must be a function or custom tool.", param=mp)
        assert isinstance(member, dict)
        spec = _function(member, mp, namespace) if kind == "function" else _custom(member, mp, namespace)
        if not _NAME.match(spec.name):
            raise InvalidRequest(f"`{mp}.name` is too long with its namespace.", param=f"{mp}.name")
        specs.append(spec)
    return specs


def parse_tools(value: Any, param: str = "tools", *, responses: bool = False) -> list[ToolSpec]:
    """Function tools from `[{type: function, function: {name, description, parameters}}]`,
    Responses' flat `{type: function, name, parameters}` or Anthropic's `{name, input_schema}`.
    With `responses`, also Responses' `custom` and `namespace` tools; elsewhere a custom tool is
    refused and other non-function tools (web_search, …) are ignored."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"`{param}` must be an array.", param=param)
    specs: list[ToolSpec] = []
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(f"`{p}` must be an object.", param=p)
        kind = raw.get("type", "function")
        if "input_schema" in raw:  # Anthropic: `type` is absent or "custom" for client tools
            specs.append(_function(raw, p))
        elif kind in ("function", None):
            specs.append(_function(raw["function"] if isinstance(raw.get("function"), dict) else raw, p))
        elif kind == "custom":
            if not responses:
                raise InvalidRequest(f"`{p}`: custom (free-text) tools are supported on /v1/responses only; "
                                     "declare a function tool here.", param=f"{p}.type")
            specs.append(_custom(raw, p))
        elif kind == "namespace" and responses:
            specs += _namespace(raw, p)
    if len(specs) > MAX_TOOLS:
        raise InvalidRequest(f"At most {MAX_TOOLS} tools are supported.", param=param)
    return specs


def parse_tool_choice(value: Any, tools: list[ToolSpec], param: str = "tool_choice") -> ToolChoice:
    """"auto" | "none" | "required" | {"type": "function", "function": {"name"}} (chat),
    {"type": "function" | "custom", "name"} (Responses), {"type": "auto|any|none|tool", "name"} (Anthropic)."""
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
        if isinstance(kind, str) and kind in ("auto", "none", "any", "required"):
            return ToolChoice({"any": "required"}.get(kind, kind))
        fn: dict[str, Any] = value["function"] if isinstance(value.get("function"), dict) else value
        name = fn.get("name")
        if kind in ("function", "tool", "custom") and isinstance(name, str):
            namespace = fn.get("namespace")
            if isinstance(namespace, str) and namespace:
                name = f"{namespace}.{name}"
            if name not in {t.name for t in tools}:
                raise InvalidRequest(f"`tool_choice` names `{name}`, which is not in `tools`.", param=param)
            return ToolChoice("function", name)
    raise InvalidRequest("`tool_choice` is not a valid choice.", param=param)


# -- the prompt ------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return re.sub(r"\n\s*\n", "\n", text).strip()


def _declared(tool: ToolSpec) -> dict[str, Any]:
    if tool.kind == "custom":
        out: dict[str, Any] = {"name": tool.name, "type": "custom", "description": _one_line(tool.description)}
        if tool.format:
            out["format"] = tool.format
        return out
    return {"name": tool.name, "description": _one_line(tool.description), "parameters": tool.parameters}


def tool_prompt(tools: list[ToolSpec], choice: ToolChoice) -> str:
    """The system text that declares the tools; empty when no tool may be called."""
    if choice.mode == "function":
        tools = [t for t in tools if t.name == choice.name]
    if not tools or choice.mode == "none":
        return ""
    if choice.mode == "function":
        rule = f"You MUST call the tool `{choice.name}` now."
    elif choice.mode == "required":
        rule = "You MUST call at least one tool now."
    else:
        rule = "Call a tool only when it helps; otherwise answer normally."
    lines = [
        "You can call the tools declared below (a JSON array of function definitions with JSON-schema parameters).",
        TOOLS_OPEN,
        json.dumps([_declared(t) for t in tools], ensure_ascii=False, separators=(",", ":")),
        TOOLS_CLOSE,
        rule,
        "To call a tool, answer with one block per call and no other text around it:",
        '<tool_call>{"name": "TOOL_NAME", "arguments": {"ARG": "VALUE"}}</tool_call>',
    ]
    if any(t.kind == "custom" for t in tools):
        lines += [
            'A tool of "type": "custom" takes free text instead of JSON arguments; call it with this block, the text '
            "on its own lines, written exactly as the tool's format (its grammar, when one is given) requires:",
            f'{CUSTOM_OPEN} name="TOOL_NAME">',
            "TEXT",
            CUSTOM_CLOSE,
        ]
    lines.append("Several blocks may follow each other for parallel calls. The arguments must be a JSON object "
                 "matching the tool's parameters. Tool results come back in later messages from role `tool`; "
                 "use them to answer the user.")
    return "\n".join(lines)


def call_block(name: str, arguments: str | dict[str, Any]) -> str:
    """An earlier call, replayed in the prompt in the form the model is asked to use."""
    args = arguments if isinstance(arguments, dict) else _loads_object(arguments) or {}
    return "<tool_call>" + json.dumps({"name": name, "arguments": args}, ensure_ascii=False) + "</tool_call>"


def custom_call_block(name: str, text: str) -> str:
    """An earlier call of a custom tool, replayed in the form the model is asked to use."""
    return f'{CUSTOM_OPEN} name="{name}">\n{text}\n{CUSTOM_CLOSE}'


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None
