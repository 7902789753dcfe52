"""Client connections: a cap below the file-descriptor limit, the header timeout, malformed request
heads answered in the API's error envelope (never a traceback per request).

A slow client (slowloris) cannot hold a connection longer than the header timeout without sending a
complete request head: aiohttp's keep-alive timer closes a connection that has no complete request
within `keepalive_timeout` of opening or of its previous response, so the one setting covers slow
headers and idle keep-alive alike. Past the cap a new connection is answered 503 and closed at once,
so accept() never meets EMFILE (which asyncio would log for every attempt).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

log = logging.getLogger(__name__)

FD_RESERVE = 2048  # descriptors kept for storage, upstream sessions, media files, logs, an accept burst
MAX_BACKLOG = 1024
# A client connection's socket, its upstream socket and, for an mgw chat, the wakeup eventfd of the
# socket's own libcurl multi (upstream/handles.py _Upgrade). With two, 9,750 mgw streams under a 20,000
# limit got 1,344 answers of 503 and 502 ("Too many open files" from the upstream connect): counted.
FDS_PER_CONNECTION = 3
WARN_EVERY_SEC = 30.0
_TOO_BIG_MARKERS = ("too many headers", "header value too long", "got more than")


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # some platforms refuse huge values: keep what we have
            log.info("could not raise the open-file limit from %d: %s", soft, exc)
    return soft


def connection_cap(configured: int, fd_limit: int) -> tuple[int, int]:
    """(client connections one worker accepts, its listen backlog), kept inside the descriptors.

    A quarter of the limit (at most FD_RESERVE) is held back: storage, upstream sessions, media
    files, and the burst of connections asyncio accepts at once (up to the backlog) before a refused
    one is closed. Each client connection may also hold FDS_PER_CONNECTION - 1 upstream descriptors,
    so a third of the rest is the most that can be open without running out of descriptors."""
    reserve = min(FD_RESERVE, fd_limit // 4)
    ceiling = max(1, (fd_limit - reserve) // FDS_PER_CONNECTION)
    backlog = max(8, min(MAX_BACKLOG, reserve // 2))
    return (ceiling if configured <= 0 else min(configured, ceiling)), backlog


def error_body(path_hint: str, status: int, message: str, code: str) -> bytes:
    """An error in the envelope of the surface the path belongs to (Anthropic under /v1/messages)."""
    if path_hint.startswith("/v1/messages"):
        body: dict[str, Any] = {"type": "error", "error": {"type": "invalid_request_error" if status < 500
                                                            else "overloaded_error", "message": message}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                          "param": None, "code": code}}
    return json.dumps(body).encode()


class Warner:
    """One warning per `every` seconds for a repeated condition, with how many were left out."""

    def __init__(self, every: float = WARN_EVERY_SEC, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._last = float("-inf")
        self._skipped = 0

    def warn(self, message: str, *args: object) -> None:
        now = self.clock()
        if now - self._last < self.every:
            self._skipped += 1
            return
        if self._skipped:
            message += f" ({self._skipped} more since the last such warning)"
        self._last, self._skipped = now, 0
        log.warning(message, *args)


class EdgeHandler(web.RequestHandler):
    """aiohttp's connection handler, answering an unreadable request head in the API's envelope."""

    __slots__ = ("_warner",)

    def __init__(self, manager: web.Server, *, warner: Warner, **options: Any) -> None:
        super().__init__(manager, **options)
        self._warner = warner

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # The head could not be read (no path to route by): one warning line, no traceback.
        text = str(getattr(exc, "message", "") or exc)
        too_big = isinstance(exc, LineTooLong) or any(m in text.lower() for m in _TOO_BIG_MARKERS)
        if too_big:
            status, code = 431, "request_header_fields_too_large"
            reply = (f"The request line or headers are too large (at most {self.max_field_size} bytes per line "
                     f"and {self.max_headers} headers).")
        else:
            status, code = 400, "bad_http_request"
            reply = "The request could not be parsed as HTTP/1.1."
        self._warner.warn("refused a malformed request head from %s: %s", request.remote, text[:120])
        hint = text[text.find("/"):][:32] if "/" in text else ""
        resp = web.Response(status=status, body=error_body(hint, status, reply, code),
                            content_type="application/json")
        resp.force_close()
        return resp


class Refuser(asyncio.Protocol):
    """The protocol of a connection over the cap: a 503 in the API's envelope, then close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        body = error_body("", 503, "The server has too many open connections; retry shortly.", "too_many_connections")
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
                "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode()
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(head + body)
        transport.close()


class EdgeSite(web.BaseSite):
    """A TCP site whose connections are EdgeHandlers, at most `cap` open at a time."""

    __slots__ = ("_host", "_port", "_reuse_port", "_cap", "_handler_options", "_warner", "_head_warner")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, cap: int, handler_options: dict[str, Any],
                 reuse_port: bool = False, backlog: int = MAX_BACKLOG) -> None:
        super().__init__(runner, backlog=backlog)
        self._host, self._port, self._reuse_port = host, port, reuse_port
        self._cap = cap
        self._handler_options = handler_options
        self._warner = Warner()  # the cap
        self._head_warner = Warner()  # malformed request heads

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the kernel's pick for port 0)."""
        sockets = getattr(self._server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    def _protocol(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None
        if len(server.connections) >= self._cap:
            self._warner.warn("connection cap reached (%d open); refusing new connections with 503", self._cap)
            return Refuser()
        return EdgeHandler(server, warner=self._head_warner, loop=asyncio.get_running_loop(), **self._handler_options)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port, backlog=self._backlog,
                                                reuse_address=True, reuse_port=self._reuse_port)
