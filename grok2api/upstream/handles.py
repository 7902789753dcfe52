"""Prepared curl handles per egress: impersonation and fixed options applied once, per call only what changes.

curl_cffi's AsyncSession runs its whole option builder (`set_curl_options`: header merging, cookie
engine, proxy rules, impersonation, URL requoting) on a reset handle for every request, then parses
the answer into a Response with cookie jars and a dozen getinfo calls: about a quarter of the
gateway's CPU per completion. Here each (egress, browser profile) has one template handle that got
exactly the options that builder would give every grok.com call (same values, same order); a call
runs on a `curl_easy_duphandle` copy of it (a fresh easy handle, so nothing of one account's call can
reach the next) and sets only URL, method, body, headers, timeouts and callbacks. Connections stay in
the egress's multi handle, as before; a WebSocket's handshake runs on a multi of its own (_Upgrade).

The bytes a server sees do not change: tests/upstream/test_handles.py compares the ClientHello and
the request head of a pooled call with those of curl_cffi's own path for every profile in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import cast

from curl_cffi import AsyncCurl, Curl, CurlECode, CurlError, CurlInfo, CurlMime, CurlOpt, CurlWsFlag
from curl_cffi.aio import CURL_POLL_NONE, CURL_SOCKET_TIMEOUT
from curl_cffi.curl import DEFAULT_CACERT, _CallbackContext, ffi, lib  # the cffi module curl_cffi itself calls through
from curl_cffi.requests.utils import requote_uri

from .wakeup import Wakeup

# What AsyncSession's request(accept_encoding=...) defaults to; the gateway's calls name their own.
DEFAULT_ACCEPT_ENCODING = "gzip, deflate, br"
_BUFFER = 16384  # libcurl's receive buffer (its default 16 KB); since 8.7 one per multi, not per transfer
# The send buffer of a transfer (libcurl's default, 64 KB): calloc'd when the request goes out and kept
# until the transfer ends, so every open stream holds one. At 64 KB it is above map_large_buffers'
# threshold, so it is a mapping of its own of which only the pages the request touched count; at 16 KB
# it came from the heap, where calloc makes all of it resident. Measured on an open REST stream (an
# Egress against fakegrok, 1,000 open, tests-like 1 KB request): RSS 31.0 -> 23.2 KB. It is a local
# buffer: the bytes sent do not change (tests/upstream/test_handles.py).
_UPLOAD_BUFFER = 65536
# A WebSocket's receive buffer (BUFFERSIZE) is the transfer buffer of the multi its handshake runs on,
# kept with the socket for its life; frames are read through ws.c's own chunks, so it only ever holds the
# 101's head. libcurl's minimum: 16 -> 1 KB, measured RSS per open mgw stream 83.7 -> 77.6 KB at 2,000.
# What is sent does not change (tests/upstream/test_handles.py).
_WS_HANDSHAKE_BUFFER = 1024
# curl_cffi reads WebSocket frames through a buffer of its own per socket (128 KB by default). Here all
# sockets share one: every read runs on the loop's thread and copies its bytes out at once, so no socket
# holds a buffer while it waits. 16 KB as for the REST buffers: a larger frame arrives in pieces, joined.
_WS_RECV_BUFFER = 16384
_ws_buffer = ffi.new("char[]", _WS_RECV_BUFFER)
_ws_received = ffi.new("size_t *")
_ws_frame = ffi.new("struct curl_ws_frame **")
_AGAIN = int(CurlECode.AGAIN)
_GOT_NOTHING = int(CurlECode.GOT_NOTHING)
# The largest frame curl_cffi's AsyncWebSocket hands to libcurl: a longer message goes out as
# continuation frames of this size, and so it does here (the frames a server sees stay the same).
_WS_MAX_FRAME = 65536
_WS_DATA = int(CurlWsFlag.TEXT | CurlWsFlag.BINARY | CurlWsFlag.CONT)
_M_TOP_PAD = -2  # mallopt's parameter numbers in glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_MMAP_FROM = 32 * 1024
_SWEEP_SECONDS = 1.0  # see _Multi
_CURLMSG_DONE = 1
_queued = ffi.new("int *")  # curl_multi_info_read's count, never read
_WRITE_ERROR = 0xFFFFFFFF  # CURL_WRITEFUNC_ERROR: stops the transfer from inside the write callback
# Characters requote_uri leaves alone: a URL made of them only is sent as it is, without the re-parse
# ('%' is not one: requote_uri rewrites escapes of unreserved characters, so such URLs go through it).
_PLAIN_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]*")


def map_large_buffers() -> None:
    """Have glibc serve allocations of 32 KB and more with their own mappings (M_MMAP_THRESHOLD), and
    grow the heap by exactly what is asked (M_TOP_PAD 0).

    libcurl gives every WebSocket two 128 KB buffer chunks (ws.c, fixed at build time, not sized by
    BUFFERSIZE) and every transfer a 64 KB send buffer (_UPLOAD_BUFFER), all calloc'd. A mapping is fresh zero
    pages, of which only the touched ones count, and it goes back when freed. From the heap, calloc
    zeroes, so makes resident, every page it cannot know to be fresh: all of a block taken from freed
    space or from the slack (128 KB by default) that each heap extension leaves above the top, which
    is also where a large block lands instead of its own mapping when it fits. Measured RSS per open
    stream in the benchmark: mgw 291 -> 204 KB at 1,000 streams, 169 -> 105 KB at 9,750 (threshold);
    mgw 193 -> 92 KB at 2,000 while each socket still had a 16 KB ws_recv buffer (without it, no
    change), REST 72.5 -> 65.2 KB at 2,000 and 69.1 -> 63.2 KB at 9,750 (no top pad). Heap growth
    costs more brk calls (4,805 instead of 147 while 2,000 streams open); none in a steady load.
    Setting them is idempotent; elsewhere than glibc there is nothing to set."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
    mallopt(_M_TOP_PAD, 0)


