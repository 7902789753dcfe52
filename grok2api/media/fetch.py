"""Server-side fetches of user-supplied URLs behind an SSRF guard, and `data:` URL decoding.

The guard resolves the host, refuses the request when any resolved address is loopback,
private, link-local, multicast, reserved or otherwise not global (IPv4 and IPv6, IPv4-mapped,
6to4 and Teredo unwrapped) unless private fetches are allowed, and connects to exactly the
addresses it checked (the resolver that checks is the one the connector uses; Host and SNI stay
the URL's name). Redirects are followed by hand, at most MAX_REDIRECTS, each hop checked again.
Bodies are streamed and cut off at the size bound: a declared Content-Length over it is refused
before anything is read, one request's attachments together stay under their total (`Tally`), and
past `spool_bytes` a body goes to a temporary file instead of memory, 64 KB at a time. While a fetch
runs it holds its expected size of the worker's ByteBudget.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import mimetypes
import os
import posixpath
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from .budget import ByteBudget

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """The URL could not be turned into bytes; the message is safe to show the client."""


class FetchRefused(FetchError):
    """The SSRF guard refused the target."""


class FetchTooLarge(FetchError):
    """Over a size bound (one file's, or the request's total): the client's 413."""


class Tally:
    """The bytes one request's attachments have taken so far, against their total bound."""

    def __init__(self, max_total: int) -> None:
        self.max_total = max_total
        self.taken = 0

    def take(self, n: int) -> None:
        self.taken += n
        if self.taken > self.max_total:
            raise FetchTooLarge(f"the attachments of this request are larger than the "
                                f"{self.max_total // (1024 * 1024)} MB limit in all")


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes  # b"" when the body was spooled to `path`
    mime: str
    name: str
    path: Path | None = None  # a temporary file holding a large body; its owner deletes it
    size: int = 0


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int
    allow_private: bool = False
    timeout: float = 30.0
    connect_timeout: float = 10.0
    # Tests may widen the guard for their own server; production uses the default.
    address_ok: Callable[[IPAddress], bool] | None = None
    spool_bytes: int = 1024 * 1024  # a body past this goes to a file in spool_dir
    spool_dir: Path | None = None  # None: the system's temporary directory
    budget: ByteBudget | None = None
    budget_wait: float = 60.0

    def allows(self, ip: IPAddress) -> bool:
        if self.allow_private:
            return True
        if self.address_ok is not None:
            return self.address_ok(ip)
        return is_public_address(ip)


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv6 wrappers of IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None and not is_public_address(inner):
            return False
        if ip.ipv4_mapped is not None:
            return True
        if ip in _NAT64:  # 64:ff9b::/96 embeds an IPv4 address in its last 32 bits
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return bool(ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback
                                      or ip.is_link_local or ip.is_private or ip.is_unspecified))


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def check_address(host: str, policy: FetchPolicy) -> None:
    """Raise FetchRefused when `host` (an IP literal) may not be fetched."""
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if not policy.allows(ip):
        raise FetchRefused(f"refusing to fetch from a non-public address ({ip})")


