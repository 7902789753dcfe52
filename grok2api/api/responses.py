"""/v1/responses: the OpenAI Responses API (Codex) over the shared answer driver.

`POST` answers with a `response` object or, with `stream: true`, named SSE events (each with an
increasing `sequence_number`, no `[DONE]`). Like chat completions, a stream waits for the first
batch before sending headers, so failures that come fast get their real HTTP status; later ones
end the stream with `response.failed`. Stored responses (`store` is not false) can be read,
deleted and continued with `previous_response_id` by the key that created them.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ..edge.body import read_json
from ..errors import ApiError, InvalidRequest, NotFound
from ..gateway.jobs import Message
from ..keys import API_KEY, LIVE_SETTINGS, REQUEST_ID, STORAGE
from . import responses_store as store
from . import sse
from .answer import Answer, Ask, no_client_retry, open_answer
from .chat_render import Piece
from .jsonformat import json_format_prompt
from .responses_output import Event, OutputBuilder, error_object
from .responses_request import ResponsesRequest, parse_responses_request, to_messages
from .validate import AttachmentRef

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _key_id(request: web.Request) -> str:
    key = request.get(API_KEY)
    return key.id if key else ""


def prompt_of(req: ResponsesRequest, history: list[dict[str, Any]]) -> tuple[list[Message], list[AttachmentRef]]:
    """The whole conversation: this request's instructions (they do not carry over, as in
    OpenAI's API), the replayed earlier turns, then the new input."""
    names: dict[str, str] = {}
    earlier, earlier_files = to_messages(history, "previous_response_id", names) if history else ([], [])
    now, files = to_messages(req.input, "input", names)
    system = [Message(role="system", text=req.instructions)] if req.instructions else []
    if req.json_format:
        system.append(Message(role="system", text=json_format_prompt(req.json_format)))
    return [*system, *earlier, *now], [*earlier_files, *files]


@routes.post("/v1/responses")
async def create_response(request: web.Request) -> web.StreamResponse:
    settings = request.app[LIVE_SETTINGS].current
    req = parse_responses_request(await read_json(request))
    key_id = _key_id(request)
    history: list[dict[str, Any]] = []
    if req.previous_response_id:
        doc = await store.load(request.app[STORAGE], key_id, req.previous_response_id)
        if doc is None:
            raise InvalidRequest(f"Previous response with id '{req.previous_response_id}' not found.",
                                 param="previous_response_id", code="previous_response_not_found")
        history = doc["conversation"]
    messages, attachments = prompt_of(req, history)
    answer = await open_answer(request, Ask(
        model=req.model, messages=messages, attachments=attachments, stream=req.stream,
        thinking=req.thinking, max_tokens=req.max_output_tokens, tools=req.tools,
        tool_choice=req.tool_choice, think_tags=False))
    turn = Turn(request, req, answer, history, settings.chat.responses_retention_hours * 3600)
    try:
        if req.stream:
            return await turn.stream(settings.performance.sse_keepalive_sec)
        return web.json_response(await turn.run(), dumps=sse.dumps)
    except ApiError as exc:
        raise no_client_retry(exc) from None
    finally:
        await answer.close()


