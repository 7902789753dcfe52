"""Validation of an OpenAI chat-completions body into plain values (no I/O, no OpenAI shapes after it).

Every rejection is a 400 whose `param` names the offending path, e.g.
`messages[2].content[1].image_url`. Fields the Grok web app cannot honour are checked for type
and range and then ignored (`temperature`, `top_p`, penalties, `seed`, `stop`, `logit_bias`,
`logprobs`, `response_format`, `user`, `metadata`, `store`, `reasoning_effort`, …), so
clients that always send them keep working. `tools` and `tool_choice` are emulated in the
prompt (grok2api.api.tools); earlier calls and their results are replayed as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..gateway.jobs import Message, VideoOptions
from .tools import ToolChoice, ToolSpec, call_block, parse_tool_choice, parse_tools
from .validate import (
    CHAT_FIELDS,
    AttachmentRef,
    bad,
    check_attachment_count,
    check_fields,
    file_data_ref,
    image_url_ref,
    json_object,
    model_name,
    optional,
    optional_bool,
    optional_int,
    optional_number,
    parts_text,
    string_or_empty,
)

ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant",
         "tool": "tool", "function": "tool"}
VIDEO_ASPECTS = ("16:9", "9:16", "1:1", "2:3", "3:2")
VIDEO_LENGTHS = (6, 10)
VIDEO_RESOLUTIONS = ("480p", "720p")
VIDEO_PRESETS = ("fun", "normal", "spicy", "custom")


@dataclass(slots=True)
class ChatCompletionsRequest:
    """A validated POST /v1/chat/completions body."""

    model: str
    messages: list[Message]
    attachments: list[AttachmentRef] = field(default_factory=list)
    stream: bool = True
    include_usage: bool = False
    thinking: bool | None = None  # None: the server default (chat.thinking)
    max_tokens: int | None = None
    video: VideoOptions | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)


def parse_thinking(value: Any) -> bool | None:
    """`thinking`: "enabled"/"disabled" (seed), a boolean, or Anthropic's {"type": ...}."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str) and value.lower() in ("enabled", "disabled"):
        return value.lower() == "enabled"
    raise bad('`thinking` must be "enabled", "disabled" or null.', "thinking")


def parse_video_config(value: Any) -> VideoOptions | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("`video_config` must be an object.", "video_config")
    aspect = value.get("aspect_ratio", "16:9")
    if aspect not in VIDEO_ASPECTS:
        raise bad(f"`video_config.aspect_ratio` must be one of {', '.join(VIDEO_ASPECTS)}.",
                   "video_config.aspect_ratio")
    seconds = value.get("video_length", 6)
    if isinstance(seconds, bool) or seconds not in VIDEO_LENGTHS:
        raise bad("`video_config.video_length` must be 6 or 10.", "video_config.video_length")
    resolution = value.get("resolution_name", "480p")
    if resolution not in VIDEO_RESOLUTIONS:
        raise bad("`video_config.resolution_name` must be 480p or 720p.", "video_config.resolution_name")
    preset = value.get("preset", "normal")
    if preset not in VIDEO_PRESETS:
        raise bad(f"`video_config.preset` must be one of {', '.join(VIDEO_PRESETS)}.", "video_config.preset")
    return VideoOptions(aspect_ratio=aspect, seconds=seconds, resolution=resolution, preset=preset)


def parse_chat_request(raw: Any, default_stream: bool) -> ChatCompletionsRequest:
    body = json_object(raw)
    model = model_name(body)
    n = optional_int(body, "n", 1)
    if n is not None and n > 1:
        raise bad("`n` greater than 1 is not supported: send one request per completion.", "n")
    stream = optional_bool(body, "stream")
    options: dict[str, Any] = optional(body, "stream_options", dict, "an object") or {}
    include_usage = options.get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise bad("`stream_options.include_usage` must be a boolean.", "stream_options.include_usage")
    optional_number(body, "temperature", 0, 2)
    optional_number(body, "top_p", 0, 1)
    optional_number(body, "presence_penalty", -2, 2)
    optional_number(body, "frequency_penalty", -2, 2)
    max_tokens = optional_int(body, "max_completion_tokens", 1)
    legacy_max = optional_int(body, "max_tokens", 1)
    optional(body, "reasoning_effort", str, "a string")
    messages, attachments = parse_messages(body.get("messages"))
    tools = parse_tools(body.get("tools"))
    optional_bool(body, "parallel_tool_calls")
    check_fields(body, CHAT_FIELDS)  # the fields read above have their own, more precise, messages
    return ChatCompletionsRequest(
        model=model,
        messages=messages,
        attachments=attachments,
        stream=default_stream if stream is None else stream,
        include_usage=bool(include_usage),
        thinking=parse_thinking(body.get("thinking")),
        max_tokens=max_tokens if max_tokens is not None else legacy_max,
        video=parse_video_config(body.get("video_config")),
        tools=tools,
        tool_choice=parse_tool_choice(body.get("tool_choice"), tools),
    )