class GuardedResolver(ThreadedResolver):
    """Resolves like the default resolver, then refuses non-public results."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self.policy = policy
        self.refused: FetchRefused | None = None

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        for result in results:
            try:
                check_address(result["host"], self.policy)
            except FetchRefused as exc:
                self.refused = FetchRefused(f"refusing to fetch {host}: it resolves to a non-public "
                                            f"address ({result['host']})")
                raise OSError(str(self.refused)) from exc
        return results


def decode_data_url(url: str, max_bytes: int, tally: Tally | None = None) -> Fetched:
    """Decode `data:[<mime>][;base64],<payload>` with a size bound checked before decoding."""
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise FetchError("malformed data: URL (no comma)")
    params = header.split(";")
    mime = (params[0] or "text/plain").strip().lower()
    is_base64 = any(p.strip().lower() == "base64" for p in params[1:])
    if is_base64:
        payload = "".join(payload.split())
        if len(payload) * 3 // 4 > max_bytes:
            raise FetchTooLarge(f"data: URL is larger than the {max_bytes // (1024 * 1024)} MB limit")
        try:
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise FetchError("data: URL is not valid base64") from None
    else:
        data = unquote(payload).encode()
    if len(data) > max_bytes:
        raise FetchTooLarge(f"data: URL is larger than the {max_bytes // (1024 * 1024)} MB limit")
    if tally is not None:
        tally.take(len(data))
    ext = mimetypes.guess_extension(mime) or ".bin"
    return Fetched(data=data, mime=mime, name="upload" + ext)


def _name_for(url: URL, mime: str) -> str:
    name = posixpath.basename(url.path) or ""
    if not name or "." not in name:
        name = (name or "download") + (mimetypes.guess_extension(mime) or ".bin")
    return name[:128]


async def _receive(resp: aiohttp.ClientResponse, policy: FetchPolicy,
                   tally: Tally | None) -> tuple[bytes, Path | None, int]:
    """The body in memory, or in a temporary file once past `spool_bytes`: (data, path, size)."""
    buf = bytearray()
    spool: BinaryIO | None = None
    spool_path: Path | None = None
    size = 0
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchTooLarge(_too_large(policy.max_bytes))
            if tally is not None:
                tally.take(len(chunk))
            if spool is not None:
                spool.write(chunk)
                continue
            buf += chunk
            if len(buf) > policy.spool_bytes:
                fd, name = tempfile.mkstemp(prefix="attach-", dir=policy.spool_dir)
                spool, spool_path = os.fdopen(fd, "wb"), Path(name)
                spool.write(buf)
                buf = bytearray()  # the memory goes back at once, not when the request ends
        if spool is None or spool_path is None:
            return bytes(buf), None, size
        spool.close()
        return b"", spool_path, size
    except BaseException:
        if spool is not None:
            spool.close()
        if spool_path is not None:
            spool_path.unlink(missing_ok=True)
        raise


async def fetch_url(url: str, policy: FetchPolicy, tally: Tally | None = None) -> Fetched:
    """GET an http(s) URL through the guard; raises FetchError/FetchRefused/FetchTooLarge."""
    resolver = GuardedResolver(policy)
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
    timeout = aiohttp.ClientTimeout(total=policy.timeout, sock_connect=policy.connect_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False,
                                     auto_decompress=True) as session:
        current = URL(url)
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(current, policy)
            try:
                async with session.get(current, allow_redirects=False, headers={
                        "Accept": "*/*", "User-Agent": "grok2api-fetch"}) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise FetchError(f"redirect without a Location from {current.host}")
                        current = current.join(URL(location))
                        continue
                    if resp.status != 200:
                        raise FetchError(f"fetching {current.host} answered HTTP {resp.status}")
                    declared = resp.content_length
                    if declared is not None and declared > policy.max_bytes:
                        raise FetchTooLarge(_too_large(policy.max_bytes))
                    if tally is not None and declared is not None:
                        tally.take(declared)  # the whole declared size at once: an early 413
                    mime = resp.content_type or "application/octet-stream"
                    hold = policy.budget.hold(declared or policy.max_bytes, policy.budget_wait) \
                        if policy.budget is not None else contextlib.nullcontext()
                    async with hold:
                        data, path, size = await _receive(resp, policy, None if declared is not None else tally)
                    return Fetched(data=data, mime=mime, name=_name_for(current, mime), path=path, size=size)
            except aiohttp.ClientError as exc:
                if resolver.refused is not None:
                    raise resolver.refused from None
                raise FetchError(f"could not fetch from {current.host}: {type(exc).__name__}") from None
            except TimeoutError:
                raise FetchError(f"fetching from {current.host} timed out") from None
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _check_url(url: URL, policy: FetchPolicy) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError(f"only http(s) URLs can be fetched, not {url.scheme or 'a relative URL'}")
    host = url.raw_host or ""
    if not host:
        raise FetchError("URL has no host")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    check_address(host, policy)


def _too_large(max_bytes: int) -> str:
    return f"the file is larger than the {max_bytes // (1024 * 1024)} MB limit"
