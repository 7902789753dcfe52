"""Shared reading of client bodies: typed field readers, content parts and attachment references.

The body itself is read and checked once by edge/body.py (size, time, UTF-8, JSON, depth, numbers,
lone surrogates); what is here checks fields. Every reader returns a plain value or raises
InvalidRequest (400) whose message names the path in backticks and whose `param` is that path (the
Anthropic envelope has no `param`; the message still says where). Absent (None) optional fields
read as None; nothing here does I/O.

The rule for fields a surface knows but Grok's web app cannot honour (`seed`, `stop`, `logit_bias`,
`user`, `response_format`, ...): each surface lists them with their JSON kinds (`*_FIELDS`);
`check_fields` refuses a present, non-null value of another kind with a 400 naming the field, and
they are then ignored, never passed on. Fields a surface does not list are ignored unread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest

MAX_ATTACHMENTS = 16
URL_SCHEMES = ("http://", "https://", "data:")


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file named in a message, not fetched yet."""

    param: str  # where it was, for error messages
    url: str  # http(s) or data: URL, or bare base64 for `file.file_data`
    kind: str  # "image" | "file"
    filename: str = ""


def bad(message: str, param: str | None = None, *, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


# -- the body and its fields ----------------------------------------------------------------
def json_object(body: Any) -> dict[str, Any]:
    """The body itself: a JSON object."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", "")  # the path of the body itself
    return body


def model_name(body: dict[str, Any]) -> str:
    """The required `model`, stripped."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("`model` is required and must be a string.", "model")
    return model.strip()


def integer(value: Any, param: str, lo: int) -> int:
    """A required integer of at least `lo` (booleans are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"`{param}` must be an integer.", param)
    if value < lo:
        raise bad(f"`{param}` must be at least {lo}, got {value}.", param)
    return value


def number(value: Any, param: str, lo: float, hi: float) -> float:
    """A required number within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"`{param}` must be a number.", param)
    if not lo <= value <= hi:
        raise bad(f"`{param}` must be between {lo:g} and {hi:g}, got {value}.", param)
    return value


def optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """`body[name]` when it is a `kind` (what = "a string", "an object", ...), None when absent."""
    value = body.get(name)
    if value is not None and (isinstance(value, bool) and kind is not bool or not isinstance(value, kind)):
        raise bad(f"`{name}` must be {what}.", name)
    return value


def optional_int(body: dict[str, Any], name: str, lo: int) -> int | None:
    value = body.get(name)
    return None if value is None else integer(value, name, lo)


def optional_number(body: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = body.get(name)
    return None if value is None else number(value, name, lo, hi)


def optional_bool(body: dict[str, Any], name: str) -> bool | None:
    value: bool | None = optional(body, name, bool, "a boolean")
    return value


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value: str | None = optional(body, name, str, "a string")
    return value


def string_or_empty(value: Any) -> str:
    """A free-text field clients fill loosely (a file name, a display name): "" unless a string."""
    return value if isinstance(value, str) else ""


# -- the documented fields of each surface ------------------------------------------------------
_KINDS: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                       "boolean": (bool,), "object": (dict,), "array": (list,)}
Fields = Mapping[str, tuple[str, ...]]

# POST /v1/chat/completions (OpenAI's list, plus the seed's `thinking` and `video_config`).
CHAT_FIELDS: Fields = {
    "model": ("string",), "messages": ("array",), "stream": ("boolean",), "stream_options": ("object",),
    "temperature": ("number",), "top_p": ("number",), "n": ("integer",), "seed": ("integer",),
    "stop": ("string", "array"), "max_tokens": ("integer",), "max_completion_tokens": ("integer",),
    "presence_penalty": ("number",), "frequency_penalty": ("number",), "logit_bias": ("object",),
    "logprobs": ("boolean",), "top_logprobs": ("integer",), "user": ("string",), "metadata": ("object",),
    "store": ("boolean",), "response_format": ("object",), "service_tier": ("string",),
    "reasoning_effort": ("string",), "modalities": ("array",), "audio": ("object",), "prediction": ("object",),
    "tools": ("array",), "tool_choice": ("string", "object"), "parallel_tool_calls": ("boolean",),
    "functions": ("array",), "function_call": ("string", "object"), "verbosity": ("string",),
    "web_search_options": ("object",), "prompt_cache_key": ("string",), "safety_identifier": ("string",),
    "thinking": ("string", "boolean", "object"), "video_config": ("object",),
}
# POST /v1/responses.
RESPONSES_FIELDS: Fields = {
    "model": ("string",), "input": ("string", "array"), "instructions": ("string",), "stream": ("boolean",),
    "stream_options": ("object",), "tools": ("array",), "tool_choice": ("string", "object"),
    "parallel_tool_calls": ("boolean",), "max_output_tokens": ("integer",), "max_tool_calls": ("integer",),
    "temperature": ("number",), "top_p": ("number",), "top_logprobs": ("integer",), "reasoning": ("object",),
    "text": ("object",), "metadata": ("object",), "store": ("boolean",), "previous_response_id": ("string",),
    "user": ("string",), "truncation": ("string",), "include": ("array",), "service_tier": ("string",),
    "prompt_cache_key": ("string",), "safety_identifier": ("string",), "background": ("boolean",),
    "conversation": ("string", "object"), "prompt": ("object",),
}
# POST /v1/messages and /v1/messages/count_tokens.
MESSAGES_FIELDS: Fields = {
    "model": ("string",), "messages": ("array",), "max_tokens": ("integer",), "system": ("string", "array"),
    "metadata": ("object",), "stop_sequences": ("array",), "stream": ("boolean",), "temperature": ("number",),
    "top_p": ("number",), "top_k": ("integer",), "tools": ("array",), "tool_choice": ("object",),
    "thinking": ("object",), "service_tier": ("string",), "container": ("string", "object"),
    "mcp_servers": ("array",), "context_management": ("object",), "output_config": ("object",),
}
# POST /v1/images/generations and /v1/images/edits (JSON).
IMAGES_FIELDS: Fields = {
    "model": ("string",), "prompt": ("string",), "n": ("integer",), "size": ("string",), "quality": ("string",),
    "response_format": ("string",), "style": ("string",), "user": ("string",), "background": ("string",),
    "moderation": ("string",), "output_format": ("string",), "output_compression": ("integer",),
    "stream": ("boolean",), "partial_images": ("integer",), "aspect_ratio": ("string",),
    "image": ("string", "array", "object"), "mask": ("string", "object"), "input_fidelity": ("string",),
}
# POST /v1/videos and /v1/videos/generations.
VIDEOS_FIELDS: Fields = {
    "model": ("string",), "prompt": ("string",), "seconds": ("string", "integer"), "size": ("string",),
    "aspect_ratio": ("string",), "video_length": ("integer", "string"), "resolution": ("string",),
    "resolution_name": ("string",), "preset": ("string",), "input_reference": ("string", "object"),
    "image": ("string", "object"), "image_url": ("string", "object"), "stream": ("boolean",), "user": ("string",),
}


