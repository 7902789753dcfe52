"""Validation of an Anthropic Messages body into the shared `Ask` (no I/O, no wire shapes after it).

Anthropic errors carry no `param`, so every message names the offending path, e.g.
`messages[1].content[0].source.data`. Decisions where the API leaves room:
- `system` and `messages` become our neutral turns; `tool_use` blocks are replayed as the call
  blocks the model is asked to write, `tool_result` blocks become `tool` turns labelled with the
  function's name (`is_error` results start with "Error: "); `thinking` / `redacted_thinking`
  blocks on input are dropped (Grok cannot verify their signatures and does not need them).
- A `system` role inside `messages` is kept in place as a system turn, not refused: Anthropic's
  schema has only user/assistant, but recent Claude Code 2.1.x versions send mid-conversation system turns
  (and clients ported from OpenAI send one first); refusing them breaks Claude Code (chenyme#595).
- `temperature`, `top_p`, `top_k` are checked and ignored; `stop_sequences` are honoured by the
  caller (the answer is cut at the first one); `metadata`, `service_tier`, `container`,
  `mcp_servers` and `cache_control` on blocks are accepted and ignored.
- `thinking.type` "enabled" / "adaptive" shows reasoning as thinking blocks; without `thinking`
  (as in Anthropic's API) or with "disabled" none are shown; `budget_tokens` is checked but Grok
  has no thinking budget.
- `output_config.format` (`json_schema`, as Claude Code sends for its title call; also the older
  top-level `output_format`) is asked for in the prompt, like Responses' `text.format`: a system
  turn after `system` asks for bare JSON matching the schema; the answer is not validated.
  `output_config.effort` is checked and ignored (Grok has no effort levels), as is `task_budget`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..gateway.jobs import Message
from .answer import Ask
from .jsonformat import json_format_prompt
from .tools import call_block, parse_tool_choice, parse_tools
from .validate import MESSAGES_FIELDS, AttachmentRef, bad, check_fields, integer, json_object, model_name, optional_number

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MAX_STOP_SEQUENCES = 16


@dataclass(slots=True)
class MessagesRequest:
    ask: Ask
    stop_sequences: list[str] = field(default_factory=list)


def parse_thinking(value: Any) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("enabled", "disabled", "adaptive"):
        raise bad('thinking: must be {"type": "enabled", "budget_tokens": N}, {"type": "adaptive"} '
                   'or {"type": "disabled"}.')
    if value["type"] == "enabled" and "budget_tokens" in value:
        integer(value["budget_tokens"], "thinking.budget_tokens", 1)
    return value["type"] != "disabled"


def parse_messages_request(raw: Any, *, count_only: bool = False) -> MessagesRequest:
    """`count_only` is for /v1/messages/count_tokens, which takes the same body without max_tokens."""
    body = json_object(raw)
    model = model_name(body)
    max_tokens = None
    if not count_only:
        if body.get("max_tokens") is None:
            raise bad("max_tokens: Field required.")
        max_tokens = integer(body["max_tokens"], "max_tokens", 1)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream: must be a boolean.")
    optional_number(body, "temperature", 0, 1)
    optional_number(body, "top_p", 0, 1)
    if body.get("top_k") is not None:
        integer(body["top_k"], "top_k", 0)
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        raise bad("metadata: must be an object.")
    stops = body.get("stop_sequences") or []
    if (not isinstance(stops, list) or len(stops) > MAX_STOP_SEQUENCES
            or not all(isinstance(s, str) and s for s in stops)):
        raise bad(f"stop_sequences: must be a list of at most {MAX_STOP_SEQUENCES} non-empty strings.")
    tools = parse_tools(body.get("tools"))
    attachments: list[AttachmentRef] = []
    output = _output_format(body.get("output_config"), body.get("output_format"))
    formats = [Message(role="system", text=json_format_prompt(output))] if output else []
    messages = _system(body.get("system")) + formats + _turns(body.get("messages"), attachments)
    thinking = parse_thinking(body.get("thinking"))
    # As with Anthropic's API, thinking blocks come only when asked for (clients read content[0]
    # as the text); a thinking model still thinks upstream, its reasoning is just not shown.
    ask = Ask(model=model, messages=messages, attachments=attachments, stream=stream,
              thinking=thinking, max_tokens=max_tokens, tools=tools,
              tool_choice=parse_tool_choice(body.get("tool_choice"), tools), think_tags=False,
              show_reasoning=thinking is True)
    check_fields(body, MESSAGES_FIELDS)  # after the checks above, whose wording is Anthropic's
    return MessagesRequest(ask=ask, stop_sequences=stops)


def _output_format(config: Any, legacy: Any) -> dict[str, Any] | None:
    """The JSON format asked for in `output_config.format` (or the older `output_format`)."""
    if config is not None and not isinstance(config, dict):
        raise bad("output_config: must be an object.")
    config = config or {}
    effort = config.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise bad(f"output_config.effort: must be one of {', '.join(EFFORTS)}.")
    if config.get("task_budget") is not None and not isinstance(config["task_budget"], dict):
        raise bad("output_config.task_budget: must be an object.")
    fmt, where = (config.get("format"), "output_config.format")
    if fmt is None and legacy is not None:
        fmt, where = legacy, "output_format"
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise bad(f'{where}.type: must be "json_schema".')
    if not isinstance(fmt.get("schema"), dict):
        raise bad(f"{where}.schema: must be a JSON schema object.")
    return fmt


def _system(value: Any, param: str = "system") -> list[Message]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Message(role="system", text=value)]
    if not isinstance(value, list):
        raise bad(f"{param}: must be a string or a list of text blocks.")
    texts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise bad(f"{param}[{i}]: must be a text block.")
        texts.append(block["text"])
    return [Message(role="system", text="\n".join(texts))] if texts else []


def _turns(value: Any, attachments: list[AttachmentRef]) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise bad("messages: must be a non-empty list.")
    out: list[Message] = []
    names: dict[str, str] = {}  # tool_use id -> tool name, to label results
    for i, raw in enumerate(value):
        p = f"messages[{i}]"
        if not isinstance(raw, dict) or raw.get("role") not in ("user", "assistant", "system"):
            raise bad(f"{p}.role: must be \"user\" or \"assistant\" (or \"system\").")
        role = raw["role"]
        content = raw.get("content")
        if role == "system":  # not Anthropic's shape, but Claude Code and OpenAI ports send it
            out += _system(content, f"{p}.content")
            continue
        if isinstance(content, str):
            out.append(Message(role=role, text=content))
            continue
        if not isinstance(content, list):
            raise bad(f"{p}.content: must be a string or a list of content blocks.")
        texts: list[str] = []
        for j, block in enumerate(content):
            bp = f"{p}.content[{j}]"
            if not isinstance(block, dict):
                raise bad(f"{bp}: must be an object.")
            kind = block.get("type")
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    raise bad(f"{bp}.text: must be a string.")
                texts.append(block["text"])
            elif kind in ("image", "document"):
                if role != "user":
                    raise bad(f"{bp}: {kind} blocks are only allowed in user messages.")
                text = _media(block, bp, kind, attachments)
                if text:
                    texts.append(text)
            elif kind == "tool_use":
                if role != "assistant":
                    raise bad(f"{bp}: tool_use blocks are only allowed in assistant messages.")
                texts.append(_tool_use(block, bp, names))
            elif kind == "tool_result":
                if role != "user":
                    raise bad(f"{bp}: tool_result blocks are only allowed in user messages.")
                out.append(_tool_result(block, bp, names, attachments))
            elif kind in ("thinking", "redacted_thinking"):
                continue
            else:
                raise bad(f"{bp}.type: must be text, image, document, tool_use, tool_result or thinking; "
                           f"got {kind!r}.")
        if texts:
            out.append(Message(role=role, text="\n".join(texts)))
    return out


def _media(block: dict[str, Any], bp: str, kind: str, attachments: list[AttachmentRef]) -> str:
    """Attaches an image/document; a plain-text document is inlined instead (its text is returned)."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{bp}.source: must be an object.")
    stype = source.get("type")
    if stype == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(data, str) or not data:
            raise bad(f"{bp}.source.data: must be a base64 string.")
        if kind == "image" and media_type not in IMAGE_TYPES:
            raise bad(f"{bp}.source.media_type: must be one of {', '.join(IMAGE_TYPES)}.")
        if not isinstance(media_type, str) or "/" not in media_type:
            raise bad(f"{bp}.source.media_type: must be a MIME type.")
        attachments.append(AttachmentRef(param=f"{bp}.source.data", url=f"data:{media_type};base64,{data}",
                                         kind="image" if kind == "image" else "file",
                                         filename=str(block.get("title") or "")))
        return ""
    if stype == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise bad(f"{bp}.source.url: must be an http(s) URL.")
        attachments.append(AttachmentRef(param=f"{bp}.source.url", url=url,
                                         kind="image" if kind == "image" else "file"))
        return ""
    if stype == "text" and kind == "document":
        if not isinstance(source.get("data"), str):
            raise bad(f"{bp}.source.data: must be a string.")
        title = block.get("title")
        return (f"[document: {title}]\n" if isinstance(title, str) and title else "") + source["data"]
    raise bad(f"{bp}.source.type: must be base64 or url" + (" or text" if kind == "document" else "")
               + "; file ids are not supported.")


def _tool_use(block: dict[str, Any], bp: str, names: dict[str, str]) -> str:
    name, tool_id, args = block.get("name"), block.get("id"), block.get("input", {})
    if not isinstance(name, str) or not name:
        raise bad(f"{bp}.name: must be a string.")
    if not isinstance(args, dict):
        raise bad(f"{bp}.input: must be an object.")
    if isinstance(tool_id, str):
        names[tool_id] = name
    return call_block(name, args)


def _tool_result(block: dict[str, Any], bp: str, names: dict[str, str],
                 attachments: list[AttachmentRef]) -> Message:
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or not tool_id:
        raise bad(f"{bp}.tool_use_id: must be a string.")
    content = block.get("content", "")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for k, part in enumerate(content):
            pp = f"{bp}.content[{k}]"
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and part.get("type") in ("image", "document"):
                parts.append(_media(part, pp, part["type"], attachments))
            else:
                raise bad(f"{pp}: must be a text, image or document block.")
        text = "\n".join(p for p in parts if p)
    else:
        text = json.dumps(content, ensure_ascii=False)
    if block.get("is_error"):
        text = "Error: " + text
    return Message(role="tool", text=text, name=names.get(tool_id, tool_id))