def ca_bundle() -> str:
    """The CA file every handle verifies with: the one requests' environment names, else certifi's."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CACERT


def template(profile: str, proxy: str, *, socket: bool = False) -> Curl:
    """A never-used handle with the options every call of this egress and profile gets, in the order
    curl_cffi's option builder applies them (impersonation after ACCEPT_ENCODING, buffer sizes last);
    `socket`: for WebSocket handshakes (a smaller receive buffer)."""
    curl = Curl()
    # The cookie engine on and empty, as the builder leaves it. Every call runs on its own copy with
    # its own empty jar: one egress serves many accounts, so nothing a response sets (sso, __cf_bm …)
    # can reach another account's request; the transport sends the cookies it means to.
    curl.setopt(CurlOpt.COOKIEFILE, b"")
    curl.setopt(CurlOpt.FOLLOWLOCATION, 1)
    curl.setopt(CurlOpt.MAXREDIRS, 30)
    if proxy:
        curl.setopt(CurlOpt.PROXY_CREDENTIAL_NO_REUSE, 1)
        curl.setopt(CurlOpt.PROXY, proxy)
    cafile = ca_bundle()
    curl.setopt(CurlOpt.CAINFO, cafile)
    curl.setopt(CurlOpt.PROXY_CAINFO, cafile)
    curl.setopt(CurlOpt.ACCEPT_ENCODING, DEFAULT_ACCEPT_ENCODING.encode())
    # No default headers: ours are the whole set (§2.3); the profile's navigation defaults
    # (Sec-Fetch-User, Upgrade-Insecure-Requests) would be wrong on fetch calls.
    if curl.impersonate(profile, default_headers=False) != 0:
        curl.close()
        raise ValueError(f"curl_cffi cannot impersonate {profile!r}")
    curl.setopt(CurlOpt.MAX_RECV_SPEED_LARGE, 0)
    # Without it libcurl sets and restores SIGPIPE's handler around every multi action (two sigaction
    # calls per read, 29 per mgw chat in strace). Python already ignores SIGPIPE, and this libcurl
    # resolves with c-ares (no alarm() timeouts): nothing is left for the signal handling to guard, and
    # nothing of it reaches the wire.
    curl.setopt(CurlOpt.NOSIGNAL, 1)
    curl.setopt(CurlOpt.UPLOAD_BUFFERSIZE, _UPLOAD_BUFFER)
    curl.setopt(CurlOpt.BUFFERSIZE, _WS_HANDSHAKE_BUFFER if socket else _BUFFER)
    if proxy.startswith(("http://", "https://")):
        # A tunnel (CONNECT) for every target, as for https grok.com: the proxy relays bytes
        # and never sees or rewrites a request, also to plain-http hosts (mirrors, fakegrok).
        curl.setopt(CurlOpt.HTTPPROXYTUNNEL, 1)
    return curl


def header_lines(headers: Mapping[str, str], body: bytes | None) -> list[bytes]:
    """The HTTPHEADER list curl_cffi would send for these headers (an empty value is sent empty, a
    raw body without Content-Type says octet-stream, `Expect` never goes out)."""
    lines = [f"{k}: {v}".encode() if v else f"{k};".encode() for k, v in headers.items()]
    typed, expect = _names(tuple(headers))
    if body and not typed:
        lines.append(b"Content-Type: application/octet-stream")
    if expect:
        lines = [b"Expect: " if line.lower().startswith(b"expect:") else line for line in lines]
    else:
        lines.append(b"Expect: ")
    return lines


@functools.lru_cache(maxsize=256)  # a call site sends the same names every time: a few dozen sets
def _names(names: tuple[str, ...]) -> tuple[bool, bool]:
    """Whether the header names hold a Content-Type, and an Expect (in any case)."""
    low = {name.lower() for name in names}
    return "content-type" in low, "expect" in low


def prepare(curl: Curl, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
            multipart: CurlMime | None, timeout: float | None, stream: bool, accept_encoding: str) -> None:
    """Set what changes per call on a copy of the template."""
    method = method.upper()
    if method == "POST":
        _set(curl, _POST, 1)
    elif method != "GET":
        _set(curl, _CUSTOMREQUEST, method.encode())
    if method == "HEAD":
        _set(curl, _NOBODY, 1)
    _set(curl, _URL, (url if _PLAIN_URL.fullmatch(url) else requote_uri(url)).encode())
    if body or method in ("POST", "PUT", "PATCH"):
        data = body or b""
        curl._body_handle = data  # libcurl reads POSTFIELDS in place, for the whole transfer
        _set(curl, _POSTFIELDS, data)
        _set(curl, _POSTFIELDSIZE, len(data))
        if method == "GET":
            _set(curl, _CUSTOMREQUEST, b"GET")
    _set_headers(curl, header_lines(headers, body))
    if multipart is not None:
        curl.setopt(CurlOpt.MIMEPOST, multipart._form)  # curl_cffi's own builder passes the same form
    seconds = timeout or 0
    if stream:
        _set(curl, _CONNECTTIMEOUT_MS, int(seconds * 1000))
        _set(curl, _LOW_SPEED_LIMIT, 1)
        _set(curl, _LOW_SPEED_TIME, math.ceil(seconds))
    else:
        _set(curl, _TIMEOUT_MS, int(seconds * 1000))
    if accept_encoding != DEFAULT_ACCEPT_ENCODING:
        _set(curl, _ACCEPT_ENCODING, accept_encoding.encode())


# The per-call options as plain ints, for _set.
_POST, _CUSTOMREQUEST, _NOBODY = int(CurlOpt.POST), int(CurlOpt.CUSTOMREQUEST), int(CurlOpt.NOBODY)
_URL = int(CurlOpt.URL)
_POSTFIELDS, _POSTFIELDSIZE, _HTTPHEADER = int(CurlOpt.POSTFIELDS), int(CurlOpt.POSTFIELDSIZE), int(CurlOpt.HTTPHEADER)
_CONNECTTIMEOUT_MS, _TIMEOUT_MS = int(CurlOpt.CONNECTTIMEOUT_MS), int(CurlOpt.TIMEOUT_MS)
_LOW_SPEED_LIMIT, _LOW_SPEED_TIME = int(CurlOpt.LOW_SPEED_LIMIT), int(CurlOpt.LOW_SPEED_TIME)
_ACCEPT_ENCODING = int(CurlOpt.ACCEPT_ENCODING)


def _set(curl: Curl, option: int, value: int | bytes) -> None:
    """curl_cffi's Curl.setopt for a number or a string option: the same curl_easy_setopt call (a number
    by pointer, which its glue reads back; a string as is, which libcurl copies, but for POSTFIELDS,
    whose bytes the caller keeps). curl_cffi's setopt builds two dicts and a set and does enum arithmetic
    on every call; at a dozen calls a request, that was most of what preparing a call cost."""
    ret = lib._curl_easy_setopt(curl._curl, option, ffi.new("long*", value) if isinstance(value, int) else value)
    if ret:
        curl._check_error(ret, "setopt", option, value)


def _set_headers(curl: Curl, lines: list[bytes]) -> None:
    """HTTPHEADER as curl_cffi's setopt sets it: the lines appended to the handle's own list (which
    close() frees)."""
    slist = curl._headers
    for line in lines:
        slist = lib.curl_slist_append(slist, line)
    curl._headers = slist
    ret = lib._curl_easy_setopt(curl._curl, _HTTPHEADER, slist)
    if ret:
        curl._check_error(ret, "setopt", _HTTPHEADER, lines)


# Where curl_cffi's setopt sends Python objects: the callback option each pairs with, the attribute
# that keeps the handle alive, and the C callback (the buffer kind calls the object's write()).
_WRITEDATA, _HEADERDATA = int(CurlOpt.WRITEDATA), int(CurlOpt.HEADERDATA)
_WRITEFUNCTION, _HEADERFUNCTION = int(CurlOpt.WRITEFUNCTION), int(CurlOpt.HEADERFUNCTION)


def _sink_to(curl: Curl, option: int, sink: object) -> None:
    """curl_cffi's setopt(WRITEDATA or HEADERDATA, sink): libcurl hands each piece to sink.write()."""
    handle = ffi.new_handle(_CallbackContext(sink))
    if option == _WRITEDATA:
        curl._write_handle = handle
        lib._curl_easy_setopt(curl._curl, _WRITEFUNCTION, lib.buffer_callback)
    else:
        curl._header_handle = handle
        lib._curl_easy_setopt(curl._curl, _HEADERFUNCTION, lib.buffer_callback)
    ret = lib._curl_easy_setopt(curl._curl, option, handle)
    if ret:
        curl._check_error(ret, "setopt", option, sink)


