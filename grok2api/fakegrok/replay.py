"""`fake-grok --replay DIR`: answer requests that match a recorded exchange with the recorded answer.

HTTP answers come after the recorded latency; stream lines and WebSocket frames at their recorded pace
(times `speed`; 0 = no waiting). On a WebSocket the script follows the client: a recorded client frame
waits for the live one, and ids the live client chose (event ids, request ids) replace the recorded
ones in the frames that follow, so a session handshake still pairs up. Live pings are answered with a
pong at once; recorded pings and pongs are skipped. Requests no recording matches go to the simulated
grok.com, or get a 501 in strict mode; `/_fake/requests` marks replayed ones with `"replayed": <file>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from .keys import BODY, RECORD, REPLAY
from .transcripts import Recording, TranscriptStore, frame_shape, shape

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection", "date",
                              "keep-alive", "upgrade", "sec-websocket-accept", "sec-websocket-extensions",
                              "sec-websocket-protocol", "server"})
CLIENT_FRAME_WAIT = 30.0  # seconds a recorded client frame waits for the live one


class Replay:
    """The store plus how to answer: pace factor and what to do with requests nothing matches."""

    def __init__(self, store: TranscriptStore, *, speed: float = 1.0, strict: bool = False) -> None:
        if speed < 0:
            raise ValueError("replay speed must be 0 or more")
        self.store = store
        self.speed = speed
        self.strict = strict

    async def wait_until(self, start: float, offset: float) -> None:
        delay = start + offset * self.speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _headers(recording: Recording) -> dict[str, str]:
    return {k: v for k, v in recording.headers.items() if k.lower() not in _DROPPED_HEADERS}


async def _body_shape(request: web.Request) -> Any:
    if request.content_type.startswith("multipart/"):
        return "multipart"
    if BODY in request:
        body = request[BODY]
        if type(body) is object:  # the guards' sentinels: a missing or malformed JSON body
            return "bytes" if request.body_exists else None
        return shape(body)
    if not request.body_exists:
        return None
    raw = await request.read()
    try:
        return shape(json.loads(raw)) if raw else None
    except ValueError:
        return "bytes"


@web.middleware
async def replay_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer from the recordings when one matches; else simulate (or 501 in strict mode)."""
    replay = request.app.get(REPLAY)
    if replay is None or request.path.startswith("/_fake/"):
        return await handler(request)
    started = time.monotonic()
    websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    store = replay.store
    if websocket or store.candidates(request.method, request.path, websocket=True):
        # A WebSocket path: the upgrade, or the HTTP probe the client makes after a refused upgrade.
        found = store.candidates(request.method, request.path, websocket=True)
        if found:
            return await _websocket(request, replay, found, started, upgrade=websocket)
    else:
        recording = store.match(request.method, request.path, await _body_shape(request))
        if recording is not None:
            _mark(request, recording)
            return await _http(request, replay, recording, started)
    if replay.strict:
        return web.json_response({"error": {"code": 12, "message": f"replay: no recorded exchange matches "
                                                                   f"{request.method} {request.path}"}}, status=501)
    log.info("replay: no recording for %s %s; simulated", request.method, request.path)
    return await handler(request)


def _mark(request: web.Request, recording: Recording) -> None:
    record = request.get(RECORD)
    if record is not None:
        record["replayed"] = recording.name


async def _http(request: web.Request, replay: Replay, recording: Recording, started: float) -> web.StreamResponse:
    origin = _origin(request)
    await replay.wait_until(started, recording.latency)
    if recording.kind != "stream" or not recording.frames:
        body = recording.body
        if body and recording.headers.get("content-type", "").split(";")[0].strip() not in ("application/grpc-web+proto",):
            try:
                body = replay.store.rewrite(body.decode("utf-8"), origin).encode()
            except UnicodeDecodeError:
                pass
        return web.Response(status=recording.status or 200, body=body, headers=_headers(recording))
    response = web.StreamResponse(status=recording.status or 200, headers=_headers(recording))
    await response.prepare(request)
    for frame in recording.frames:
        await replay.wait_until(started, float(frame.get("t", 0)))
        await response.write((replay.store.rewrite(str(frame.get("text", "")), origin) + "\n").encode())
    await response.write_eof()
    return response


