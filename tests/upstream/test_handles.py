"""The prepared-handle path sends the same bytes as curl_cffi's own: ClientHello, HTTP/2 frames, request heads."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from curl_cffi import CurlError, CurlOpt
from curl_cffi.requests import AsyncSession, BrowserTypeLiteral

from grok2api.upstream.handles import Egress
from grok2api.upstream.headers import ACCEPT_ENCODING
from grok2api.upstream.identity import browser_for
from grok2api.upstream.options import DEFAULT_BROWSER

# The profiles the gateway impersonates: its default, an older Chrome a setting may name, and what a
# Cloudflare clearance solved by Firefox or Safari makes it present (identity.browser_for).
UAS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 "
       "Safari/537.36 Edg/142.0.0.0")
PROFILES = sorted({DEFAULT_BROWSER, "chrome146", *(browser_for(ua, DEFAULT_BROWSER) for ua in UAS)})
HEADERS = {"Accept": "*/*", "Accept-Language": "en-US,en;q=0.9", "Content-Type": "application/json",
           "Origin": "https://grok.com", "Referer": "https://grok.com/", "Sec-Fetch-Mode": "cors",
           "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/152.0.0.0", "x-xai-request-id": "",
           "Cookie": "sso=abc; sso-rw=abc"}
BODY = b'{"message":"hello","modeId":"fast"}'
_GREASE_LISTS = {10: 2, 43: 1}  # supported_groups, supported_versions: where their u16 list starts


def _grease(data: bytes, start: int = 0) -> bytes:
    """A u16 list with every GREASE value (0x?a?a, random per connection) written as 0xGGGG."""
    out = bytearray(data[:start])
    for i in range(start, len(data) - 1, 2):
        pair = data[i:i + 2]
        out += b"GG" if _is_grease(pair) else pair
    return bytes(out + data[len(out):])


def _is_grease(pair: bytes) -> bool:
    return len(pair) == 2 and pair[0] == pair[1] and pair[0] & 0x0F == 0x0A


class Listener:
    """A loopback server that records what a client sends first: the raw ClientHello, then (after a
    real TLS handshake with a throwaway certificate) the HTTP/2 frames up to the first HEADERS, or an
    HTTP/1.1 head; then it hangs up. Plain (`tls=False`) it records the HTTP/1.1 head and body."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.05)  # so that close() is noticed between accepts
        self.seen: list[dict[str, Any]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.seen.append(self._record(conn))
                except (OSError, ValueError) as exc:
                    self.seen.append({"error": repr(exc)})

    def _record(self, conn: socket.socket) -> dict[str, Any]:
        if self.tls is None:
            return {"head": _read_head(conn.recv, with_body=True)}
        hello = b""
        while len(hello) < 5 or len(hello) < 5 + struct.unpack("!H", hello[3:5])[0]:
            hello = conn.recv(65536, socket.MSG_PEEK)
        with self.tls.wrap_socket(conn, server_side=True) as tls:
            out: dict[str, Any] = {"hello": hello, "alpn": tls.selected_alpn_protocol()}
            if out["alpn"] == "h2":
                out["frames"] = _read_h2(tls.recv)
            else:
                out["head"] = _read_head(tls.recv, with_body=False)
            return out

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()


def _read_exact(recv: Callable[[int], bytes], n: int, buf: bytearray) -> bytes:
    while len(buf) < n:
        more = recv(65536)
        if not more:
            raise ValueError("peer closed early")
        buf += more
    out = bytes(buf[:n])
    del buf[:n]
    return out


def _read_h2(recv: Callable[[int], bytes]) -> list[tuple[int, int, int, bytes]]:
    """Every frame after the preface up to the HEADERS frame that ends the request's header block."""
    buf = bytearray()
    assert _read_exact(recv, 24, buf) == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    frames = []
    while True:
        length, kind, flags, stream = struct.unpack("!3sBBI", _read_exact(recv, 9, buf))
        payload = _read_exact(recv, int.from_bytes(length, "big"), buf)
        frames.append((kind, flags, stream, payload))
        if kind == 1 and flags & 0x4:
            return frames


def _read_head(recv: Callable[[int], bytes], with_body: bool) -> bytes:
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        more = recv(65536)
        if not more:
            raise ValueError("peer closed early")
        buf += more
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = bytearray(rest)
    if with_body and length:
        _read_exact(recv, int(length.group(1)), body)
    # The WebSocket key is random per handshake, by design.
    return re.sub(rb"(?i)(sec-websocket-key: )[^\r]+", rb"\1KEY", head) + b"\r\n\r\n" + bytes(body)


def hello_shape(record: bytes) -> dict[str, Any]:
    """The ClientHello without what is random per connection (client random, session id, GREASE
    values, key shares, the GREASE ECH payload and padding length); extensions in order as sent."""
    body = record[5:]
    assert body[0] == 1, "not a ClientHello"
    pos = 4 + 2 + 32
    sid_len = body[pos]
    pos += 1 + sid_len
    (n,) = struct.unpack("!H", body[pos:pos + 2])
    ciphers = _grease(body[pos + 2:pos + 2 + n])
    pos += 2 + n
    pos += 1 + body[pos]  # compression methods
    (total,) = struct.unpack("!H", body[pos:pos + 2])
    pos += 2
    end = pos + total
    extensions = []
    while pos < end:
        kind, size = struct.unpack("!HH", body[pos:pos + 4])
        data = body[pos + 4:pos + 4 + size]
        pos += 4 + size
        if _is_grease(struct.pack("!H", kind)):
            extensions.append(("grease", b""))
        elif kind == 51:  # key_share: the groups offered, not the keys
            groups, i = [], 2
            while i < len(data):
                group, klen = struct.unpack("!HH", data[i:i + 4])
                groups.append((_grease(struct.pack("!H", group)), klen))
                i += 4 + klen
            extensions.append((kind, repr(groups).encode()))
        elif kind in (21, 0xFE0D):  # padding, GREASE ECH: random or size-dependent filler
            extensions.append((kind, b""))
        else:
            extensions.append((kind, _grease(data, _GREASE_LISTS[kind]) if kind in _GREASE_LISTS else data))
    return {"version": body[4:6], "session_id_len": sid_len, "ciphers": ciphers, "extensions": extensions}


def same_hello(old: list[dict[str, Any]], new: dict[str, Any]) -> None:
    """Equal shapes. What differs between the two old connections is random by design (Chrome
    shuffles its extensions, and the entries of some, per connection): there only the set of
    extensions, and those extensions' lengths (or just their presence), must match."""
    a, b, mine = (hello_shape(o["hello"]) for o in (*old, new))
    if a["extensions"] != b["extensions"]:
        data_a, data_b = dict(a["extensions"]), dict(b["extensions"])
        for shape in (a, mine):
            masked = []
            for kind, data in shape["extensions"]:
                if data_a.get(kind) != data_b.get(kind):
                    same_len = len(data_a.get(kind, b"")) == len(data_b.get(kind, b""))
                    data = str(len(data)).encode() if same_len else b"random"
                masked.append((kind, data))
            shape["extensions"] = sorted(masked, key=repr)
    assert mine == a


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def listener(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], Listener]]:
    # Both paths verify against this CA file, as they would against certifi's for grok.com.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    made: list[Listener] = []

    def make(tls: bool) -> Listener:
        ctx = None
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*certificate)
            ctx.set_alpn_protocols(["h2", "http/1.1"])
        made.append(Listener(ctx))
        return made[-1]

    yield make
    for one in made:
        one.close()


