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

from ..errors import InvalidRequest
from ..gateway.jobs import Message, VideoOptions
from .tools import ToolChoice, ToolSpec, call_block, parse_tool_choice, parse_tools

ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant",
         "tool": "tool", "function": "tool"}
MAX_ATTACHMENTS = 16
VIDEO_ASPECTS = ("16:9", "9:16", "1:1", "2:3", "3:2")
VIDEO_LENGTHS = (6, 10)
VIDEO_RESOLUTIONS = ("480p", "720p")
VIDEO_PRESETS = ("fun", "normal", "spicy", "custom")


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file named in a message, not fetched yet."""

    param: str  # where it was, for error messages
    url: str  # http(s) or data: URL, or bare base64 for `file.file_data`
    kind: str  # "image" | "file"
    filename: str = ""


@dataclass(slots=True)
class ChatRequest:
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


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _optional_number(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"`{name}` must be a number.", name)
    if not lo <= value <= hi:
        raise _bad(f"`{name}` must be between {lo:g} and {hi:g}, got {value}.", name)


def _optional_int(body: dict[str, Any], name: str, lo: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"`{name}` must be an integer.", name)
    if value < lo:
        raise _bad(f"`{name}` must be at least {lo}, got {value}.", name)
    return value


def _optional_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"`{name}` must be a boolean.", name)
    return value


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
    raise _bad('`thinking` must be "enabled", "disabled" or null.', "thinking")


def parse_video_config(value: Any) -> VideoOptions | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("`video_config` must be an object.", "video_config")
    aspect = value.get("aspect_ratio", "16:9")
    if aspect not in VIDEO_ASPECTS:
        raise _bad(f"`video_config.aspect_ratio` must be one of {', '.join(VIDEO_ASPECTS)}.",
                   "video_config.aspect_ratio")
    seconds = value.get("video_length", 6)
    if isinstance(seconds, bool) or seconds not in VIDEO_LENGTHS:
        raise _bad("`video_config.video_length` must be 6 or 10.", "video_config.video_length")
    resolution = value.get("resolution_name", "480p")
    if resolution not in VIDEO_RESOLUTIONS:
        raise _bad("`video_config.resolution_name` must be 480p or 720p.", "video_config.resolution_name")
    preset = value.get("preset", "normal")
    if preset not in VIDEO_PRESETS:
        raise _bad(f"`video_config.preset` must be one of {', '.join(VIDEO_PRESETS)}.", "video_config.preset")
    return VideoOptions(aspect_ratio=aspect, seconds=seconds, resolution=resolution, preset=preset)


def parse_chat_request(body: Any, default_stream: bool) -> ChatRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.", "")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("`model` is required and must be a string.", "model")
    n = _optional_int(body, "n", 1)
    if n is not None and n > 1:
        raise _bad("`n` greater than 1 is not supported: send one request per completion.", "n")
    stream = _optional_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("`stream_options` must be an object.", "stream_options")
    include_usage = (options or {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise _bad("`stream_options.include_usage` must be a boolean.", "stream_options.include_usage")
    _optional_number(body, "temperature", 0, 2)
    _optional_number(body, "top_p", 0, 1)
    _optional_number(body, "presence_penalty", -2, 2)
    _optional_number(body, "frequency_penalty", -2, 2)
    max_tokens = _optional_int(body, "max_completion_tokens", 1)
    legacy_max = _optional_int(body, "max_tokens", 1)
    if body.get("reasoning_effort") is not None and not isinstance(body["reasoning_effort"], str):
        raise _bad("`reasoning_effort` must be a string.", "reasoning_effort")
    messages, attachments = parse_messages(body.get("messages"))
    tools = parse_tools(body.get("tools"))
    if body.get("parallel_tool_calls") is not None and not isinstance(body["parallel_tool_calls"], bool):
        raise _bad("`parallel_tool_calls` must be a boolean.", "parallel_tool_calls")
    return ChatRequest(
        model=model.strip(),
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
        raise _bad("`messages` must be a non-empty array.", "messages")
    messages: list[Message] = []
    attachments: list[AttachmentRef] = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name, to label tool results
    for i, raw in enumerate(value):
        param = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise _bad(f"`{param}` must be an object.", param)
        role = raw.get("role")
        if role not in ROLES:
            raise _bad(f"`{param}.role` must be one of developer, system, user, assistant, tool; "
                       f"got {role!r}.", f"{param}.role")
        text = _content_text(raw, role, param, attachments, call_names)
        name = raw.get("name") if isinstance(raw.get("name"), str) else ""
        if role in ("tool", "function"):
            call_id = raw.get("tool_call_id")
            if call_id is not None and not isinstance(call_id, str):
                raise _bad(f"`{param}.tool_call_id` must be a string.", f"{param}.tool_call_id")
            name = call_names.get(call_id or "", name or call_id or "")
        messages.append(Message(role=ROLES[role], text=text, name=name))
    if len(attachments) > MAX_ATTACHMENTS:
        raise _bad(f"At most {MAX_ATTACHMENTS} images or files per request.", attachments[-1].param)
    return messages, attachments


def _content_text(raw: dict[str, Any], role: str, param: str, attachments: list[AttachmentRef],
                  call_names: dict[str, str]) -> str:
    content = raw.get("content")
    calls = raw.get("tool_calls") if role == "assistant" else None
    if calls is not None and not isinstance(calls, list):
        raise _bad(f"`{param}.tool_calls` must be an array.", f"{param}.tool_calls")
    if content is None:
        if calls or role == "assistant":
            return _tool_calls_text(calls or [], param, call_names)
        raise _bad(f"`{param}.content` is required.", f"{param}.content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = _parts_text(content, role, f"{param}.content", attachments)
    else:
        raise _bad(f"`{param}.content` must be a string or an array of content parts.", f"{param}.content")
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
            raise _bad(f"`{param}.tool_calls[{j}].function.name` is required.",
                       f"{param}.tool_calls[{j}].function.name")
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = fn["name"]
        blocks.append(call_block(fn["name"], fn.get("arguments") or "{}"))
    return "\n".join(blocks)


def _parts_text(parts: list[Any], role: str, param: str, attachments: list[AttachmentRef]) -> str:
    texts: list[str] = []
    for j, part in enumerate(parts):
        p = f"{param}[{j}]"
        if isinstance(part, str):  # some clients send bare strings as parts
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise _bad(f"`{p}` must be an object.", p)
        kind = part.get("type")
        if kind in ("text", "input_text", "refusal"):
            value = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(value, str):
                raise _bad(f"`{p}.text` must be a string.", f"{p}.text")
            texts.append(value)
        elif kind == "image_url":
            _require_user(role, p, "image_url")
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url.lower().startswith(("http://", "https://", "data:")):
                raise _bad(f"`{p}.image_url` must be an http(s) or data: URL.", f"{p}.image_url")
            if url.lower().startswith("data:") and not url[5:].lower().startswith("image/"):
                raise _bad(f"`{p}.image_url` data: URL must hold an image.", f"{p}.image_url")
            attachments.append(AttachmentRef(param=f"{p}.image_url", url=url, kind="image"))
        elif kind == "file":
            _require_user(role, p, "file")
            attachments.append(_file_ref(part.get("file"), f"{p}.file"))
        elif kind in ("input_audio", "audio"):
            raise _bad(f"`{p}`: audio input is not supported by this server.", p)
        else:
            raise _bad(f"`{p}.type` must be text, image_url or file; got {kind!r}.", f"{p}.type")
    return "\n".join(texts)


def _require_user(role: str, p: str, kind: str) -> None:
    if role != "user":
        raise _bad(f"`{p}`: {kind} parts are only allowed in user messages.", p)


def _file_ref(file: Any, p: str) -> AttachmentRef:
    if not isinstance(file, dict):
        raise _bad(f"`{p}` must be an object with `file_data` or `url`.", p)
    filename = file.get("filename") if isinstance(file.get("filename"), str) else ""
    if file.get("file_data") is not None:
        data = file["file_data"]
        if not isinstance(data, str) or not data:
            raise _bad(f"`{p}.file_data` must be a base64 string or data: URL.", f"{p}.file_data")
        if not data.startswith("data:"):
            data = "data:application/octet-stream;base64," + data
        return AttachmentRef(param=f"{p}.file_data", url=data, kind="file", filename=filename)
    url = file.get("url")
    if isinstance(url, str) and url.lower().startswith(("http://", "https://", "data:")):
        return AttachmentRef(param=f"{p}.url", url=url, kind="file", filename=filename)
    if file.get("file_id") is not None:
        raise _bad(f"`{p}.file_id`: uploaded file ids are not supported; send `file_data`.", f"{p}.file_id")
    raise _bad(f"`{p}` needs `file_data` (base64 or data: URL) or an http(s) `url`.", p)
