"""Validation of an OpenAI Responses body (POST /v1/responses) into plain values and Messages.

Every rejection is a 400 whose `param` names the offending path, e.g. `input[2].content[0].image_url`.
Decisions where the Responses API leaves room:
- `input` items: messages (roles user, assistant, system, developer; parts `input_text`,
  `output_text`, `refusal`, `input_image`, `input_file`), `function_call` /
  `function_call_output` and `custom_tool_call` / `custom_tool_call_output`. `reasoning` items
  are skipped (Grok cannot resume a thought); any other item type (hosted tool calls,
  `item_reference`, …) is refused with a 400 naming it.
- Earlier calls are replayed as the blocks the model is asked to write (`<tool_call>`, or
  `<custom_tool_call>` for a custom tool; a namespaced function under `namespace.name`), merged
  into the assistant turn they belong to; their outputs become `tool` turns.
- `tools` may hold `custom` (free-text, e.g. Codex's `apply_patch`) and `namespace` tools
  (see grok2api.api.tools); hosted tools (web_search, …) are ignored.
- `text.format` `json_object` / `json_schema` is honoured in the prompt only (best effort, like
  tools): the model is asked for a bare JSON value; the answer is not validated.
- `reasoning.effort: "none"` turns thinking off; other efforts and `reasoning.summary` are
  accepted and echoed (Grok has no effort levels). `temperature`, `top_p`, `top_logprobs`,
  `truncation`, `include`, `user`, `prompt_cache_key`, `service_tier`, `metadata` and
  `parallel_tool_calls` are checked for type and echoed or ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..gateway.jobs import Message
from .tools import ToolChoice, ToolSpec, call_block, custom_call_block, parse_tool_choice, parse_tools
from .validate import (
    RESPONSES_FIELDS,
    AttachmentRef,
    bad,
    check_attachment_count,
    check_fields,
    file_data_ref,
    image_url_ref,
    json_object,
    model_name,
    optional,
    optional_int,
    optional_number,
    parts_text,
    string_or_empty,
)

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
UNSUPPORTED = {
    "background": "background responses are not supported; send the request without `background`.",
    "conversation": "conversations are not supported; use `previous_response_id`.",
    "prompt": "stored prompt templates are not supported; send `instructions` and `input`.",
}


@dataclass(slots=True)
class ResponsesRequest:
    model: str
    input: list[dict[str, Any]]  # the request's own items; a string input becomes one user message
    instructions: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    stream: bool = False
    max_output_tokens: int | None = None
    thinking: bool | None = None
    store: bool = True
    previous_response_id: str | None = None
    json_format: dict[str, Any] | None = None  # text.format when it asks for JSON
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the response object repeats


def parse_responses_request(raw: Any) -> ResponsesRequest:
    body = json_object(raw)
    for name, why in UNSUPPORTED.items():
        if body.get(name):
            raise bad(f"`{name}`: {why}", name)
    model = model_name(body)
    items = parse_input(body.get("input"))
    instructions = optional(body, "instructions", str, "a string")
    stream = optional(body, "stream", bool, "a boolean")
    store = optional(body, "store", bool, "a boolean")
    parallel = optional(body, "parallel_tool_calls", bool, "a boolean")
    previous = optional(body, "previous_response_id", str, "a string")
    metadata = optional(body, "metadata", dict, "an object of strings")
    if metadata and (len(metadata) > 16 or not all(isinstance(v, str) for v in metadata.values())):
        raise bad("`metadata` must be an object of at most 16 string values.", "metadata")
    for name in ("user", "prompt_cache_key", "safety_identifier", "service_tier"):
        optional(body, name, str, "a string")
    if body.get("include") is not None and not (
            isinstance(body["include"], list) and all(isinstance(v, str) for v in body["include"])):
        raise bad("`include` must be an array of strings.", "include")
    truncation = body.get("truncation")
    if truncation not in (None, "auto", "disabled"):
        raise bad('`truncation` must be "auto" or "disabled".', "truncation")
    temperature = optional_number(body, "temperature", 0, 2)
    top_p = optional_number(body, "top_p", 0, 1)
    optional_int(body, "top_logprobs", 0)
    optional_int(body, "max_tool_calls", 1)
    max_output = optional_int(body, "max_output_tokens", 1)
    tools = parse_tools(body.get("tools"), responses=True)
    reasoning, thinking = _reasoning(body.get("reasoning"))
    text, json_format = _text_config(body.get("text"))
    check_fields(body, RESPONSES_FIELDS)  # the fields read above have their own, more precise, messages
    return ResponsesRequest(
        model=model, input=items, instructions=instructions,
        tools=tools, tool_choice=parse_tool_choice(body.get("tool_choice"), tools),
        stream=bool(stream), max_output_tokens=max_output, thinking=thinking,
        store=store is not False, previous_response_id=previous or None, json_format=json_format,
        echo={
            "instructions": instructions, "tools": echo_tools(body.get("tools")),
            "tool_choice": body.get("tool_choice") or "auto",
            "parallel_tool_calls": parallel is not False, "previous_response_id": previous or None,
            "metadata": metadata or {}, "temperature": 1.0 if temperature is None else temperature,
            "top_p": 1.0 if top_p is None else top_p, "max_output_tokens": max_output, "text": text,
            "reasoning": reasoning, "store": store is not False, "truncation": truncation or "disabled",
            "user": body.get("user"), "prompt_cache_key": body.get("prompt_cache_key"),
        })


def echo_tools(tools: Any) -> list[Any]:
    """The declared tools as OpenAI echoes them: a function always carries `strict` and `parameters`
    (null when not sent; the arguments are not validated against the schema either way)."""
    out = []
    for tool in tools or []:
        if isinstance(tool, dict) and tool.get("type") == "function":
            tool = {**tool, "strict": tool.get("strict"), "parameters": tool.get("parameters")}
        out.append(tool)
    return out


def _reasoning(value: Any) -> tuple[dict[str, Any], bool | None]:
    if value is None:
        return {"effort": None, "summary": None}, None
    if not isinstance(value, dict):
        raise bad("`reasoning` must be an object.", "reasoning")
    effort = value.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise bad(f"`reasoning.effort` must be one of {', '.join(EFFORTS)}.", "reasoning.effort")
    summary = value.get("summary", value.get("generate_summary"))
    if summary is not None and summary not in ("auto", "concise", "detailed"):
        raise bad('`reasoning.summary` must be "auto", "concise" or "detailed".', "reasoning.summary")
    return {"effort": effort, "summary": summary}, (False if effort == "none" else None)


def _text_config(value: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if value is None:
        return {"format": {"type": "text"}}, None
    if not isinstance(value, dict):
        raise bad("`text` must be an object.", "text")
    fmt = value.get("format") or {"type": "text"}
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise bad('`text.format.type` must be "text", "json_object" or "json_schema".', "text.format.type")
    if fmt["type"] == "json_schema" and not isinstance(fmt.get("schema"), dict):
        raise bad("`text.format.schema` must be a JSON schema object.", "text.format.schema")
    verbosity = value.get("verbosity")
    if verbosity not in (None, "low", "medium", "high"):
        raise bad('`text.verbosity` must be "low", "medium" or "high".', "text.verbosity")
    echo: dict[str, Any] = {"format": fmt}
    if verbosity:
        echo["verbosity"] = verbosity
    return echo, (fmt if fmt["type"] != "text" else None)


def parse_input(value: Any) -> list[dict[str, Any]]:
    """The input items, with a string input turned into one user message."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise bad("`input` must be a string or a non-empty array of items.", "input")
    to_messages(value, "input")  # validates
    return value