def _old_session(profile: str) -> AsyncSession[Any]:
    """The session the transport made per egress before prepared handles, with its arguments."""
    return AsyncSession(impersonate=profile, max_clients=16, discard_cookies=True, allow_redirects=True,
                        default_headers=False,
                        curl_options={CurlOpt.UPLOAD_BUFFERSIZE: 16384, CurlOpt.BUFFERSIZE: 16384})


async def _hung_up(call: Awaitable[Any]) -> None:
    """The listener hangs up after recording: the call fails, which is all it is for here."""
    with pytest.raises(CurlError):
        await asyncio.wait_for(call, 10)


def _seen(server: Listener, n: int) -> list[dict[str, Any]]:
    for _ in range(200):
        if len(server.seen) >= n:
            break
        threading.Event().wait(0.01)
    assert len(server.seen) == n and not any("error" in s for s in server.seen), server.seen
    return server.seen


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stream", [False, True])
async def test_https_call_sends_the_same_hello_frames_and_headers(listener: Callable[[bool], Listener],
                                                                   profile: str, stream: bool) -> None:
    server = listener(True)
    url = f"https://127.0.0.1:{server.port}/rest/app-chat/conversations/new"
    for _ in range(2):  # twice: tells a profile that shuffles its extensions from one that does not
        async with _old_session(profile) as old:
            await _hung_up(old.request("POST", url, headers=HEADERS, data=BODY, timeout=5, stream=stream,
                                       accept_encoding=ACCEPT_ENCODING))
    egress = Egress("", profile, 16)
    try:
        call = (egress.stream if stream else egress.fetch)("POST", url, HEADERS, body=BODY, timeout=5,
                                                           accept_encoding=ACCEPT_ENCODING)
        await _hung_up(call)
    finally:
        await egress.close()
    first, second, new = _seen(server, 3)
    assert new["alpn"] == first["alpn"] == "h2"
    same_hello([first, second], new)
    # SETTINGS, WINDOW_UPDATE, PRIORITY frames and the HPACK-coded header block: byte for byte.
    assert new["frames"] == first["frames"]