def _call_on_body(curl: Curl, callback: Callable[[bytes], int]) -> None:
    """curl_cffi's setopt(WRITEFUNCTION, callback): libcurl hands each body piece to callback()."""
    handle = curl._write_handle = ffi.new_handle(_CallbackContext(callback))
    lib._curl_easy_setopt(curl._curl, _WRITEFUNCTION, lib.write_callback)
    ret = lib._curl_easy_setopt(curl._curl, _WRITEDATA, handle)
    if ret:
        curl._check_error(ret, "setopt", _WRITEDATA, callback)


class _Copy(Curl):
    """A call's copy of a template: curl_cffi's Curl, set up and closed in fewer steps.

    Curl.__init__ allocates four cffi buffers, three of them for WebSocket frames, which an HTTP call
    never reads; Curl.close() walks five header lists and six callback slots by name. A copy only
    ever holds HTTPHEADER's list, the write and header callbacks and the POSTFIELDS bytes (prepare,
    _sink_to, _call_on_body), so that is all its close() frees. Everything else curl_cffi's code reads
    of a handle (the multi's error and callback checks) is set as Curl.__init__ sets it."""

    def __init__(self, handle: object) -> None:  # not Curl.__init__: see the class docstring
        self._curl = handle
        self._headers = self._http3_headers = self._ws_headers = self._proxy_headers = self._resolve = ffi.NULL
        self._cacert = DEFAULT_CACERT
        self._is_cert_set = True  # CAINFO came with the copy; add_handle would set it again
        self._skip_cacert = False
        self._write_handle = self._header_handle = self._debug_handle = None
        self._body_handle = self._read_handle = self._seek_handle = None
        self._error_buffer = ffi.new("char[]", 256)
        self._debug = False
        self._share = None
        self._ws_recv_buffer = None
        self._set_error_buffer()

    def close(self) -> None:
        self._write_handle = self._header_handle = self._body_handle = None
        if self._headers != ffi.NULL:
            lib.curl_slist_free_all(self._headers)
            self._headers = ffi.NULL
        if self._curl:
            lib.curl_easy_cleanup(self._curl)
            self._curl = None


