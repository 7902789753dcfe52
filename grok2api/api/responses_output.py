"""Builds a Responses `response` object and its stream events from the answer's pieces.

One builder serves both modes: pieces open and close output items (reasoning, message,
function_call, custom_tool_call) and every step yields the stream events that describe it; the
non-streaming path simply drops the events. Item ids are `rs_…`, `msg_…`, `fc_…` and `ctc_…`; a
tool call's `call_id` is the ToolCall id. A namespace member's call carries its own `name` and its
`namespace`; a custom tool's call carries its free text as `input`
(`response.custom_tool_call_input.delta` / `.done` in streams). Whitespace-only text opens no
message item (models often put a newline before a call block); an answer with neither text nor
calls still gets an empty message item.
"""

from __future__ import annotations

import time
from typing import Any

from .. import ids
from ..errors import ApiError
from .chat_render import CONTENT, REASONING, TOOL, Piece
from .tools import ToolCall

Event = dict[str, Any]
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{ids.token_hex(24)}"


def response_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Chat-completions usage in the Responses shape."""
    return {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": usage["completion_tokens_details"]["reasoning_tokens"]},
        "total_tokens": usage["total_tokens"],
    }


def error_object(exc: Exception) -> dict[str, Any]:
    """A `response.error` for a failure after the stream started (codes from the SDK's list)."""
    if isinstance(exc, ApiError):
        code = "rate_limit_exceeded" if exc.status == 429 else "server_error"
        return {"code": code, "message": exc.message}
    return {"code": "server_error", "message": "internal server error"}


class OutputBuilder:
    """The output items of one response, built from pieces, with the events for each step."""

    def __init__(self, model: str, echo: dict[str, Any]) -> None:
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.model = model
        self.echo = echo
        self.output: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None  # the reasoning or message item being written
        self._text = ""
        self._held = ""  # whitespace text not yet shown

    # -- the response object ---------------------------------------------------------
    def response(self, status: str, *, usage: dict[str, Any] | None = None,
                 error: dict[str, Any] | None = None, incomplete: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": self.model, "output": [dict(item) for item in self.output],
            **self.echo,
            "usage": usage,
        }

    def final(self, finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
        incomplete = INCOMPLETE.get(finish_reason)
        return self.response("incomplete" if incomplete else "completed", usage=response_usage(usage),
                             incomplete=incomplete)

    # -- pieces -> items and events ------------------------------------------------------
    def feed(self, pieces: list[Piece]) -> list[Event]:
        events: list[Event] = []
        for channel, value in pieces:
            if channel == TOOL:
                self._held = ""
                events += self._close() + self._call(value)
                continue
            if not value:
                continue
            kind = "reasoning" if channel == REASONING else "message" if channel == CONTENT else ""
            if not kind:
                continue
            if self._open is None or self._open["type"] != kind:
                if kind == "message" and not value.strip():
                    self._held += value  # whitespace before a call must not make a message of its own
                    continue
                events += self._close() + self._start(kind)
                if kind == "message":
                    value, self._held = self._held + value, ""
            self._text += value
            events.append(self._delta(value))
        return events

    def finish(self, truncated: bool = False) -> list[Event]:
        """Closes the open item; adds an empty message when the answer produced nothing."""
        events = self._close("incomplete" if truncated else "completed")
        if not self.output:
            events += self._start("message") + self._close("incomplete" if truncated else "completed")
        return events

    def _index(self) -> int:
        return len(self.output) - 1

    def _start(self, kind: str) -> list[Event]:
        if kind == "reasoning":
            item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            part: dict[str, Any] = {"type": "summary_text", "text": ""}
            part_event = {"type": "response.reasoning_summary_part.added", "summary_index": 0, "part": part}
        else:
            item = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress",
                    "content": []}
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            part_event = {"type": "response.content_part.added", "content_index": 0, "part": part}
        self.output.append(item)
        self._open, self._text = item, ""
        where = {"item_id": item["id"], "output_index": self._index()}
        return [{"type": "response.output_item.added", "output_index": self._index(), "item": dict(item)},
                {**part_event, **where}]

    def _delta(self, text: str) -> Event:
        assert self._open is not None
        where = {"item_id": self._open["id"], "output_index": self._index()}
        if self._open["type"] == "reasoning":
            return {"type": "response.reasoning_summary_text.delta", **where, "summary_index": 0, "delta": text}
        return {"type": "response.output_text.delta", **where, "content_index": 0, "delta": text,
                "logprobs": []}

    def _close(self, status: str = "completed") -> list[Event]:
        item, self._open = self._open, None
        if item is None:
            return []
        where = {"item_id": item["id"], "output_index": self.output.index(item)}
        text = self._text
        part: dict[str, Any]
        if item["type"] == "reasoning":
            part = {"type": "summary_text", "text": text}
            item["summary"] = [part]
            events = [{"type": "response.reasoning_summary_text.done", **where, "summary_index": 0, "text": text},
                      {"type": "response.reasoning_summary_part.done", **where, "summary_index": 0, "part": part}]
        else:
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            item["content"] = [part]
            item["status"] = status
            events = [{"type": "response.output_text.done", **where, "content_index": 0, "text": text,
                       "logprobs": []},
                      {"type": "response.content_part.done", **where, "content_index": 0, "part": part}]
        events.append({"type": "response.output_item.done", "output_index": where["output_index"],
                       "item": dict(item)})
        return events

    def _call(self, call: ToolCall) -> list[Event]:
        if call.input is not None:
            return self._custom_call(call, call.input)
        item: dict[str, Any] = {"id": new_id("fc"), "type": "function_call", "status": "in_progress",
                                "call_id": call.id, "name": call.local_name, "arguments": ""}
        if call.namespace:
            item["namespace"] = call.namespace
        self.output.append(item)
        index = self._index()
        added = {"type": "response.output_item.added", "output_index": index, "item": dict(item)}
        item.update(arguments=call.arguments, status="completed")
        where = {"item_id": item["id"], "output_index": index}
        return [added,
                {"type": "response.function_call_arguments.delta", **where, "delta": call.arguments},
                {"type": "response.function_call_arguments.done", **where, "name": call.local_name,
                 "arguments": call.arguments},
                {"type": "response.output_item.done", "output_index": index, "item": dict(item)}]

    def _custom_call(self, call: ToolCall, text: str) -> list[Event]:
        item: dict[str, Any] = {"id": new_id("ctc"), "type": "custom_tool_call", "call_id": call.id,
                                "name": call.local_name, "input": ""}
        if call.namespace:
            item["namespace"] = call.namespace
        self.output.append(item)
        index = self._index()
        added = {"type": "response.output_item.added", "output_index": index, "item": dict(item)}
        item["input"] = text
        where = {"item_id": item["id"], "output_index": index}
        return [added,
                {"type": "response.custom_tool_call_input.delta", **where, "delta": text},
                {"type": "response.custom_tool_call_input.done", **where, "input": text},
                {"type": "response.output_item.done", "output_index": index, "item": dict(item)}]
