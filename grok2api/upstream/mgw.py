"""Chat over the mgw gateway WebSocket (G3, §4): session lookup, event builders, frame parser, runner."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from .. import ids
from .chat import ChatRequest
from .classify import classify_inband
from .errors import ErrorKind, UpstreamError
from .events import Dispatched, Done, Event, ReasoningDelta, TextDelta
from .frames import card_data, card_image, tool_line
from .headers import rest_headers, ws_headers
from .options import UpstreamConfig
from .transport import Call, Transport, WsConn

SESSION_PATH = "/api/auth/session"
CAPABILITIES = ["conversation_attached", "custom_methods_v1"]
_UID_KEYS = ("userId", "id", "sub")
CLOSED_AFTER_DONE = "grok.com closed the socket after response.done"


def _ms() -> int:
    return int(time.time() * 1000)


def parse_session(data: Any) -> str:
    """The account's user id from `/api/auth/session` (§4.1); AUTH when the session is not usable."""
    if not isinstance(data, dict):
        raise UpstreamError(ErrorKind.UPSTREAM, "unexpected /api/auth/session answer")
    status = str(data.get("status") or "")
    if status in ("unauthenticated", "blocked"):
        raise UpstreamError(ErrorKind.AUTH, f"session {status}", status=401)
    session, user = data.get("session"), data.get("user")
    candidates: list[Any] = []
    if isinstance(session, dict):
        candidates.append(session.get("userId"))
    if isinstance(user, dict):
        candidates += [user.get("id"), user.get("userId"), user.get("sub")]
    candidates += [data.get(k) for k in _UID_KEYS]
    for value in candidates:
        if isinstance(value, str) and value:
            try:
                return str(uuid.UUID(value))
            except ValueError:
                continue
    raise UpstreamError(ErrorKind.AUTH, "session carries no user id", status=401)


def build_session_create(request: ChatRequest, config: UpstreamConfig, event_id: str) -> dict[str, Any]:
    """The first client frame: `session.create` with the mode and the x_grok options (§4.3)."""
    temporary = config.temporary if request.temporary is None else request.temporary
    disable_memory = config.disable_memory if request.disable_memory is None else request.disable_memory
    x_grok = {
        "protocol_capabilities": list(CAPABILITIES),
        "use_chunk": True,
        "enable_side_by_side": True,
        "force_side_by_side": False,
        "enable_image_generation": True,
        "image_generation_count": request.image_count,
        "disable_text_follow_ups": False,
        "disable_artifact": True,  # keeps <xaiArtifact> markup out of the answer
        "force_concise": False,
        "keep_context": False,
        "is_temporary": temporary,
        "disable_memory": disable_memory,
    }
    return {"event": {"type": "session.create", "event_id": event_id,
                      "session": {"model": request.mode or request.mode_id, "x_grok": x_grok}}}


def build_item_create(session_id: str, request: ChatRequest, now_ms: int) -> dict[str, Any]:
    """`conversation.item.create` with file mentions before the text (§4.3)."""
    chunks: list[dict[str, Any]] = [{"mention": {"target": {"file_mention": {"file_id": fid}}}}
                                    for fid in request.file_ids]
    chunks.append({"text": {"text": request.message}})
    item: dict[str, Any] = {"type": "message", "role": "user",
                            "x_grok": {"client_message_id": ids.uuid4(), "input_chunks": chunks}}
    event: dict[str, Any] = {"type": "conversation.item.create", "event_id": f"evt_msg_{now_ms}", "item": item}
    if request.file_ids:
        # The document's example lists the ids on the item and on the event (§4.3).
        item["file_attachment_ids"] = list(request.file_ids)
        event["file_attachment_ids"] = list(request.file_ids)
    return {"session_id": session_id, "event": event}


def build_response_create(session_id: str, now_ms: int) -> dict[str, Any]:
    return {"session_id": session_id, "event": {"type": "response.create", "event_id": f"evt_resp_{now_ms}"}}


def build_ping(now_ms: int) -> dict[str, Any]:
    return {"event": {"type": "ping", "event_id": f"evt_hb_{now_ms}"}}


def _is_pong(frame: dict[str, Any]) -> bool:
    ev = frame.get("event")
    return isinstance(ev, dict) and ev.get("type") == "pong"