class Head:
    """Status and headers of the last response of a transfer (after redirects)."""

    __slots__ = ("status", "headers", "set_cookie")

    def __init__(self, lines: Iterable[bytes]) -> None:
        self.status = 0  # from the last status line, as libcurl's RESPONSE_CODE
        self.headers: dict[str, str] = {}  # lower-case names; repeated headers joined with ", "
        self.set_cookie: list[str] = []
        block: list[bytes] = []
        for raw in lines:
            if raw.startswith(b"HTTP/"):
                block = []  # a redirect's (or 1xx) head: only the last response's headers count
                parts = raw.split(None, 2)
                self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            elif raw[:1] in (b" ", b"\t") and block:
                block[-1] = block[-1].rstrip(b"\r\n") + raw
            elif raw.strip():
                block.append(raw)
        for raw in block:
            name, sep, value = _decode(raw).partition(":")
            if not sep:
                continue
            low, value = name.strip().lower(), value.strip()
            if low == "set-cookie":
                self.set_cookie.append(value)
            self.headers[low] = f"{self.headers[low]}, {value}" if low in self.headers else value


class _Sink(list[bytes]):
    """What curl_cffi's buffer callback writes to: every piece kept as it came (no BytesIO copies)."""

    write = list.append


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _Multi(AsyncCurl):
    """curl_cffi's multi, with its safety-net sweep once a second instead of ten times.

    AsyncCurl calls socket_action(TIMEOUT) every 100 ms in case a libcurl timer got lost. Its timer
    callback already runs every timeout libcurl asks for, so the sweep only catches what would be
    late anyway; at ten a second per egress it was most of an idle gateway's CPU, and with streams
    open it is charged to their tokens."""

    async def _force_timeout(self) -> None:
        while self._curlm:
            self.socket_action(CURL_SOCKET_TIMEOUT, CURL_POLL_NONE)
            await asyncio.sleep(_SWEEP_SECONDS)


