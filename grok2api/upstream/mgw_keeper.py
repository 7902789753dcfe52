"""Kept mgw sockets (`chat.mgw_keep_socket`): one idle socket per (account, egress) between sequential chats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from .chat import ChatRequest
from .errors import ErrorKind, UpstreamError
from .events import Dispatched, Event
from .headers import ws_headers
from .identity import Clearance
from .mgw import build_ping, mgw_url, turn
from .transport import Call, Transport, WsConn

log = logging.getLogger(__name__)

# (token, egress, user id): C13 binds a socket to the account's egress, so another egress is another socket.
Key = tuple[str, str, str]


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True, eq=False)
class Kept:
    """One open socket, idle in the keeper or carrying one chat."""

    key: Key = field(repr=False)  # holds the token
    conn: WsConn
    opened: AbstractAsyncContextManager[WsConn] = field(repr=False)  # transport.websocket(), entered
    clearance: Clearance | None  # what the handshake presented: a renewed clearance means a new socket
    generation: int  # the keeper's settings generation it was opened in
    watch: asyncio.Task[None] | None = None  # pings it while idle; None while a chat has it
    chats: int = 0


class MgwKeeper:
    """Hands chats a kept socket of their account and egress, or none (the chat opens one); takes it back
    after `response.done`. A socket is never shared: a chat takes it out of the keeper, so a second chat
    of the same account at the same time opens its own. While idle a socket is pinged every
    `heartbeat_seconds` (the browser's cadence, C8) and closed after `mgw_socket_idle_sec`, when a ping
    goes unanswered for a heartbeat, on any other frame, on close or error, on a settings change and at
    shutdown. A kept socket that fails before anything was counted (`Dispatched`) is replaced by a fresh
    one within the same chat: the client never sees it, and no quota unit was spent on it."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._idle: dict[Key, Kept] = {}
        self._generation = 0
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> int:
        """How many sockets wait for a chat."""
        return len(self._idle)

    def reconfigure(self) -> None:
        """Settings changed: idle sockets close now, sockets in use when their chat ends."""
        self._generation += 1
        for kept in list(self._idle.values()):
            self._retire(kept)

    async def close(self) -> None:
        """Shutdown: close every idle socket and wait for closes under way."""
        self._generation += 1
        for kept in list(self._idle.values()):
            self._retire(kept)
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=2.0)

    async def chat(self, token: str, request: ChatRequest, user_id: str, proxy: str) -> AsyncIterator[Event]:
        """One chat turn on a kept socket of this account and egress, else on a new one that is kept after."""
        key: Key = (token, proxy, user_id)
        config = self.transport.config
        kept = await self._take(key)
        while True:
            fresh = kept is None
            if kept is None:
                kept = await self._open(key)
            dispatched = False
            try:
                # A kept socket answers session.create at once or is dead: do not wait a first-byte timeout for it.
                wait = 0.0 if fresh else min(config.first_byte_timeout, max(1.0, 2 * config.heartbeat_seconds))
                async for event in turn(kept.conn, config, request, session_timeout=wait):
                    if isinstance(event, Dispatched):
                        dispatched = True
                    yield event
            except UpstreamError as err:
                if fresh or dispatched:
                    await self._exit(kept, err)
                    raise
                # Nothing was sent that grok.com counts: a fresh socket serves this chat as if none was kept
                # (the dead one is closed meanwhile: a half-open socket may take its close timeout).
                self._retire(kept, err)
                log.info("a kept mgw socket failed before the chat was sent (%s: %s): opening a new one",
                         err.kind.value, err.message[:120])
                kept = None
                continue
            except BaseException as exc:  # the client left, shutdown, or a bug: this socket is mid-answer
                await self._exit(kept, exc)
                raise
            kept.chats += 1
            self._give_back(kept)
            return

    async def _take(self, key: Key) -> Kept | None:
        kept = self._idle.pop(key, None)
        if kept is None:
            return None
        watch, kept.watch = kept.watch, None
        if watch is not None:
            watch.cancel()
            # The watcher may be inside recv: it must be out before this chat reads the socket.
            await asyncio.wait([watch])
        if kept.conn.closed or kept.clearance != self._clearance(key[1]):
            self._retire(kept)
            return None
        return kept

    def _clearance(self, proxy: str) -> Clearance | None:
        hooks = self.transport.egress_hooks
        return hooks.clearance(proxy) if hooks is not None else None

    async def _open(self, key: Key) -> Kept:
        token, proxy, user_id = key
        config = self.transport.config
        clearance = self._clearance(proxy)
        opened = self.transport.websocket(mgw_url(config, user_id), Call(token, proxy, user_id=user_id),
                                          ws_headers(config, config.grok_url))
        conn = await opened.__aenter__()
        return Kept(key, conn, opened, clearance, self._generation)

    def _give_back(self, kept: Kept) -> None:
        config = self.transport.config
        if (not config.mgw_keep_socket or kept.generation != self._generation or kept.conn.closed
                or kept.key in self._idle):
            self._retire(kept)  # one idle socket per account and egress; the other chat's stays
            return
        self._idle[kept.key] = kept
        kept.watch = asyncio.get_running_loop().create_task(self._watch(kept))

    async def _watch(self, kept: Kept) -> None:
        """Ping an idle socket at the browser's cadence until a chat takes it (cancels this) or it ends."""
        config = self.transport.config
        conn = kept.conn
        clock = time.monotonic
        beat = config.heartbeat_seconds
        ends = clock() + config.mgw_socket_idle_sec
        next_ping = clock() + beat
        unanswered = 0.0  # when the oldest ping without a pong was sent
        why = "idle lifetime over"
        try:
            while True:
                now = clock()
                if now >= ends:
                    break
                if unanswered and now - unanswered >= beat:
                    why = "a ping went unanswered"
                    break
                if now >= next_ping:
                    await conn.send(build_ping(_ms()))
                    next_ping = now + beat
                    unanswered = unanswered or now
                try:
                    frame = await conn.recv(timeout=max(0.01, min(ends, next_ping) - now))
                except UpstreamError as err:
                    if err.kind is ErrorKind.TIMEOUT:
                        continue
                    raise
                if frame is None:
                    why = "grok.com closed it"
                    break
                ev = frame.get("event") if isinstance(frame, dict) else None
                if not isinstance(ev, dict) or ev.get("type") != "pong":
                    why = f"unexpected frame {ev.get('type') if isinstance(ev, dict) else frame!r:.40}"
                    break
                unanswered = 0.0
        except asyncio.CancelledError:
            if kept.watch is None:  # a chat took the socket: it is that chat's now
                return
            raise
        except UpstreamError as err:
            why = err.message
        if self._idle.get(kept.key) is not kept:
            return  # a chat took it since the last await: that chat finds it closed and replaces it
        del self._idle[kept.key]
        log.debug("closing a kept mgw socket after %d chats: %s", kept.chats, why)
        kept.watch = None
        await self._exit(kept, None)

    def _retire(self, kept: Kept, error: BaseException | None = None) -> None:
        """Close a socket in the background (a chat does not wait for the close handshake)."""
        if self._idle.get(kept.key) is kept:
            del self._idle[kept.key]
        watch, kept.watch = kept.watch, None
        if watch is not None:
            watch.cancel()
        task = asyncio.get_running_loop().create_task(self._exit(kept, error, after=watch))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _exit(kept: Kept, error: BaseException | None, after: asyncio.Task[None] | None = None) -> None:
        """Leave the socket's transport context: closes it and reports the exchange (with its error)."""
        if after is not None:
            await asyncio.wait([after])
        with contextlib.suppress(Exception):
            await kept.opened.__aexit__(type(error) if error is not None else None, error,
                                        error.__traceback__ if error is not None else None)