class MgwParser:
    """The session handshake state and server events -> neutral events (§4.4)."""

    def __init__(self, init_event_id: str, assets_url: str, *, thinking: bool = True) -> None:
        self.init_event_id = init_event_id
        self.assets_url = assets_url
        self.thinking = thinking
        self.session_id = ""
        self.created = False
        self.attached = False
        self.done = False
        self.response_id = ""
        self._text_seen = False
        self._images: set[str] = set()

    @property
    def ready(self) -> bool:
        """The message may be sent only after both session.created and conversation.attached."""
        return self.created and self.attached

    def feed(self, frame: dict[str, Any]) -> list[Event]:
        """Events for one server frame; raises a classified UpstreamError for terminal errors."""
        ev = frame.get("event")
        if not isinstance(ev, dict):
            return []
        kind = ev.get("type")
        sid = frame.get("session_id")
        if kind == "session.created":
            if ev.get("client_event_id") in (None, self.init_event_id):
                self.created = True
                self.session_id = sid or self.session_id
            return []
        if kind == "conversation.attached":
            conv = ev.get("conversation") or {}
            conv_id = conv.get("id") if isinstance(conv, dict) else None
            if self.session_id and conv_id and conv_id != self.session_id:
                raise UpstreamError(ErrorKind.UPSTREAM, "mgw attached a different conversation than the session")
            self.session_id = self.session_id or conv_id or ""
            self.attached = True
            return []
        if kind == "response.chunk":
            return self._chunk(ev.get("chunk") or {})
        if kind == "response.output_text.delta":
            return self._text(str(ev.get("delta") or ""))
        if kind == "response.output_text.done":
            return [] if self._text_seen else self._text(str(ev.get("text") or ""))
        if kind == "response.grok.output":
            return self._output(ev.get("output") or {})
        if kind == "response.done":
            response = ev.get("response") or {}
            status = response.get("status", "completed") if isinstance(response, dict) else "completed"
            if status != "completed":
                raise UpstreamError(ErrorKind.UPSTREAM, f"mgw response ended with status {status!r}")
            self.response_id = str(response.get("id") or "") if isinstance(response, dict) else ""
            self.done = True
            meta = {k: v for k, v in (("conversationId", self.session_id), ("responseId", self.response_id)) if v}
            return [Done(meta=meta)]
        if kind == "error":
            raise classify_inband(ev.get("error") or {})
        if kind == "session.ended" and not self.done:
            raise UpstreamError(ErrorKind.UPSTREAM, "mgw session ended before response.done")
        return []  # pong, response.created, search results, unknown additions: nothing to show

    def _text(self, text: str) -> list[Event]:
        if not text:
            return []
        self._text_seen = True
        return [TextDelta(text)]

    def _chunk(self, chunk: dict[str, Any]) -> list[Event]:
        text = chunk.get("text")
        if isinstance(text, dict):
            channel = str(text.get("channel") or "").upper()
            value = str(text.get("text") or "")
            # Thinking: ANALYSIS / REASONING, and since 2026-10 also the NOTETAKER header channel (C8).
            if "ANALYSIS" in channel or "REASONING" in channel or "NOTETAKER" in channel:
                return [ReasoningDelta(value)] if self.thinking and value else []
            if channel in ("", "CHANNEL_ASSISTANT_RESPONSE"):
                return self._text(value)
            return []
        card = chunk.get("tool_usage_card")
        if isinstance(card, dict):
            line = tool_line(card)
            return [ReasoningDelta(line)] if line and self.thinking else []
        cite = chunk.get("render_citation")
        if isinstance(cite, dict) and cite.get("url"):
            return self._text(f" [[{cite.get('citation_id', '*')}]]({cite['url']})")
        return []

    def _output(self, output: dict[str, Any]) -> list[Event]:
        if output.get("stream_error"):
            raise classify_inband(output["stream_error"])
        card = card_data(output.get("card_attachment"))
        if card is None:
            return []
        ready = card_image(card, len(self._images), self.assets_url)
        if ready is None or ready.url in self._images:
            return []
        self._images.add(ready.url)
        return [ready]


async def fetch_user_id(transport: Transport, token: str, proxy: str | None = None) -> str:
    """`GET /api/auth/session` -> the account's user id (§4.1)."""
    config = transport.config
    headers = rest_headers(config, origin="", referer=config.grok_url + "/", content_type="")
    result = await transport.request("GET", config.grok_url + SESSION_PATH, Call(token, proxy), headers)
    return parse_session(result.json())


async def chat_mgw(transport: Transport, token: str, request: ChatRequest, user_id: str,
                   proxy: str | None = None) -> AsyncIterator[Event]:
    """One chat turn over the mgw WebSocket, with client heartbeats and first-byte/idle/total timeouts."""
    config = transport.config
    async with transport.websocket(mgw_url(config, user_id), Call(token, proxy, user_id=user_id),
                                   ws_headers(config, config.grok_url)) as ws:
        async for event in turn(ws, config, request):
            yield event