class Turn:
    """One Responses request being answered: the builder, the answer and where it is stored."""

    def __init__(self, request: web.Request, req: ResponsesRequest, answer: Answer,
                 history: list[dict[str, Any]], ttl_sec: float) -> None:
        self.request = request
        self.req = req
        self.answer = answer
        self.history = history
        self.ttl_sec = ttl_sec
        self.builder = OutputBuilder(req.model, req.echo)
        self.seq = 0

    async def _finish(self) -> tuple[list[Event], dict[str, Any]]:
        """The events that close the output, and the final response (stored when asked)."""
        renderer = self.answer.renderer
        events = self.builder.finish(renderer.truncated)
        final = self.builder.final(renderer.finish_reason, renderer.usage(self.answer.prompt_tokens))
        if self.req.store:
            conversation = store.conversation_after(self.history, self.req.input, final["output"])
            await store.save(self.request.app[STORAGE], _key_id(self.request), final, conversation,
                             self.req.input, self.ttl_sec)
        return events, final

    async def run(self) -> dict[str, Any]:
        self.builder.feed(await self.answer.collect())
        return (await self._finish())[1]

    # -- streaming ---------------------------------------------------------------------
    def frame(self, event: Event) -> bytes:
        event = {**event, "sequence_number": self.seq}
        self.seq += 1
        return b"event: " + event["type"].encode() + b"\ndata: " + sse.dumps(event).encode() + b"\n\n"

    def frames(self, events: list[Event]) -> list[bytes]:
        return [self.frame(e) for e in events]

    async def stream(self, keepalive: float) -> web.StreamResponse:
        batches = self.answer.batches(keepalive)
        first: list[Piece] | None = await anext(batches, [])  # before the headers: fast failures keep their HTTP status
        response = await sse.open_stream(self.request, {"X-Request-Id": self.request.get(REQUEST_ID, "")},
                                         writes_at_once=True)
        started = self.builder.response("in_progress")
        out = self.frames([{"type": "response.created", "response": started},
                           {"type": "response.in_progress", "response": started}])
        # The last batch waits for the end only when no storage write (`store`) comes in between.
        def last() -> bool:
            return self.answer.finished and not self.req.store

        try:
            out += [sse.KEEPALIVE] if first is None else self.frames(self.builder.feed(first))
            if not last():
                await response.write(b"".join(out))
                out = []
            async for batch in batches:
                out = [sse.KEEPALIVE] if batch is None else self.frames(self.builder.feed(batch))
                if out and not last():
                    await response.write(b"".join(out))
                    out = []
            events, final = await self._finish()
            done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
            # The last batch's events (still in `out`) and the last events leave with the end of the body.
            await response.write_eof(b"".join([*out, *self.frames([*events, {"type": done, "response": final}])]))
        except ConnectionResetError:
            log.info("client left response stream %s", self.builder.id)
        except Exception as exc:
            if not isinstance(exc, ApiError):
                log.exception("response stream %s failed", self.builder.id)
            failed = self.builder.response("failed", error=error_object(exc))
            try:
                await response.write(b"".join([*out, self.frame({"type": "response.failed", "response": failed})]))
            except ConnectionResetError:
                pass
        return response


@routes.get("/v1/responses/{response_id}")
async def get_response(request: web.Request) -> web.Response:
    return web.json_response((await _stored(request))["response"], dumps=sse.dumps)


@routes.delete("/v1/responses/{response_id}")
async def delete_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    if not await store.delete(request.app[STORAGE], _key_id(request), response_id):
        raise _missing(response_id)
    return web.json_response({"id": response_id, "object": "response.deleted", "deleted": True})


@routes.get("/v1/responses/{response_id}/input_items")
async def list_input_items(request: web.Request) -> web.Response:
    """The request's own input items (not the replayed chain), newest first unless `order=asc`."""
    doc = await _stored(request)
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest('`order` must be "asc" or "desc".', param="order")
    items = [_listed(item, i, doc["response"]["id"]) for i, item in enumerate(doc.get("input") or [])]
    if order == "desc":
        items.reverse()
    return web.json_response({"object": "list", "data": items, "has_more": False,
                              "first_id": items[0]["id"] if items else None,
                              "last_id": items[-1]["id"] if items else None}, dumps=sse.dumps)


def _missing(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", param="response_id")


async def _stored(request: web.Request) -> dict[str, Any]:
    response_id = request.match_info["response_id"]
    doc = await store.load(request.app[STORAGE], _key_id(request), response_id)
    if doc is None:
        raise _missing(response_id)
    return doc


def _listed(item: dict[str, Any], index: int, response_id: str) -> dict[str, Any]:
    """An input item as the list shows it: with an id, and message content as parts."""
    out = {"type": "message", **item}
    out.setdefault("id", f"{'msg' if out['type'] == 'message' else 'item'}_{response_id[5:29]}{index:04d}")
    if out["type"] == "message":
        out.setdefault("status", "completed")
        if isinstance(out.get("content"), str):
            kind = "output_text" if out.get("role") == "assistant" else "input_text"
            out["content"] = [{"type": kind, "text": out["content"]}]
    return out