@pytest.mark.parametrize("profile", PROFILES)
async def test_websocket_handshake_sends_the_same_hello_and_head(listener: Callable[[bool], Listener],
                                                                 profile: str) -> None:
    server = listener(True)
    url = f"wss://127.0.0.1:{server.port}/ws/mgw"
    headers = {k: v for k, v in HEADERS.items() if k != "Content-Type"}
    for _ in range(2):
        async with _old_session(profile) as old:
            await _hung_up(old.ws_connect(url, headers=headers, timeout=5, max_message_size=1 << 20,
                                          curl_options={CurlOpt.HEADERFUNCTION: len}))
    egress = Egress("", profile, 16)
    try:
        await _hung_up(egress.ws_connect(url, headers, timeout=5, on_header=len, max_message_size=1 << 20))
    finally:
        await egress.close()
    first, second, new = _seen(server, 3)
    assert new["alpn"] == first["alpn"]
    same_hello([first, second], new)
    assert new["head"] == first["head"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_plain_http_heads_are_byte_for_byte_the_same(listener: Callable[[bool], Listener], method: str) -> None:
    """What fakegrok and any plain-HTTP mirror record: the request line, every header line in order, the body."""
    server = listener(False)
    url = f"http://127.0.0.1:{server.port}/rest/app-chat/conversations/new?x=1"
    body = BODY if method == "POST" else None
    async with _old_session(DEFAULT_BROWSER) as old:
        await _hung_up(old.request(method, url, headers=HEADERS, data=body, timeout=5,  # type: ignore[arg-type]
                                   accept_encoding=ACCEPT_ENCODING))
    egress = Egress("", DEFAULT_BROWSER, 16)
    try:
        await _hung_up(egress.fetch(method, url, HEADERS, body=body, timeout=5, accept_encoding=ACCEPT_ENCODING))
        await _hung_up(egress.stream(method, url, HEADERS, body=body, timeout=5, accept_encoding=ACCEPT_ENCODING))
    finally:
        await egress.close()
    old_head, fetched, streamed = (s["head"] for s in _seen(server, 3))
    assert fetched == old_head and streamed == old_head
    assert old_head.startswith(method.encode() + b" /rest/app-chat/conversations/new?x=1 HTTP/1.1\r\n")


def test_the_profiles_under_test_are_the_gateways() -> None:
    assert DEFAULT_BROWSER in PROFILES and len(PROFILES) == 4
    assert any(p.startswith("firefox") for p in PROFILES) and any(p.startswith("edge") for p in PROFILES)
    _ = BrowserTypeLiteral  # the profiles are curl_cffi's own names


async def test_cancelled_and_aborted_calls_leave_nothing_behind() -> None:
    """A call cancelled while the server is silent, and a stream ended early, leave no handle on the
    multi, no entry in its maps and no slot taken (the egress allows one transfer at a time here)."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts into its backlog, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    egress = Egress("", DEFAULT_BROWSER, 1)
    try:
        for call in (egress.fetch("GET", url, HEADERS, timeout=30), egress.stream("GET", url, HEADERS, timeout=30)):
            task = asyncio.ensure_future(call)
            await asyncio.sleep(0.2)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            acurl = egress.acurl
            assert not acurl._curl2future and not acurl._curl2curl and not egress._streams
        # The single slot is free again: a call that gets an answer goes through.
        server = Listener(None)
        try:
            await _hung_up(egress.fetch("GET", f"http://127.0.0.1:{server.port}/", HEADERS, timeout=5))
        finally:
            server.close()
        assert not egress.acurl._curl2future
    finally:
        await egress.close()
        silent.close()


async def test_a_streams_first_byte_deadline_covers_the_wait_for_a_slot() -> None:
    """`first_byte` times the whole wait: a server that never answers, and a slot that never frees
    (one transfer at a time here, held by the first stream). Each raises TimeoutError on time and
    leaves nothing taken."""
    silent = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    egress = Egress("", DEFAULT_BROWSER, 1)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(TimeoutError):
            await egress.stream("GET", url, HEADERS, timeout=30, first_byte=0.3)
        assert 0.25 < loop.time() - started < 2 and not egress._streams
        holder = asyncio.ensure_future(egress.stream("GET", url, HEADERS, timeout=30))
        await asyncio.sleep(0.1)  # it has the one slot and waits on the silent server
        started = loop.time()
        with pytest.raises(TimeoutError):
            await egress.stream("GET", url, HEADERS, timeout=30, first_byte=0.3)
        assert 0.25 < loop.time() - started < 2
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        assert egress._slots is not None and not egress._slots.locked()  # the one slot is free again
    finally:
        await egress.close()
        silent.close()


async def test_a_websocket_handshake_cut_short_leaves_nothing_watched() -> None:
    """The upgrade runs on the loop (a multi of its own): cancelled or timed out against a server that
    never answers, it leaves no reader or writer on the loop and no socket on the egress."""
    silent = socket.create_server(("127.0.0.1", 0))
    url = f"ws://127.0.0.1:{silent.getsockname()[1]}/"
    egress = Egress("", DEFAULT_BROWSER, 1)
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    watched = set(selector.get_map())
    try:
        task = asyncio.ensure_future(egress.ws_connect(url, HEADERS, timeout=30, on_header=len,
                                                       max_message_size=1 << 20))
        await asyncio.sleep(0.2)
        assert not task.done() and set(selector.get_map()) - watched  # its socket is the loop's to watch
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert set(selector.get_map()) == watched and not egress._sockets
        with pytest.raises(CurlError, match="(?i)timed? ?out"):
            await egress.ws_connect(url, HEADERS, timeout=0.3, on_header=len, max_message_size=1 << 20)
        assert set(selector.get_map()) == watched and not egress._sockets
    finally:
        await egress.close()
        silent.close()


class WsPeer:
    """A loopback WebSocket server at the frame level: it answers the upgrade, sends a text message
    in three fragments (first over 16 KB) and a ping, then records every frame the client sends
    (unmasked: the mask is random per frame) until the client's close, which it answers."""

    def __init__(self, sessions: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.frames: list[list[tuple[bool, int, bytes]]] = []
        self._thread = threading.Thread(target=self._serve, args=(sessions,), daemon=True)
        self._thread.start()

    def _serve(self, sessions: int) -> None:
        for _ in range(sessions):
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(10)
                self.frames.append(self._session(conn))

    def _session(self, conn: socket.socket) -> list[tuple[bool, int, bytes]]:
        import base64
        import hashlib

        head = bytearray()
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        match = re.search(rb"(?i)\r\nsec-websocket-key: *([^\r]+)", bytes(head))
        assert match is not None
        key = match.group(1)
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        big = b"a" * 40_000
        conn.sendall(_frame(False, 1, big[:20_000]) + _frame(False, 0, big[20_000:]) + _frame(True, 0, b"!")
                     + _frame(True, 9, b"ping"))
        seen: list[tuple[bool, int, bytes]] = []
        buf = bytearray()
        while True:
            b0, b1 = _read_exact(conn.recv, 2, buf)
            size = b1 & 0x7F
            if size == 126:
                size = struct.unpack("!H", _read_exact(conn.recv, 2, buf))[0]
            elif size == 127:
                size = struct.unpack("!Q", _read_exact(conn.recv, 8, buf))[0]
            mask = _read_exact(conn.recv, 4, buf) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(_read_exact(conn.recv, size, buf)))
            seen.append((bool(b0 & 0x80), b0 & 0x0F, data))
            if b0 & 0x0F == 8:
                conn.sendall(_frame(True, 8, data))
                return seen

    def close(self) -> None:
        self._thread.join(10)
        self.sock.close()


def _frame(fin: bool, opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if size < 126:
        head += bytes([size])
    elif size < 65536:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


async def test_websocket_frames_are_those_curl_cffi_sends() -> None:
    """Both ways of holding a socket read the same fragmented message, answer the ping with the same
    pong, send a long message in the same frames and close with the same frame."""
    peer = WsPeer(2)
    url = f"ws://127.0.0.1:{peer.port}/ws/mgw"
    long = ("x" * 150_000).encode()
    try:
        async with _old_session(DEFAULT_BROWSER) as old:
            ws = await old.ws_connect(url, headers=HEADERS, timeout=5, max_message_size=1 << 20)
            got_old = await ws.recv_str(timeout=5)
            await ws.send_str(long.decode())
            await ws.send_str("short")
            await asyncio.sleep(0.1)  # the pong goes out from curl_cffi's reader task
            await ws.close(timeout=2)
        egress = Egress("", DEFAULT_BROWSER, 16)
        try:
            mine = await egress.ws_connect(url, HEADERS, timeout=5, on_header=len, max_message_size=1 << 20)
            got_new = await mine.recv(5)
            await mine.send(long)
            await mine.send(b"short")
            mine.close()
            assert await mine.recv(1) is None and not egress._sockets
        finally:
            await egress.close()
    finally:
        peer.close()
    assert got_old == got_new.decode() == "a" * 40_000 + "!"
    old_frames, new_frames = peer.frames
    assert new_frames == old_frames
    assert [(fin, op, len(data)) for fin, op, data in new_frames] == [
        (True, 10, 4), (False, 1, 65536), (False, 0, 65536), (True, 0, 150_000 - 131072), (True, 1, 5), (True, 8, 2)]


async def test_websocket_limits_and_ends() -> None:
    """A message over the limit fails the socket (and the peer is told); a closed channel refuses to send."""
    peer = WsPeer(1)
    egress = Egress("", DEFAULT_BROWSER, 16)
    try:
        small = await egress.ws_connect(f"ws://127.0.0.1:{peer.port}/", HEADERS, timeout=5, on_header=len,
                                        max_message_size=30_000)
        with pytest.raises(CurlError, match="over 30000 bytes"):
            await small.recv(5)
        assert small.closed and not egress._sockets
        with pytest.raises(CurlError):
            await small.send(b"late")
    finally:
        await egress.close()
        peer.close()
    (frames,) = peer.frames  # the peer heard why: close 1009, as curl_cffi says it
    assert frames[-1][1] == 8 and frames[-1][2][:2] == b"\x03\xf1" and b"limit 30000 bytes" in frames[-1][2]


def test_urls_sent_without_requoting_are_those_requoting_leaves_alone() -> None:
    """The fast path skips curl_cffi's requote_uri only for URLs it would not change."""
    from curl_cffi.requests.utils import requote_uri

    from grok2api.upstream.handles import _PLAIN_URL

    plain = [chr(c) for c in range(32, 127) if _PLAIN_URL.fullmatch(chr(c))]
    assert "%" not in plain and " " not in plain and len(plain) > 60
    for c in plain:
        url = f"https://grok.com/rest/x{c}y?q={c}&r=1#{c}"
        assert requote_uri(url) == url, c