def mgw_url(config: UpstreamConfig, user_id: str) -> str:
    return f"{config.ws_url}/ws/mgw/?uid={user_id}"


async def turn(ws: WsConn, config: UpstreamConfig, request: ChatRequest, *,
               session_timeout: float = 0.0) -> AsyncIterator[Event]:
    """session.create -> (created, attached) -> item + response.create -> events until response.done.
    Every turn opens a new session, also on a kept socket (§4.3: only a continuation names one).
    `session_timeout` (0 = first_byte_timeout) bounds the wait for the session before anything is counted."""
    init_id = f"evt_init_{ids.uuid4()}"
    parser = MgwParser(init_id, config.assets_url, thinking=request.thinking)
    await ws.send(build_session_create(request, config, init_id))
    clock = time.monotonic
    started = clock()
    deadline = started + config.timeout
    next_ping = started + config.heartbeat_seconds
    idle_until = started + (session_timeout or config.first_byte_timeout)
    sent = False
    while not parser.done:
        now = clock()
        if now >= deadline or now >= idle_until:
            raise UpstreamError(ErrorKind.TIMEOUT, "mgw WebSocket went quiet" if now < deadline
                                else "mgw chat exceeded the total timeout")
        if now >= next_ping:
            await ws.send(build_ping(_ms()))
            next_ping = now + config.heartbeat_seconds
        try:
            frame = await ws.recv(timeout=max(0.01, min(deadline, idle_until, next_ping) - now))
        except UpstreamError as err:
            if err.kind is ErrorKind.TIMEOUT:
                continue  # a heartbeat is due or a deadline passed: the loop head decides
            raise
        if frame is None:
            raise UpstreamError(ErrorKind.UPSTREAM, "grok.com closed the mgw WebSocket before response.done")
        if not isinstance(frame, dict) or _is_pong(frame):
            continue  # a pong proves the socket, not the answer: it must not hold off the first-byte/idle timeouts
        idle_until = clock() + (config.idle_timeout if sent else session_timeout or config.first_byte_timeout)
        for event in parser.feed(frame):
            yield event
        frame = None  # not held while the socket idles until the next one (~640 B of dicts, measured)
        if parser.ready and not sent:
            sent = True
            yield Dispatched()  # the session is open: the next frames are the counted request
            await ws.send(build_item_create(parser.session_id, request, _ms()))
            await ws.send(build_response_create(parser.session_id, _ms()))
            idle_until = clock() + config.first_byte_timeout


async def socket_reuse(transport: Transport, token: str, request: ChatRequest, user_id: str,
                       proxy: str | None = None) -> str:
    """What a kept socket needs (mgw_keeper.py), tried on one socket: after `response.done` a ping is
    answered with a pong, then a second chat completes. "" when both held, else why not. A failure of
    the first chat is raised."""
    config = transport.config
    async with transport.websocket(mgw_url(config, user_id), Call(token, proxy, user_id=user_id),
                                   ws_headers(config, config.grok_url)) as ws:
        async for _ in turn(ws, config, request):
            pass
        if ws.closed:
            return CLOSED_AFTER_DONE
        try:
            why_not = await _pinged(ws, config)
            if why_not:
                return why_not
            async for _ in turn(ws, config, request):
                pass
        except UpstreamError as err:
            if ws.closed and "closed" in err.message:
                return CLOSED_AFTER_DONE
            return f"a second chat on the same socket failed: {err.message}"
    return ""


async def _pinged(ws: WsConn, config: UpstreamConfig) -> str:
    """"" when a ping on an idle socket is answered with a pong within two heartbeats, else why not."""
    await ws.send(build_ping(_ms()))
    until = time.monotonic() + 2 * config.heartbeat_seconds
    while (left := until - time.monotonic()) > 0:
        try:
            frame = await ws.recv(timeout=left)
        except UpstreamError as err:
            if err.kind is ErrorKind.TIMEOUT:
                break
            raise
        if frame is None:
            return CLOSED_AFTER_DONE
        ev = frame.get("event") if isinstance(frame, dict) else None
        kind = ev.get("type") if isinstance(ev, dict) else None
        if kind == "pong":
            return ""
        return f"the idle socket sent {kind or 'an unknown frame'} instead of a pong"
    return "a ping on the idle socket was not answered"