class _Upgrade(AsyncCurl):
    """The multi of one WebSocket: its handshake driven by the loop like any transfer, then kept.

    curl_cffi runs the connect-only upgrade with curl_easy_perform on a worker thread. Under load
    that thread pays for the pool's hand-off and for taking the GIL back from the loop (about 25
    futex calls per chat in strace, most of them contention). On the egress's shared multi the
    upgrade cannot run: removing the finished transfer closes a connect-only connection, and a
    transfer left there would share the pool with every other call (whose dead-connection checks
    could close a socket with unread frames). So each socket has a multi of one, which keeps the
    finished transfer (and with it the connection) until the socket closes. The price is memory: a
    multi's hash tables are about 9 KB (curl_easy_perform's private multi is built smaller), so an open
    mgw stream holds ~13 KB more than on the thread, for ~20 % less CPU per chat."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # AsyncCurl.__init__ without its sweep task (a task per chat): one handshake is timed by
        # libcurl's own timers and by ws_connect's deadline. close() is never called: release() is.
        self._curlm = lib.curl_multi_init()
        self._cacert = DEFAULT_CACERT
        self._curl2future = {}
        self._curl2curl = {}
        self._sockfds = set()
        self.loop = loop
        self._timer = None
        self._setup()

    def process_data(self, sockfd: int, ev_bitmask: int) -> None:
        # AsyncCurl's, except that a finished transfer stays in the multi.
        if not self._curlm:
            return
        self.socket_action(sockfd, ev_bitmask)
        while (msg := lib.curl_multi_info_read(self._curlm, _queued)) != ffi.NULL:
            curl = self._curl2curl.get(msg.easy_handle) if msg.msg == _CURLMSG_DONE else None
            future = self._curl2future.pop(curl, None) if curl is not None else None
            if curl is None or future is None or future.done():
                continue
            code = msg.data.result
            error = curl._get_callback_exception() or (curl._get_error(code, "perform") if code else None)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def release(self, curl: Curl) -> None:
        """Close the socket's handle and the multi (a handshake cut short, or the channel's end)."""
        # What the handshake watched goes off the loop while the fd is still open: once closed, its
        # number may be another socket's, whose watchers libcurl's farewell must not remove.
        for fd in self._sockfds:
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)
        self._sockfds.clear()
        curl.close()  # leaves the multi, closing the connection
        if self._curlm is not None:
            lib.curl_multi_cleanup(self._curlm)
            self._curlm = None
        if self._timer is not None:  # last: closing may have asked for one more
            self._timer.cancel()
            self._timer = None
        self._curl2curl.clear()
        self._curl2future.clear()


class Egress:
    """The prepared handles and the connection pool (one curl multi) of one egress."""

    def __init__(self, proxy: str, impersonate: str, max_clients: int) -> None:
        self.proxy = proxy
        self.impersonate = impersonate  # the profile of calls that name none
        self.max_clients = max_clients
        self._templates: dict[str, Curl] = {}
        self._acurl: AsyncCurl | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._streams: set[Stream] = set()
        self._sockets: set[WsChannel] = set()
        self.closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop every transfer of this egress runs on, kept: asyncio.get_running_loop() is a
        getpid syscall per call in Python 3.11."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def acurl(self) -> AsyncCurl:
        if self._acurl is None:
            self._acurl = _Multi(loop=self.loop)
        return self._acurl

    def handle(self, profile: str | None = None, *, socket: bool = False) -> Curl:
        """A fresh handle with this egress's fixed options and the profile's impersonation (`socket`:
        for a WebSocket handshake)."""
        if self.closed:
            raise CurlError("egress handles are closed")
        name = profile or self.impersonate
        key = name + "\0ws" if socket else name
        tpl = self._templates.get(key)
        if tpl is None:
            tpl = self._templates[key] = template(name, self.proxy, socket=socket)
        if not socket:
            return _Copy(lib.curl_easy_duphandle(tpl._curl))
        curl = tpl.duphandle()  # a WebSocket's handle needs curl_cffi's whole object (its frame buffers)
        curl._is_cert_set = True  # CAINFO came with the copy; add_handle would set it again
        return curl

    async def _slot(self, timeout: float | None = None) -> None:
        # At most max_clients transfers at once per egress, as AsyncSession's handle pool allowed.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_clients)
        if timeout is None or not self._slots.locked():
            await self._slots.acquire()
        else:
            await asyncio.wait_for(self._slots.acquire(), timeout)

    def _free(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def fetch(self, method: str, url: str, headers: Mapping[str, str], *, body: bytes | None = None,
                    multipart: CurlMime | None = None, timeout: float | None = None, profile: str | None = None,
                    accept_encoding: str = DEFAULT_ACCEPT_ENCODING) -> tuple[Head, bytes]:
        """One complete transfer: the last response's head and body."""
        await self._slot()
        try:
            curl = self.handle(profile)
            try:
                chunks, lines = _Sink(), _Sink()
                prepare(curl, method, url, headers, body, multipart, timeout, False, accept_encoding)
                _sink_to(curl, _WRITEDATA, chunks)
                _sink_to(curl, _HEADERDATA, lines)
                future = self.acurl.add_handle(curl)
                try:
                    await future
                except BaseException:
                    # Cancelled (the future with it) or failed: off the multi and out of its maps now.
                    with contextlib.suppress(CurlError):
                        self.acurl.remove_handle(curl)
                    raise
                return Head(lines), b"".join(chunks)
            finally:
                curl.close()
        finally:
            self._free()

    async def stream(self, method: str, url: str, headers: Mapping[str, str], *, body: bytes | None = None,
                     timeout: float | None = None, profile: str | None = None,
                     accept_encoding: str = DEFAULT_ACCEPT_ENCODING, first_byte: float | None = None) -> Stream:
        """A transfer whose body is read as it comes; returns once the first body bytes (or the end)
        arrived, like AsyncSession's stream=True. The caller must `abort()` it when done. `first_byte`:
        TimeoutError unless they came within so many seconds, the wait for a free slot included (timed
        by the stream's own lazy timer: no asyncio.timeout() and heap timer per call)."""
        deadline = self.loop.time() + first_byte if first_byte is not None else None
        await self._slot(first_byte)
        try:
            curl = self.handle(profile)
        except BaseException:
            self._free()
            raise
        st = Stream(self, curl, self.loop)
        try:
            prepare(curl, method, url, headers, body, None, timeout, True, accept_encoding)
            _call_on_body(curl, st._on_body)
            _sink_to(curl, _HEADERDATA, st._lines)
            st._start(self.acurl.add_handle(curl))
            await st._wait(max(0.0, deadline - self.loop.time()) if deadline is not None else None)
            if not st._chunks and st._error is not None:
                raise st._error  # the transfer failed before any answer (refused, timed out, reset)
        except BaseException:
            st.abort()
            raise
        st.head = Head(st._lines)
        # Emptied, not replaced: curl_cffi keeps the sink HEADERDATA named (and libcurl writes to it) for
        # the life of the transfer, so a new one left the raw head lines held by every open stream
        # (~470 B, measured).
        st._lines.clear()
        return st

    async def ws_connect(self, url: str, headers: Mapping[str, str], *, timeout: float,
                         on_header: Callable[[bytes], int], max_message_size: int,
                         profile: str | None = None) -> WsChannel:
        """An upgraded WebSocket on a copy of the template, with the options AsyncSession.ws_connect
        would set. The handshake runs on the loop, on a multi of its own (_Upgrade), not on a worker
        thread as curl_cffi runs it."""
        curl = self.handle(profile, socket=True)
        try:
            prepare(curl, "GET", url, headers, None, None, timeout, False, DEFAULT_ACCEPT_ENCODING)
            curl.setopt(CurlOpt.WRITEDATA, _Sink())  # a refused upgrade's body is not read here
            curl.setopt(CurlOpt.HEADERFUNCTION, on_header)
            curl.setopt(CurlOpt.TCP_NODELAY, 1)
            curl.setopt(CurlOpt.CONNECT_ONLY, 2)  # https://curl.se/docs/websocket.html
        except BaseException:
            curl.close()
            raise
        loop = self.loop
        upgrade = _Upgrade(loop)
        try:
            upgraded = upgrade.add_handle(curl)
            # libcurl does not apply TIMEOUT_MS to a connect-only upgrade once its request is out (a
            # server that accepts and never answers held it until the peer hung up, also on curl_cffi's
            # own path): the deadline is kept here.
            timer = loop.call_later(timeout, _handshake_timed_out, upgraded, timeout) if timeout > 0 else None
            try:
                await upgraded
            finally:
                if timer is not None:
                    timer.cancel()
            if self.closed:
                raise CurlError("egress handles are closed")
        except BaseException:
            upgrade.release(curl)
            raise
        return WsChannel(self, curl, max_message_size, loop, upgrade)

    async def close(self) -> None:
        self.closed = True
        for ws in list(self._sockets):
            ws.close()
        for st in list(self._streams):
            st.abort()
        for tpl in self._templates.values():
            tpl.close()
        self._templates = {}
        if self._acurl is not None:
            acurl, self._acurl = self._acurl, None
            await acurl.close()


