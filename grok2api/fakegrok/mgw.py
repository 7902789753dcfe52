"""The chat gateway WebSocket `/ws/mgw/` (G3, §4): session handshake, ping, chunks, response.done."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import frames as fr
from .guards import USAGE_LIMIT_MESSAGE, cut_websocket, error_body, protected
from .keys import ACCOUNT, FAKE_STATE, RECORD
from .replies import ARTIFACT, RENDER_URL, TOOL_QUERY, Reply, build_reply
from .state import Account, Conversation, FakeState
from .synth import seed_of
from .typed import NOTETAKER, stream_error, take_markers

log = logging.getLogger(__name__)
MODES = frozenset({"fast", "auto", "expert", "heavy"})
THINKING_MODES = frozenset({"auto", "expert", "heavy"})
ANSWER = "CHANNEL_ASSISTANT_RESPONSE"
ANALYSIS = "CHANNEL_ANALYSIS"


class ProtocolError(ValueError):
    """A client event the gateway refuses: answered with an `error` event, then the socket closes."""

    def __init__(self, message: str, code: str | int = "invalid_request") -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Session:
    conv: Conversation | None = None
    model: str = ""
    disable_artifact: bool = True
    pending: dict[str, Any] | None = None
    attachments: list[str] = field(default_factory=list)
    done: bool = False  # response.done was sent: next comes a follow-up item or a new session.create


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def event(session_id: str | None, payload: dict[str, Any]) -> str:
    out: dict[str, Any] = {"event": payload}
    if session_id:
        out = {"session_id": session_id, "event": payload}
    return _dump(out)


def open_session(state: FakeState, account: Account, data: dict[str, Any], ev: dict[str, Any]) -> Session:
    """Validate `session.create` (§4.3.1) and attach a new or existing conversation."""
    if not isinstance(ev.get("event_id"), str) or not ev["event_id"]:
        raise ProtocolError("session.create needs an event_id")
    spec = ev.get("session")
    if not isinstance(spec, dict) or spec.get("model") not in MODES:
        raise ProtocolError("session.model must be one of fast, auto, expert, heavy")
    x_grok = spec.get("x_grok") or {}
    if not isinstance(x_grok, dict):
        raise ProtocolError("session.x_grok must be an object")
    session = Session(model=spec["model"], disable_artifact=bool(x_grok.get("disable_artifact", False)))
    if not x_grok.get("load_existing") and data.get("session_id"):
        # Only a continuation names a conversation (§4.3); a new one must not pass for an old one.
        raise ProtocolError("a new conversation's session.create carries no session_id")
    if x_grok.get("load_existing"):
        conv_id = x_grok.get("conversation_id")
        if conv_id != data.get("session_id"):
            raise ProtocolError("conversation_id must equal the envelope session_id")
        conv = state.conversations.get(conv_id)
        if conv is None or conv.owner != account.token:
            raise ProtocolError("conversation not found", "conversation_not_found")
        session.conv = conv
    else:
        session.conv = state.new_conversation(account.token)
    return session


def take_item(state: FakeState, account: Account, session: Session, data: dict[str, Any], ev: dict[str, Any]) -> None:
    """Validate `conversation.item.create` (§4.3.2) and keep it until `response.create`."""
    assert session.conv is not None
    if data.get("session_id") != session.conv.conversation_id:
        raise ProtocolError("session_id does not match the attached conversation")
    if session.done and ev.get("parent_response_id") is None:
        # After response.done the session's conversation only takes a follow-up; a new conversation on the
        # same socket starts with its own session.create (C8, §4.3), never inside the previous one.
        raise ProtocolError("a new conversation starts with session.create; a follow-up names parent_response_id")
    item = ev.get("item")
    if not isinstance(item, dict) or item.get("type") != "message" or item.get("role") != "user":
        raise ProtocolError("item must be a user message")
    x_grok = item.get("x_grok")
    chunks = x_grok.get("input_chunks") if isinstance(x_grok, dict) else None
    if not isinstance(chunks, list) or not chunks:
        raise ProtocolError("item.x_grok.input_chunks must be a non-empty list")
    texts: list[str] = []
    mentioned: list[str] = []
    for chunk in chunks:
        if isinstance(chunk, dict) and isinstance(chunk.get("text"), dict) and isinstance(chunk["text"].get("text"), str):
            texts.append(chunk["text"]["text"])
            continue
        try:
            mentioned.append(chunk["mention"]["target"]["file_mention"]["file_id"])
        except (KeyError, TypeError):
            raise ProtocolError("input chunk must be text or a file mention") from None
    ids = ev.get("file_attachment_ids", [])
    if sorted(ids) != sorted(mentioned) or item.get("file_attachment_ids", ids) != ids:
        raise ProtocolError("file_attachment_ids must list the mentioned files")
    for file_id in ids:
        asset = state.assets.get(file_id)
        if asset is None or asset.deleted or asset.owner != account.token:
            raise ProtocolError(f"file {file_id} not found", "not_found")
    parent = ev.get("parent_response_id")
    if parent is not None and parent not in session.conv.response_ids:
        raise ProtocolError("parent_response_id is not a response of this conversation")
    session.pending = {"text": "".join(texts), "files": ids}
    session.done = False


def response_events(state: FakeState, account: Account, session: Session, reply: Reply,
                    response_id: str, thinking_channel: str = ANALYSIS) -> tuple[list[dict[str, Any]], int]:
    """The `response.chunk` / `response.grok.output` payloads of one answer, and where the answer starts.
    Like the browser sees today (C8): `response.created` and a `phase_marker` chunk come first."""
    out: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}},
        {"type": "response.chunk", "chunk": {"phase_marker": {"phase": "PHASE_THINKING" if reply.thinking
                                                              else "PHASE_RESPONDING"}}}]
    out += [{"type": "response.chunk", "chunk": {"text": {"text": t, "channel": thinking_channel}}}
            for t in reply.thinking]
    if reply.tool:
        out.append({"type": "response.chunk", "chunk": {"tool_usage_card": {
            "tool_usage_card_id": "tc-fake-1", "web_search": {"args": {"query": TOOL_QUERY}}}}})
        out.append({"type": "response.chunk", "chunk": {"tool_result": {"tool_call_id": "tc-fake-1", "web_search": {
            "webpages": [{"url": RENDER_URL, "title": "Fakegrok citation", "snippet": "A page the fake cites"}]}}}})
    answer_start = len(out)
    answer = [t for t in reply.answer if not (session.disable_artifact and t == "\n" + ARTIFACT)]
    out += [{"type": "response.chunk", "chunk": {"text": {"text": t, "channel": ANSWER}}} for t in answer]
    if reply.render:
        out.append({"type": "response.chunk", "chunk": {"render_citation": {
            "id": "fk0", "kind": "CITATION_KIND_WEB_PAGE", "url": RENDER_URL, "citation_id": "0"}}})
    if reply.drawing:
        _, final = fr.generated_image(state, account.token, account.uid, seed_of(reply.prompt, "lite"), (768, 768))
        pending = {"id": "fkdraw", "type": "render_file", "cardType": "generated_image_card", "image_chunk": None}
        done = dict(pending, image_chunk={"imageUuid": fr.image_id_of(final), "imageUrl": final, "progress": 100,
                                          "moderated": reply.moderated})
        for card in (pending, done):
            out.append({"type": "response.grok.output",
                        "output": {"card_attachment": {"jsonData": json.dumps(card, separators=(",", ":"))}}})
    return out, answer_start


async def respond(request: web.Request, ws: web.WebSocketResponse, state: FakeState, account: Account,
                  session: Session, data: dict[str, Any]) -> bool:
    """Answer `response.create`; False when the socket must close."""
    assert session.conv is not None
    conv_id = session.conv.conversation_id
    if data.get("session_id") != conv_id or session.pending is None:
        raise ProtocolError("response.create needs a prior conversation.item.create in this session")
    pending, session.pending = session.pending, None
    if state.take(account.token, "anti_bot"):
        raise ProtocolError("anti-bot rejected", "anti_bot")
    if state.take(account.token, "usage_limit"):
        raise ProtocolError(USAGE_LIMIT_MESSAGE, 8)
    if state.consume(account, session.model) is not None:
        raise ProtocolError("Too many requests", 8)
    markers = take_markers(pending["text"])
    reply = build_reply(markers.text, thinking=session.model in THINKING_MODES)
    reply.moderated = reply.moderated or bool(state.take(account.token, "moderated"))
    user_id, response_id = fr.new_id(), fr.new_id()
    session.conv.response_ids += [user_id, response_id]
    session.conv.messages += [(user_id, "human", pending["text"]), (response_id, "assistant", reply.text)]
    payloads, answer_start = response_events(state, account, session, reply, response_id,
                                             NOTETAKER if markers.notetaker else ANALYSIS)
    status = "completed"
    if markers.stream_error:  # a typed StreamError instead of the answer (C9)
        payloads = payloads[:2] + [{"type": "response.grok.output",
                                    "output": {"stream_error": stream_error(markers.stream_error)}}]
        answer_start = len(payloads)
        status = "failed"
    elif state.take(account.token, "stream_error"):
        payloads.append({"type": "response.grok.output", "output": {"stream_error": {
            "message": "generation failed", "code": 13}}})
        status = "failed"
    payloads.append({"type": "response.done", "response": {"id": response_id, "status": status}})
    texts = [event(conv_id, p) for p in payloads]
    middle = answer_start + max(1, (len(texts) - 1 - answer_start) // 2)
    cut, stall = state.take(account.token, "stream_cut"), state.take(account.token, "stall")
    delay = float(state.take(account.token, "slow_first_byte") or 0) + state.config.first_frame_delay
    if delay:
        await asyncio.sleep(delay)
    interval = state.config.token_interval
    try:
        for i, text in enumerate(texts[:middle] if cut else texts):
            if stall and i == middle:
                await asyncio.sleep(float(stall))
            elif i and interval:
                await asyncio.sleep(interval)
            await ws.send_str(text)
    except ConnectionResetError:  # the client hung up mid-answer: a normal end, not a fault
        log.debug("mgw client left during response %s", response_id)
        return False
    if cut:
        await cut_websocket(request, ws, cut)
        return False
    return True


@protected("ws")
async def mgw(request: web.Request) -> web.StreamResponse:
    """`wss://grok.com/ws/mgw/?uid=<UID>`; the uid query and the x-userid cookie must be the account's."""
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    if request.query.get("uid") != account.uid or request.cookies.get("x-userid") != account.uid:
        return web.json_response(error_body(3, "uid and x-userid must match the session user"), status=400)
    ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    received: list[Any] = request[RECORD].setdefault("ws_messages", []) if RECORD in request else []
    session: Session | None = None
    init_ids: set[str] = set()  # session.create event ids seen on this socket
    async for msg in ws:
        session_id = session.conv.conversation_id if session and session.conv else None
        try:
            if msg.type != WSMsgType.TEXT:
                raise ProtocolError("text frames only")
            try:
                data = json.loads(msg.data)
            except ValueError:
                raise ProtocolError("malformed JSON") from None
            if len(received) < 100:
                received.append(data)
            ev = data.get("event") if isinstance(data, dict) else None
            ev = ev if isinstance(ev, dict) else {}
            kind = ev.get("type")
            if kind == "ping":
                await ws.send_str(event(None, {"type": "pong", "event_id": f"evt_pong_{int(time.time() * 1000)}",
                                               "client_event_id": ev.get("event_id")}))
            elif session is not None and session.done and not state.config.mgw_keep_serving:
                break  # switched off while this socket was between conversations: it ends as after response.done
            elif kind == "session.create":
                # One conversation at a time: the next session.create only after response.done (C8).
                if session is not None and not session.done:
                    raise ProtocolError("session already created")
                if ev.get("event_id") in init_ids:
                    raise ProtocolError("session.create event_id already used on this socket")
                session = open_session(state, account, data, ev)
                init_ids.add(ev["event_id"])
                assert session.conv is not None
                sid = session.conv.conversation_id
                await ws.send_str(event(sid, {"type": "session.created", "client_event_id": ev["event_id"]}))
                await ws.send_str(event(sid, {"type": "conversation.attached", "conversation": {"id": sid}}))
            elif kind == "conversation.item.create":
                if session is None:
                    raise ProtocolError("conversation.item.create before session.created")
                take_item(state, account, session, data, ev)
            elif kind == "response.create":
                if session is None:
                    raise ProtocolError("response.create before session.created")
                if not await respond(request, ws, state, account, session, data):
                    break
                session.done = True
                if not state.config.mgw_keep_serving:
                    break  # the first edition's gateway: one conversation per socket
            else:
                raise ProtocolError(f"unknown event type {kind!r}")
        except ProtocolError as exc:
            await ws.send_str(event(session_id, {"type": "error", "error": {"code": exc.code, "message": str(exc)}}))
            break
    if not ws.closed:
        await ws.close()
    return ws


def routes() -> list[web.RouteDef]:
    return [web.get("/ws/mgw/", mgw), web.get("/ws/mgw", mgw)]