def to_messages(items: list[Any], base: str, call_names: dict[str, str] | None = None,
                ) -> tuple[list[Message], list[AttachmentRef]]:
    """Conversation turns and attachments for a list of Responses items. `call_names` (call_id ->
    function name, to label tool results) carries over from replayed earlier turns."""
    messages: list[Message] = []
    attachments: list[AttachmentRef] = []
    call_names = {} if call_names is None else call_names
    assistant_open = False  # the last turn is an assistant turn that later calls may join
    for i, raw in enumerate(items):
        p = f"{base}[{i}]"
        if not isinstance(raw, dict):
            raise bad(f"`{p}` must be an object.", p)
        kind = raw.get("type", "message")
        if kind == "reasoning":
            continue
        if kind == "message":
            role = raw.get("role")
            if role not in ROLES:
                raise bad(f"`{p}.role` must be one of user, assistant, system, developer; got {role!r}.",
                           f"{p}.role")
            text = _content_text(raw.get("content"), role, f"{p}.content", attachments)
            messages.append(Message(role=ROLES[role], text=text))
            assistant_open = role == "assistant"
        elif kind in ("function_call", "custom_tool_call"):
            block = _call_block(raw, kind, p, call_names)
            if assistant_open:
                last = messages[-1]
                last.text = (last.text + "\n" if last.text else "") + block
            else:
                messages.append(Message(role="assistant", text=block))
            assistant_open = True
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = _string(raw, "call_id", p)
            text = _output_text(raw.get("output"), f"{p}.output", attachments)
            messages.append(Message(role="tool", text=text, name=call_names.get(call_id, "")))
            assistant_open = False
        else:
            raise bad(f"`{p}.type` {kind!r} is not supported: send message, function_call, "
                      "function_call_output, custom_tool_call, custom_tool_call_output or reasoning items.",
                      f"{p}.type")
    check_attachment_count(attachments)
    return messages, attachments