class Stream:
    """A streamed body without a task or queue of its own: libcurl's write callback appends to a
    list and wakes the one reader; the transfer's end (the multi's future) wakes it too."""

    __slots__ = ("_egress", "_curl", "_chunks", "_wakeup", "_future", "_error", "_done", "_lines", "_quit",
                 "head", "__weakref__")

    def __init__(self, egress: Egress, curl: Curl, loop: asyncio.AbstractEventLoop) -> None:
        self._egress = egress
        self._curl: Curl | None = curl
        self._chunks: list[bytes] = []  # a list, not a deque: a deque's first block alone is ~600 bytes
        self._wakeup = Wakeup(loop)
        self._future: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._done = False
        self._quit = False
        self._lines = _Sink()
        self.head: Head = Head(())

    def _start(self, future: asyncio.Future[None]) -> None:
        self._future = future
        self._egress._streams.add(self)
        future.add_done_callback(self._ended)

    def _on_body(self, chunk: bytes) -> int:
        if self._quit:
            return _WRITE_ERROR
        self._chunks.append(chunk)
        self._wakeup.wake()
        return len(chunk)

    def _ended(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._error = future.exception()
        self._done = True
        self._release()
        self._wakeup.wake()

    def _release(self) -> None:
        curl, self._curl = self._curl, None
        if curl is not None:
            curl.close()
            self._egress._streams.discard(self)
            self._egress._free()
        self._wakeup.cancel()

    async def _wait(self, timeout: float | None = None) -> None:
        """Until there are body bytes or the transfer ended; TimeoutError after `timeout` seconds."""
        while not self._chunks and not self._done:
            await self._wakeup.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._done

    async def read(self, timeout: float | None = None) -> bytes | None:
        """What arrived since the last read (all of it, joined), None at the end; a failed transfer raises,
        and a wait of over `timeout` seconds raises TimeoutError."""
        await self._wait(timeout)
        if self._chunks:
            chunks = self._chunks
            self._chunks = []
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self._error is not None:
            raise self._error
        return None

    async def body(self) -> bytes:
        """The rest of the body (error answers are small)."""
        parts = []
        while (chunk := await self.read()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def abort(self) -> None:
        """End the transfer now (idempotent): off the multi, handle closed, slot freed."""
        self._quit = True
        future = self._future
        if future is not None and not future.done() and self._curl is not None and self._egress._acurl is not None:
            with contextlib.suppress(CurlError):
                self._egress._acurl.remove_handle(self._curl)  # cancels the future: _ended runs later
        self._done = True
        self._release()
        self._wakeup.wake()


class WsChannel:
    """An upgraded WebSocket without tasks or queues of its own: a reader callback on the socket
    drains libcurl's frames into complete messages and wakes the one reader; sends go straight to
    libcurl (waiting for the socket only when it is full). libcurl answers pings itself."""

    __slots__ = ("_egress", "_curl", "_upgrade", "_fd", "_loop", "_messages", "_parts", "_size", "_max",
                 "_wakeup", "_error", "closed", "__weakref__")

    def __init__(self, egress: Egress, curl: Curl, max_message_size: int, loop: asyncio.AbstractEventLoop,
                 upgrade: _Upgrade) -> None:
        self._egress = egress
        self._curl: Curl | None = curl
        self._upgrade = upgrade
        self._fd = cast(int, curl.getinfo(CurlInfo.ACTIVESOCKET))
        self._loop = loop
        self._messages: list[bytes] = []
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_message_size
        self._wakeup = Wakeup(self._loop)
        self._error: BaseException | None = None
        self.closed = False  # no more messages will come (the peer closed, or we did)
        egress._sockets.add(self)
        self._loop.add_reader(self._fd, self._readable)
        self._readable()  # frames that came with the upgrade answer already sit in libcurl

    def _readable(self) -> None:
        curl = self._curl
        while curl is not None and not self.closed:
            # Curl.ws_recv's call without its wrapping: no CurlError built for the AGAIN that ends every
            # read (one per frame), and the shared buffer instead of one per socket.
            ret = lib.curl_ws_recv(curl._curl, _ws_buffer, _WS_RECV_BUFFER, _ws_received, _ws_frame)
            if ret:
                if ret == _AGAIN:
                    return
                # An EOF without a close frame ends the socket as a close would; anything else is an error.
                self._end(None if ret == _GOT_NOTHING else curl._get_error(ret, "WS_RECV"))
                return
            chunk = ffi.buffer(_ws_buffer, _ws_received[0])[:]
            frame = _ws_frame[0]
            flags = frame.flags
            if flags & CurlWsFlag.CLOSE:
                with contextlib.suppress(CurlError):
                    curl.ws_close(_close_code(chunk))  # the close handshake's answer, as autoclose sends
                self._end(None)
                return
            if not flags & _WS_DATA:
                continue  # ping (libcurl has answered it) or pong
            self._size += len(chunk)
            if self._size > self._max:
                # Told to the peer as curl_cffi's AsyncWebSocket tells it: close 1009 with this reason.
                reason = f"Message too large: {self._size} bytes (limit {self._max} bytes)."
                with contextlib.suppress(CurlError):
                    curl.ws_close(1009, reason.encode())
                self._end(CurlError(f"WebSocket message over {self._max} bytes", CurlECode.TOO_LARGE))
                return
            self._parts.append(chunk)
            if not (flags & CurlWsFlag.CONT or frame.bytesleft):
                parts, self._parts, self._size = self._parts, [], 0
                self._messages.append(parts[0] if len(parts) == 1 else b"".join(parts))
                self._wakeup.wake()

    def _end(self, error: BaseException | None) -> None:
        self._error = self._error or error
        self.closed = True
        self._release()
        self._wakeup.wake()

    def _release(self) -> None:
        curl, self._curl = self._curl, None
        if curl is not None:
            self._loop.remove_reader(self._fd)
            self._upgrade.release(curl)
            self._egress._sockets.discard(self)
        self._wakeup.cancel()

    async def recv(self, timeout: float) -> bytes | None:
        """The next complete message; None once closed. TimeoutError after `timeout` seconds
        without one; the transport's CurlError when the socket failed."""
        while not self._messages:
            if self.closed:
                if self._error is not None:
                    raise self._error
                return None
            await self._wakeup.wait(timeout)
        return self._messages.pop(0)

    async def send(self, payload: bytes, flags: int = CurlWsFlag.TEXT) -> None:
        """One message, in frames of at most 64 KB; waits for the socket only when libcurl says AGAIN
        (it then expects the rest of the same frame, which is what is sent again)."""
        total, offset, end = len(payload), 0, 0
        view = memoryview(payload)
        while offset < total or total == 0:
            curl = self._curl
            if curl is None:
                raise self._error or CurlError("WebSocket is closed", CurlECode.SEND_ERROR)
            if offset == end:
                end = min(total, offset + _WS_MAX_FRAME)
                frame_flags = flags | CurlWsFlag.CONT if end < total else flags
            try:
                sent = curl.ws_send(view[offset:end], frame_flags)
            except CurlError as exc:
                if exc.code != CurlECode.AGAIN:
                    self._end(exc)
                    raise
                sent = 0
            if total == 0:
                return
            offset += sent
            if sent == 0 and offset < total:
                await self._writable()

    async def _writable(self) -> None:
        ready = self._loop.create_future()
        self._loop.add_writer(self._fd, ready.set_result, None)
        try:
            await ready
        finally:
            self._loop.remove_writer(self._fd)

    def close(self, code: int = 1000) -> None:
        """Say goodbye (a close frame, best effort) and let the socket go."""
        curl = self._curl
        if curl is not None and not self.closed:
            with contextlib.suppress(CurlError):
                curl.ws_close(code)
        self.closed = True
        self._release()
        self._wakeup.wake()


def _handshake_timed_out(upgraded: asyncio.Future[None], seconds: float) -> None:
    if not upgraded.done():
        upgraded.set_exception(CurlError(f"WebSocket handshake timed out after {seconds:g} s",
                                         CurlECode.OPERATION_TIMEDOUT))


def _close_code(payload: bytes) -> int:
    """The code to answer a peer's close frame with: its own, or 1000 when it sent none."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