async def _websocket(request: web.Request, replay: Replay, found: list[Recording], started: float, *,
                     upgrade: bool) -> web.StreamResponse:
    first = next((r for r in found if r.uses == 0), found[-1])
    if first.status != 101 or not upgrade:
        # A refused handshake answers like the recorded refusal; so does the HTTP probe after it.
        refused = first if first.status != 101 else next((r for r in reversed(found) if r.status != 101), None)
        if refused is None:
            return web.json_response({"error": {"code": 12, "message": "replay: this path was recorded as a "
                                                                       "WebSocket only"}}, status=400)
        if upgrade:
            refused.uses += 1
        _mark(request, refused)
        await replay.wait_until(started, refused.latency)
        return web.Response(status=refused.status, body=refused.body, headers=_headers(refused))
    ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
    await ws.prepare(request)
    session = _Socket(ws, replay, _origin(request))
    try:
        await session.run(request, [r for r in found if r.status == 101])
    finally:
        session.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await session.reader
        if not ws.closed:
            await ws.close()
    return ws


def _event(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    event = data.get("event") if isinstance(data, dict) else None
    return event if isinstance(event, dict) else None


def _kind(text: str) -> str:
    event = _event(text)
    return str(event.get("type", "")) if event else ""


def learn(recorded: Any, live: Any, into: dict[str, str]) -> None:
    """Strings the live client chose where the recording had others (ids): recorded -> live."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        for key, value in recorded.items():
            if key in live:
                learn(value, live[key], into)
    elif isinstance(recorded, list) and isinstance(live, list):
        for a, b in zip(recorded, live):
            learn(a, b, into)
    elif isinstance(recorded, str) and isinstance(live, str) and recorded != live and len(recorded) >= 6:
        into[recorded] = live


class _Socket:
    """One replayed WebSocket: a reader task (pings answered at once) and the recorded script."""

    def __init__(self, ws: web.WebSocketResponse, replay: Replay, origin: str) -> None:
        self.ws = ws
        self.replay = replay
        self.origin = origin
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.substitutions: dict[str, str] = {}
        self.send_lock = asyncio.Lock()
        self.reader: asyncio.Task[None] = asyncio.create_task(self._read())

    async def send(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_str(text)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                continue
            event = _event(msg.data)
            if event is not None and event.get("type") == "ping":
                await self.send(json.dumps({"event": {"type": "pong", "event_id": f"evt_pong_{int(time.time() * 1000)}",
                                                      "client_event_id": event.get("event_id")}},
                                           separators=(",", ":")))
                continue
            await self.incoming.put(msg.data)
        await self.incoming.put(None)

    async def next_client_frame(self) -> str | None:
        try:
            return await asyncio.wait_for(self.incoming.get(), CLIENT_FRAME_WAIT)
        except TimeoutError:
            return None

    def substitute(self, text: str) -> str:
        for recorded in sorted(self.substitutions, key=len, reverse=True):
            text = text.replace(recorded, self.substitutions[recorded])
        return self.replay.store.rewrite(text, self.origin)

    async def run(self, request: web.Request, found: list[Recording]) -> None:
        # The recording is chosen by the first client frame's shape (mgw session vs Imagine request ...).
        first_live = await self.next_client_frame()
        if first_live is None:
            return
        unused = [r for r in found if r.uses == 0]
        live_shape = frame_shape(first_live)
        recording = next((r for r in unused if r.first_sent_shape == live_shape), None) \
            or next((r for r in found if r.first_sent_shape == live_shape), None) or (unused or found)[-1]
        recording.uses += 1
        _mark(request, recording)
        pending: str | None = first_live
        anchor = time.monotonic()
        anchor_t = 0.0
        for frame in recording.frames:
            text, t = str(frame.get("text", "")), float(frame.get("t", 0))
            kind = _kind(text)
            if frame.get("dir") == "send":
                if kind == "ping":
                    continue
                live = pending if pending is not None else await self.next_client_frame()
                pending = None
                if live is None:
                    return  # the client went away
                with contextlib.suppress(ValueError):
                    learn(json.loads(text), json.loads(live), self.substitutions)
                anchor, anchor_t = time.monotonic(), t
                continue
            if kind == "pong":
                continue
            await self.replay.wait_until(anchor, t - anchor_t)
            await self.send(self.substitute(text))
        if recording.closed_by == "server":
            await self.ws.close()
            return
        while await self.next_client_frame() is not None:  # until the client closes
            pass
