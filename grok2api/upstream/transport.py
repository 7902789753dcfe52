"""The thin curl_cffi transport: prepared handles per proxy, cookies and headers, statsig, classified failures.

x-statsig-id: a call that names a `statsig_path` gets a value from the strategy chain. When
grok.com answers it with the anti-bot (C1) or stale-page (C3) 403, the chain demotes that
strategy for the path and egress and the call is sent once more with the next strategy's
value; a second refusal is raised (ANTI_BOT / STALE_PAGE: the egress's problem, never the
account's). Cookies the edge sets (`__cf_bm`, `cf_clearance`, ...) are kept per egress and
account and sent back; high-entropy client hints go out only after the edge asked (Accept-CH).

Cloudflare clearance per egress: pass `egress_hooks` (identity.EgressHooks; grok2api.egress's
EgressPool fits). A call presents the clearance the hooks hold for its egress (its cookies, its
User-Agent and client hints, the impersonation profile of the same browser); when Cloudflare still
challenges it, the hooks are asked for a fresh clearance and the call is sent once more with it.
Every call's outcome is reported to the hooks (egress health, counters).

Proxy rotation hook: pass `proxy_picker`, any object with `async current() -> str` ("" = direct)
and `async on_cloudflare(proxy) -> None` (grok2api.egress.proxies.ProxyManager fits). Each call may also
name its proxy explicitly; otherwise the picker's current proxy is used, else `config.proxy_url`.
When a call fails with CLOUDFLARE the picker's `on_cloudflare(proxy)` is awaited, so the next call
leaves through a fresh egress; the error is still raised (the gateway decides about retrying).

Taps (exchange.py): every callable in `taps` hears each finished exchange (request, answer, stream
frames with timing, outcome); the transcript capture and the upstream health view are taps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from curl_cffi import CurlError, CurlMime
from curl_cffi.requests import BrowserTypeLiteral, HttpMethod

from .. import jsonfast
from .classify import classify, classify_exception, upgrade_refused_status
from .errors import ErrorKind, UpstreamError
from .exchange import Exchange, Tap, wants_frames
from .handles import Egress, Head, Stream, WsChannel, map_large_buffers
from .headers import ACCEPT_ENCODING, client_hints, cookie_header, high_entropy_hints, normalize_token
from .identity import Clearance, EgressHooks, EgressIdentity
from .options import UpstreamConfig
from .statsig_chain import NoStrategy, Signed, StatsigChain

log = logging.getLogger(__name__)

_WS_MAX_MESSAGE = 64 * 1024 * 1024  # Imagine finals arrive as base64 blobs inside one text frame


class ProxyPicker(Protocol):
    """Chooses the egress for calls that do not name one, and hears about Cloudflare blocks."""

    async def current(self) -> str: ...

    async def on_cloudflare(self, proxy: str) -> None: ...


@dataclass(slots=True)
class HttpResult:
    """A complete (non-streamed) successful answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; a malformed body from a 2xx is an upstream fault."""
        try:
            return json.loads(self.body) if self.body.strip() else {}
        except ValueError:
            raise UpstreamError(ErrorKind.UPSTREAM, f"malformed JSON from grok.com: {self.text[:120]!r}",
                                status=self.status) from None


@dataclass(slots=True)
class Call:
    """Who is calling and how: the account token, cookies to add, the egress and the statsig path."""

    token: str
    proxy: str | None = None  # None = let the picker/config choose
    cf_cookies: bool = True  # accounts.x.ai gets sso/sso-rw only (§2.2)
    user_id: str = ""  # mgw adds x-userid to the cookie
    statsig_path: str = ""  # "" = no x-statsig-id on this call


_REFUSED = (ErrorKind.ANTI_BOT, ErrorKind.STALE_PAGE)


class Transport:
    """Sends requests and opens WebSockets as a browser on grok.com would, with prepared handles per proxy."""

    def __init__(self, config: UpstreamConfig, statsig: StatsigChain,
                 proxy_picker: ProxyPicker | None = None, egress_hooks: EgressHooks | None = None) -> None:
        self.config = config
        self.statsig = statsig
        self.proxy_picker = proxy_picker
        self.egress_hooks = egress_hooks
        self.identity = EgressIdentity()
        self._sessions: dict[str, Egress] = {}
        # Egresses of an earlier configuration, kept for the calls still using them: (retired at, egress).
        self._retired: list[tuple[float, Egress]] = []
        self._closing: set[asyncio.Future[None]] = set()
        self._closed = False
        self.taps: list[Tap] = []
        map_large_buffers()

    # -- lifecycle ---------------------------------------------------------
    def session(self, proxy: str) -> Egress:
        """The prepared handles of one egress, made on first use (see handles.py)."""
        if self._closed:
            raise UpstreamError(ErrorKind.NETWORK, "upstream client is closed")
        sess = self._sessions.get(proxy)
        if sess is None:
            sess = self._sessions[proxy] = Egress(proxy, self.config.browser, self.config.max_clients)
        return sess

    def start(self) -> None:
        """Accept calls (again, after close)."""
        self._closed = False

    def reconfigure(self, config: UpstreamConfig, statsig: StatsigChain) -> None:
        """New settings from the next call on. The sessions are made again when what they were made
        with changed (impersonation profile, handle limit): running calls keep theirs, which are closed
        once those calls had time to end (or at close). Another grok.com host forgets the edge's cookies."""
        old, self.config, self.statsig = self.config, config, statsig
        if (old.browser, old.max_clients) != (config.browser, config.max_clients):
            now = time.monotonic()
            self._retired += [(now, sess) for sess in self._sessions.values()]
            self._sessions = {}
        if old.grok_url != config.grok_url:
            self.identity = EgressIdentity()
        self._close_retired(older_than=config.media_timeout)

    def _close_retired(self, older_than: float) -> None:
        cutoff = time.monotonic() - older_than
        old = [sess for at, sess in self._retired if at <= cutoff]
        self._retired = [(at, sess) for at, sess in self._retired if at > cutoff]
        for sess in old:
            task = asyncio.ensure_future(sess.close())
            self._closing.add(task)
            task.add_done_callback(self._closed_one)

    def _closed_one(self, task: asyncio.Future[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:  # closing is best effort
            log.debug("closing a retired session failed: %s", task.exception())

    async def close(self) -> None:
        """Close every session (and their WebSockets)."""
        self._closed = True
        sessions, self._sessions = list(self._sessions.values()), {}
        sessions += [sess for _, sess in self._retired]
        self._retired = []
        for sess in sessions:
            with contextlib.suppress(Exception):
                await sess.close()

    async def egress(self, proxy: str | None, *, asset: bool = False) -> str:
        """The proxy for one call: explicit, else the asset proxy for downloads, else picker, else config."""
        if proxy is not None:
            return proxy
        if asset and self.config.asset_proxy_url:
            return self.config.asset_proxy_url
        if self.proxy_picker is not None:
            return await self.proxy_picker.current()
        return self.config.proxy_url

    def _clearance(self, proxy: str) -> Clearance | None:
        return self.egress_hooks.clearance(proxy) if self.egress_hooks is not None else None

    async def _recleared(self, err: UpstreamError, proxy: str, seen: Clearance | None,
                         retried: bool) -> bool:
        """After a Cloudflare challenge: True when the hooks have a fresh clearance to send the call
        once more with (the edge cookies of the refused one are dropped first)."""
        if err.kind is not ErrorKind.CLOUDFLARE or retried or self.egress_hooks is None:
            return False
        self.identity.forget(proxy)
        try:
            return await self.egress_hooks.challenged(proxy, seen) is not None
        except Exception:  # a broken solver must not hide the challenge itself
            log.exception("egress hooks failed on a Cloudflare challenge")
            return False

    def _observed(self, proxy: str, kind: ErrorKind | None) -> None:
        if self.egress_hooks is not None:
            self.egress_hooks.observed(proxy, kind)

    async def _failed(self, err: UpstreamError, proxy: str) -> UpstreamError:
        self._observed(proxy, err.kind)
        if err.kind is ErrorKind.CLOUDFLARE:
            self.identity.forget(proxy)  # the clearance this egress held is no longer honoured
            if self.proxy_picker is not None:
                try:
                    await self.proxy_picker.on_cloudflare(proxy)
                except Exception:  # a broken proxy pool must not hide the real error
                    log.exception("proxy picker failed on Cloudflare report")
        return err

    def _exchange(self, kind: str, method: str, url: str, proxy: str, sent: dict[str, str], *,
                  json_body: Any = None, content: bytes | None = None, multipart: bool = False) -> Exchange | None:
        """A record of this attempt for the taps, or None when nobody listens (the usual case)."""
        if not self.taps:
            return None
        keep = any(wants_frames(t) for t in self.taps)
        # `sent` itself, not a copy: every attempt builds its own (_headers) and nothing changes it after;
        # a copy was ~600 B more per open stream (measured), the exchange living as long as the stream.
        ex = Exchange(kind, method, url, proxy, sent, request_json=json_body, request_bytes=content or b"",
                      request_multipart=multipart, keep_frames=keep)
        if not keep:
            # Counting taps only (the health view): the body is not held for the life of a stream (the
            # exchange read its step from it already).
            ex.request_json, ex.request_bytes = None, b""
        return ex

    def _emit(self, ex: Exchange | None, error: BaseException | None) -> None:
        if ex is None:
            return
        ex.finish(error)
        for tap in self.taps:
            try:
                tap(ex)
            except Exception:  # a tap must never break a call
                log.exception("upstream tap failed")

    async def sign(self, method: str, path: str, proxy: str, tried: list[str]) -> Signed:
        """A value from the chain for one call, not from a strategy this call already tried."""
        try:
            return await self.statsig.value(method, path, proxy, exclude=tried)
        except NoStrategy as exc:
            raise UpstreamError(ErrorKind.ANTI_BOT, f"no x-statsig-id strategy could give a value ({exc})",
                                status=403) from None

    def _headers(self, call: Call, proxy: str, headers: Mapping[str, str], signed: Signed | None,
                 clearance: Clearance | None = None) -> dict[str, str]:
        out = _present_as(headers, clearance) if clearance is not None and clearance.user_agent else dict(headers)
        ua = out.get("User-Agent", self.config.user_agent)
        for name, value in high_entropy_hints(ua, self.identity.asked_hints(proxy)).items():
            out.setdefault(name, value)
        token = normalize_token(call.token) if call.token else ""
        edge = self.identity.cookies(proxy, token) if call.cf_cookies else {}
        if clearance is not None and call.cf_cookies:
            edge = {**clearance.cookies, **edge}  # what the edge set since (a newer __cf_bm) wins
        configured = self.config.cf_clearance if call.cf_cookies and clearance is None else ""
        out["Cookie"] = cookie_header(call.token, configured, call.user_id, edge)
        if signed is not None:
            out["x-statsig-id"] = signed.value
        return out

    def _heard(self, call: Call, proxy: str, head: Head) -> None:
        """Keep what the edge told this egress: its cookies (for this account) and Accept-CH."""
        if call.cf_cookies:
            lines = [line for line in head.set_cookie if line]
            if lines:
                self.identity.remember(proxy, normalize_token(call.token) if call.token else "", lines)
        accept_ch = head.headers.get("accept-ch")
        if accept_ch:
            self.identity.note_accept_ch(proxy, accept_ch)

    def _settle_statsig(self, signed: Signed | None, err: UpstreamError | None, method: str, call: Call,
                        proxy: str, tried: list[str]) -> bool:
        """Credit the strategy with the answer; True when the call should be sent again (once)."""
        if signed is None:
            return False
        if err is None:
            self.statsig.passed(signed, call.statsig_path, proxy)
            return False
        if err.kind not in _REFUSED:
            return False
        self.statsig.refused(signed, method, call.statsig_path, proxy, stale=err.kind is ErrorKind.STALE_PAGE)
        tried.append(signed.strategy)
        return len(tried) == 1

    # -- HTTP --------------------------------------------------------------
    async def request(self, method: HttpMethod, url: str, call: Call, headers: Mapping[str, str], *,
                      json_body: Any = None, content: bytes | None = None, multipart: CurlMime | None = None,
                      timeout: float | None = None, asset: bool = False, ok: tuple[int, ...] = ()) -> HttpResult:
        """One complete request; any status outside 2xx (and `ok`) raises a classified UpstreamError."""
        proxy = await self.egress(call.proxy, asset=asset)
        data = content
        if json_body is not None:
            data = jsonfast.dumps(json_body)
        tried: list[str] = []
        recleared = False
        while True:
            signed = await self.sign(method, call.statsig_path, proxy, tried) if call.statsig_path else None
            clearance = self._clearance(proxy)
            sent = self._headers(call, proxy, headers, signed, clearance)
            ex = self._exchange("http", method, url, proxy, sent, json_body=json_body, content=content,
                                multipart=multipart is not None)
            try:
                head, body = await self.session(proxy).fetch(
                    method, url, sent, body=data, multipart=multipart, timeout=timeout or self.config.timeout,
                    accept_encoding=ACCEPT_ENCODING, profile=_profile(clearance))
            except (TimeoutError, CurlError, OSError) as exc:
                err = classify_exception(exc)
                self._emit(ex, err)
                raise await self._failed(err, proxy) from None
            self._heard(call, proxy, head)
            if ex is not None:
                ex.answered(head.status, dict(head.headers), body)
            if 200 <= head.status < 300 or head.status in ok:
                self._settle_statsig(signed, None, method, call, proxy, tried)
                self._observed(proxy, None)
                self._emit(ex, None)
                return HttpResult(head.status, head.headers, body)
            err = classify(head.status, body.decode("utf-8", "replace"), head.headers)
            self._emit(ex, err)
            if self._settle_statsig(signed, err, method, call, proxy, tried):
                continue
            if await self._recleared(err, proxy, clearance, recleared):
                recleared = True
                continue
            raise await self._failed(err, proxy)

    @contextlib.asynccontextmanager
    async def stream(self, method: HttpMethod, url: str, call: Call, headers: Mapping[str, str], *,
                     json_body: Any = None, timeout: float | None = None) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        """A streamed 2xx response as an iterator of its body's lines, a list for each piece received
        (the lines that piece completed), with first-byte and idle timeouts."""
        proxy = await self.egress(call.proxy)
        # An exact-size copy: orjson's bytes keep the ~8 KB it allocated to write into, and libcurl holds
        # the body (POSTFIELDS, not copied) for the life of the stream (measured 8,145 B per open stream).
        data = bytes(memoryview(jsonfast.dumps(json_body))) if json_body is not None else None
        sess = self.session(proxy)
        tried: list[str] = []
        recleared = False
        while True:
            signed = await self.sign(method, call.statsig_path, proxy, tried) if call.statsig_path else None
            clearance = self._clearance(proxy)
            sent = self._headers(call, proxy, headers, signed, clearance)
            ex = self._exchange("stream", method, url, proxy, sent, json_body=json_body)
            try:
                st = await sess.stream(method, url, sent, body=data, timeout=timeout or self.config.timeout,
                                       accept_encoding=ACCEPT_ENCODING, profile=_profile(clearance),
                                       first_byte=self.config.first_byte_timeout)
            except TimeoutError:
                err = UpstreamError(ErrorKind.TIMEOUT, "no response headers before the first-byte timeout")
                self._emit(ex, err)
                raise await self._failed(err, proxy) from None
            except (CurlError, OSError) as exc:
                err = classify_exception(exc)
                self._emit(ex, err)
                raise await self._failed(err, proxy) from None
            self._heard(call, proxy, st.head)
            if 200 <= st.head.status < 300:
                self._settle_statsig(signed, None, method, call, proxy, tried)
                self._observed(proxy, None)
                if ex is not None:
                    ex.answered(st.head.status, dict(st.head.headers))
                break
            try:
                try:
                    body = await asyncio.wait_for(st.body(), self.config.first_byte_timeout)
                except (TimeoutError, CurlError, OSError):
                    body = b""
                err = classify(st.head.status, body.decode("utf-8", "replace"), st.head.headers)
                if ex is not None:
                    ex.answered(st.head.status, dict(st.head.headers), body)
            finally:
                st.abort()
            self._emit(ex, err)
            if self._settle_statsig(signed, err, method, call, proxy, tried):
                continue
            if await self._recleared(err, proxy, clearance, recleared):
                recleared = True
                continue
            raise await self._failed(err, proxy)
        # The stream may stay open for minutes: what only served to send it is let go now (the body
        # bytes stay with curl, which owns them until the transfer ends).
        del sent, headers, json_body, data
        error: BaseException | None = None
        try:
            yield self._lines(st, ex)
        except BaseException as exc:
            error = exc
            raise
        finally:
            # Ends the transfer at once: after an idle timeout, waiting for it to finish would mean
            # waiting for the very stall we gave up on.
            st.abort()
            self._emit(ex, error)

    async def _lines(self, st: Stream, ex: Exchange | None = None) -> AsyncIterator[list[bytes]]:
        """Split the body into lines, handed on a list per chunk: under load one chunk completes many
        lines, which then travel (and are answered) together instead of one resume each. The first
        chunk must come within first_byte, later ones within idle."""
        buffer = b""
        wait = self.config.first_byte_timeout
        while True:
            try:
                chunk = await st.read(wait)  # its own lazy timer: no timeout context per chunk (wakeup.py)
            except TimeoutError:
                what = "first byte" if wait == self.config.first_byte_timeout and not buffer else "next frame"
                raise UpstreamError(ErrorKind.TIMEOUT, f"grok.com sent no {what} in {wait:g}s") from None
            except (CurlError, OSError) as exc:
                raise classify_exception(exc) from None
            if chunk is None:
                break
            wait = self.config.idle_timeout
            buffer += chunk
            chunk = b""  # passed on: not held while the stream idles until the next chunk (~780 B, measured)
            if b"\n" not in buffer:
                continue
            *lines, buffer = buffer.split(b"\n")
            if ex is not None:
                for line in lines:
                    ex.add_frame("recv", line.decode("utf-8", "replace"))
                line = b""
            yield lines  # the reader empties it (rest_chat.run_stream): nothing held while idle
            lines = []
        if buffer:
            if ex is not None:
                ex.add_frame("recv", buffer.decode("utf-8", "replace"))
            yield [buffer]

    # -- WebSocket ---------------------------------------------------------
    @contextlib.asynccontextmanager
    async def websocket(self, url: str, call: Call, headers: Mapping[str, str]) -> AsyncIterator[WsConn]:
        """An open WebSocket; a refused handshake is classified like the HTTP answer it was."""
        proxy = await self.egress(call.proxy)
        sess = self.session(proxy)
        raw_headers: list[bytes] = []

        def keep_header(line: bytes) -> int:
            raw_headers.append(line)
            return len(line)

        recleared = False
        while True:
            clearance = self._clearance(proxy)
            sent = self._headers(call, proxy, headers, None, clearance)  # no x-statsig-id on any WebSocket (§2.7)
            ex = self._exchange("ws", "GET", url, proxy, sent)
            raw_headers.clear()
            try:
                ws = await sess.ws_connect(url, sent, timeout=self.config.connect_timeout, on_header=keep_header,
                                           max_message_size=_WS_MAX_MESSAGE, profile=_profile(clearance))
                break
            except (TimeoutError, CurlError, OSError) as exc:
                status = upgrade_refused_status(exc)
                if not status:
                    err = classify_exception(exc)
                    self._emit(ex, err)
                    raise await self._failed(err, proxy) from None
                err = await self._refused(url, status, _parse_headers(raw_headers), sess, sent, clearance, ex)
                self._emit(ex, err)
            if await self._recleared(err, proxy, clearance, recleared):
                recleared = True
                continue
            raise await self._failed(err, proxy) from None
        self._observed(proxy, None)
        if call.cf_cookies:
            set_cookie = [line.decode("latin-1").split(":", 1)[1].strip() for line in raw_headers
                          if line.lower().startswith(b"set-cookie:")]
            if set_cookie:
                self.identity.remember(proxy, normalize_token(call.token) if call.token else "", set_cookie)
        if ex is not None:
            ex.answered(101, _parse_headers(raw_headers))
        # The socket may stay open for minutes: what only served the handshake is let go now.
        del sent, headers
        raw_headers.clear()
        conn = WsConn(ws, self.config.idle_timeout, ex)
        error: BaseException | None = None
        try:
            yield conn
        except BaseException as exc:
            error = exc
            raise
        finally:
            await conn.close()
            self._emit(ex, error)

    async def _refused(self, url: str, status: int, headers: dict[str, str], sess: Egress,
                       sent: dict[str, str], clearance: Clearance | None, ex: Exchange | None = None) -> UpstreamError:
        """curl keeps no body of a refused upgrade; a 403 needs one (challenge page vs blocked
        account), so the same URL is fetched once over HTTP to read it."""
        body = ""
        if status == 403:
            http_url = "https" + url[3:] if url.startswith("wss") else "http" + url[2:]
            try:
                head, content = await sess.fetch("GET", http_url, sent, timeout=self.config.connect_timeout,
                                                 profile=_profile(clearance))
                if head.status == 403:
                    body = content.decode("utf-8", "replace")
            except (CurlError, OSError):
                pass
        if ex is not None:
            ex.answered(status, headers, body.encode())
        return classify(status, body, headers)


def _profile(clearance: Clearance | None) -> BrowserTypeLiteral | None:
    """The impersonation profile of a clearance's browser (None: the session's own)."""
    if clearance is None or not clearance.browser:
        return None
    return cast("BrowserTypeLiteral", clearance.browser)  # browser_for() picked it from curl_cffi's own list


_HINT_NAMES = frozenset(("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"))


def _present_as(headers: Mapping[str, str], clearance: Clearance) -> dict[str, str]:
    """The headers with a clearance's User-Agent, and the low-entropy hints of that browser where the
    call sends hints at all, in the same places: Cloudflare binds the clearance to that browser."""
    hints = {name.lower(): value for name, value in client_hints(clearance.user_agent, clearance.browser).items()}
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low == "user-agent":
            out[name] = clearance.user_agent
        elif low in _HINT_NAMES:
            if low in hints:  # a browser without client hints (Firefox) sends none
                out[name] = hints[low]
        else:
            out[name] = value
    out.setdefault("User-Agent", clearance.user_agent)
    return out


def _parse_headers(lines: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("latin-1").strip()
        if ":" in line and not line.startswith("HTTP/"):
            name, value = line.split(":", 1)
            out[name.strip().lower()] = value.strip()
    return out


class WsConn:
    """A JSON-text WebSocket with classified failures; `recv` returns None once the peer closed."""

    def __init__(self, ws: WsChannel, idle_timeout: float, exchange: Exchange | None = None) -> None:
        self._ws = ws
        self.idle_timeout = idle_timeout
        self.closed = False
        self._exchange = exchange  # frames are noted here when a tap listens

    async def send(self, obj: Any) -> None:
        data = jsonfast.dumps(obj)
        if self._exchange is not None:
            self._exchange.add_frame("send", data.decode())
        if self._ws.closed:
            self.closed = True
            raise UpstreamError(ErrorKind.UPSTREAM, "grok.com closed the WebSocket")
        try:
            await self._ws.send(data)
        except (CurlError, OSError) as exc:
            raise classify_exception(exc) from None

    async def recv(self, timeout: float | None = None) -> Any:
        """The next JSON frame; None when closed. Non-JSON text frames are skipped."""
        while True:
            if self.closed:
                return None
            try:
                data = await self._ws.recv(timeout or self.idle_timeout)
            except TimeoutError:
                raise UpstreamError(ErrorKind.TIMEOUT, "grok.com WebSocket went idle") from None
            except (CurlError, OSError) as exc:
                self.closed = True
                raise classify_exception(exc) from None
            if data is None:
                self.closed = True
                if self._exchange is not None:
                    self._exchange.closed_by = "server"
                return None
            if self._exchange is not None:
                try:
                    self._exchange.add_frame("recv", data.decode())
                except UnicodeDecodeError:
                    continue  # a binary or undecodable frame: nothing any dialect reads
            try:
                return jsonfast.loads(data)  # a frame per token: orjson's, where it reads as the stdlib does
            except ValueError:
                continue  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._exchange is not None:
                self._exchange.closed_by = "client"
        self._ws.close()