def _kind_ok(value: Any, kinds: tuple[str, ...]) -> bool:
    if isinstance(value, bool):
        return "boolean" in kinds
    return any(isinstance(value, _KINDS[k]) for k in kinds)


def _kinds_text(kinds: tuple[str, ...]) -> str:
    words = [f"an {k}" if k[0] in "aeiou" else f"a {k}" for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_fields(body: dict[str, Any], fields: Fields) -> None:
    """Each listed field, when present and not null, is of one of its JSON kinds (else a 400 naming
    it); `stop`/`stop_sequences` hold strings, `logit_bias` numbers, `metadata` strings."""
    for name, kinds in fields.items():
        value = body.get(name)
        if value is None:
            continue
        if not _kind_ok(value, kinds):
            raise bad(f"`{name}` must be {_kinds_text(kinds)}.", name)
        if name in ("stop", "stop_sequences") and isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise bad(f"`{name}[{i}]` must be a string.", f"{name}[{i}]")
        elif name == "logit_bias":
            for key, item in value.items():
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    raise bad(f"`logit_bias.{key}` must be a number.", f"logit_bias.{key}")
        elif name == "metadata" and fields is not MESSAGES_FIELDS:
            for key, item in value.items():
                if not isinstance(item, str):
                    raise bad(f"`metadata.{key}` must be a string.", f"metadata.{key}")


# -- content parts ----------------------------------------------------------------------------
# Reads one media part (already known to be a dict, in a user turn) into an attachment reference.
PartReader = Callable[[dict[str, Any], str], AttachmentRef]


def require_user(role: str, param: str, kind: str) -> None:
    if role != "user":
        raise bad(f"`{param}`: {kind} parts are only allowed in user messages.", param)


def parts_text(parts: list[Any], role: str, param: str, attachments: list[AttachmentRef], *,
               text_kinds: tuple[str, ...], media: Mapping[str, PartReader], bare_strings: bool = False) -> str:
    """The text of a content-part array (its text parts joined by newlines); media parts, allowed in
    user turns only, are appended to `attachments`. Audio is refused; so is any other part type."""
    texts: list[str] = []
    for j, part in enumerate(parts):
        p = f"{param}[{j}]"
        if bare_strings and isinstance(part, str):  # some clients send bare strings as parts
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise bad(f"`{p}` must be an object.", p)
        kind = part.get("type")
        if kind in text_kinds:
            value = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(value, str):
                raise bad(f"`{p}.text` must be a string.", f"{p}.text")
            texts.append(value)
        elif isinstance(kind, str) and kind in media:
            require_user(role, p, kind)
            attachments.append(media[kind](part, p))
        elif kind in ("input_audio", "audio"):
            raise bad(f"`{p}`: audio input is not supported by this server.", p)
        else:
            kinds = [*text_kinds, *media]
            raise bad(f"`{p}.type` must be {', '.join(kinds[:-1])} or {kinds[-1]}; got {kind!r}.", f"{p}.type")
    return "\n".join(texts)


def image_url_ref(url: Any, param: str) -> AttachmentRef:
    """An image named by an http(s) URL or a data: URL holding an image."""
    if not isinstance(url, str) or not url.lower().startswith(URL_SCHEMES):
        raise bad(f"`{param}` must be an http(s) or data: URL.", param)
    if url.lower().startswith("data:") and not url[5:].lower().startswith("image/"):
        raise bad(f"`{param}` data: URL must hold an image.", param)
    return AttachmentRef(param=param, url=url, kind="image")


def file_data_ref(data: Any, param: str, filename: str) -> AttachmentRef:
    """A file sent inline: a data: URL, or bare base64 (typed application/octet-stream)."""
    if not isinstance(data, str) or not data:
        raise bad(f"`{param}` must be a base64 string or data: URL.", param)
    if not data.startswith("data:"):
        data = "data:application/octet-stream;base64," + data
    return AttachmentRef(param=param, url=data, kind="file", filename=filename)


def check_attachment_count(attachments: list[AttachmentRef]) -> None:
    if len(attachments) > MAX_ATTACHMENTS:
        raise bad(f"At most {MAX_ATTACHMENTS} images or files per request.", attachments[-1].param)