def _call_block(raw: dict[str, Any], kind: str, p: str, call_names: dict[str, str]) -> str:
    """An earlier call as the block the model writes; remembers its name for the result's label."""
    name, call_id = _string(raw, "name", p), _string(raw, "call_id", p)
    namespace = raw.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise bad(f"`{p}.namespace` must be a string.", f"{p}.namespace")
    if namespace:
        name = f"{namespace}.{name}"
    call_names[call_id] = name
    if kind == "custom_tool_call":
        return custom_call_block(name, _string(raw, "input", p))
    return call_block(name, _string(raw, "arguments", p))


def _string(raw: dict[str, Any], key: str, p: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise bad(f"`{p}.{key}` is required and must be a string.", f"{p}.{key}")
    return value


def _output_text(value: Any, p: str, attachments: list[AttachmentRef]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _parts_text(value, "user", p, attachments)
    raise bad(f"`{p}` must be a string or an array of content parts.", p)


def _content_text(content: Any, role: str, p: str, attachments: list[AttachmentRef]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return _parts_text(content, role, p, attachments)
    raise bad(f"`{p}` must be a string or an array of content parts.", p)


def _parts_text(parts: list[Any], role: str, param: str, attachments: list[AttachmentRef]) -> str:
    return parts_text(parts, role, param, attachments, text_kinds=("input_text", "output_text", "text", "refusal"),
                      media={"input_image": _image_ref, "input_file": _file_ref})


def _image_ref(part: dict[str, Any], p: str) -> AttachmentRef:
    url = part.get("image_url")
    if url is None and part.get("file_id") is not None:
        raise bad(f"`{p}.file_id`: uploaded file ids are not supported; send `image_url` "
                  "(an http(s) or data: URL).", f"{p}.file_id")
    return image_url_ref(url, f"{p}.image_url")


def _file_ref(part: dict[str, Any], p: str) -> AttachmentRef:
    filename = string_or_empty(part.get("filename"))
    if part.get("file_data") is not None:
        return file_data_ref(part["file_data"], f"{p}.file_data", filename)
    url = part.get("file_url")
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return AttachmentRef(param=f"{p}.file_url", url=url, kind="file", filename=filename)
    if part.get("file_id") is not None:
        raise bad(f"`{p}.file_id`: uploaded file ids are not supported; send `file_data`.", f"{p}.file_id")
    raise bad(f"`{p}` needs `file_data` (base64 or data: URL) or an http(s) `file_url`.", p)