def parse_messages(value: Any) -> tuple[list[Message], list[AttachmentRef]]:
    if not isinstance(value, list) or not value:
        raise bad("`messages` must be a non-empty array.", "messages")
    messages: list[Message] = []
    attachments: list[AttachmentRef] = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name, to label tool results
    for i, raw in enumerate(value):
        param = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise bad(f"`{param}` must be an object.", param)
        role = raw.get("role")
        if role not in ROLES:
            raise bad(f"`{param}.role` must be one of developer, system, user, assistant, tool; "
                       f"got {role!r}.", f"{param}.role")
        text = _content_text(raw, role, param, attachments, call_names)
        name = string_or_empty(raw.get("name"))
        if role in ("tool", "function"):
            call_id = raw.get("tool_call_id")
            if call_id is not None and not isinstance(call_id, str):
                raise bad(f"`{param}.tool_call_id` must be a string.", f"{param}.tool_call_id")
            name = call_names.get(call_id or "", name or call_id or "")
        messages.append(Message(role=ROLES[role], text=text, name=name))
    check_attachment_count(attachments)
    return messages, attachments


def _content_text(raw: dict[str, Any], role: str, param: str, attachments: list[AttachmentRef],
                  call_names: dict[str, str]) -> str:
    content = raw.get("content")
    calls = raw.get("tool_calls") if role == "assistant" else None
    if calls is not None and not isinstance(calls, list):
        raise bad(f"`{param}.tool_calls` must be an array.", f"{param}.tool_calls")
    if content is None:
        if calls or role == "assistant":
            return _tool_calls_text(calls or [], param, call_names)
        raise bad(f"`{param}.content` is required.", f"{param}.content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = _parts_text(content, role, f"{param}.content", attachments)
    else:
        raise bad(f"`{param}.content` must be a string or an array of content parts.", f"{param}.content")
    if calls:
        text = (text + "\n" if text else "") + _tool_calls_text(calls, param, call_names)
    return text


def _tool_calls_text(calls: list[Any], param: str, call_names: dict[str, str]) -> str:
    # Earlier tool calls are replayed as the blocks the model is asked to write: the web app has
    # no structured tool history, and seeing its own format keeps the model writing it.
    blocks = []
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad(f"`{param}.tool_calls[{j}].function.name` is required.",
                       f"{param}.tool_calls[{j}].function.name")
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = fn["name"]
        blocks.append(call_block(fn["name"], fn.get("arguments") or "{}"))
    return "\n".join(blocks)


def _parts_text(parts: list[Any], role: str, param: str, attachments: list[AttachmentRef]) -> str:
    return parts_text(parts, role, param, attachments, text_kinds=("text", "input_text", "refusal"),
                      media={"image_url": _image_part, "file": _file_part}, bare_strings=True)


def _image_part(part: dict[str, Any], p: str) -> AttachmentRef:
    image = part.get("image_url")
    return image_url_ref(image.get("url") if isinstance(image, dict) else image, f"{p}.image_url")


def _file_part(part: dict[str, Any], p: str) -> AttachmentRef:
    p, file = f"{p}.file", part.get("file")
    if not isinstance(file, dict):
        raise bad(f"`{p}` must be an object with `file_data` or `url`.", p)
    filename = string_or_empty(file.get("filename"))
    if file.get("file_data") is not None:
        return file_data_ref(file["file_data"], f"{p}.file_data", filename)
    url = file.get("url")
    if isinstance(url, str) and url.lower().startswith(("http://", "https://", "data:")):
        return AttachmentRef(param=f"{p}.url", url=url, kind="file", filename=filename)
    if file.get("file_id") is not None:
        raise bad(f"`{p}.file_id`: uploaded file ids are not supported; send `file_data`.", f"{p}.file_id")
    raise bad(f"`{p}` needs `file_data` (base64 or data: URL) or an http(s) `url`.", p)
