"""Server-side fetches of user-supplied URLs behind an SSRF guard, and `data:` URL decoding.

The guard resolves the host, refuses the request when any resolved address is loopback,
private, link-local, multicast, reserved or otherwise not global (IPv4 and IPv6, IPv4-mapped,
6to4 and Teredo unwrapped) unless private fetches are allowed, and connects to exactly the
addresses it checked (the resolver that checks is the one the connector uses; Host and SNI stay
the URL's name). Redirects are followed by hand, at most MAX_REDIRECTS, each hop checked again.
Bodies are streamed and cut off at the size bound.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import mimetypes
import posixpath
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """The URL could not be turned into bytes; the message is safe to show the client."""


class FetchRefused(FetchError):
    """The SSRF guard refused the target."""


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    mime: str
    name: str


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int
    allow_private: bool = False
    timeout: float = 30.0
    connect_timeout: float = 10.0
    # Tests may widen the guard for their own server; production uses the default.
    address_ok: Callable[[IPAddress], bool] | None = None

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


def decode_data_url(url: str, max_bytes: int) -> Fetched:
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
            raise FetchError(f"data: URL is larger than the {max_bytes // (1024 * 1024)} MB limit")
        try:
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise FetchError("data: URL is not valid base64") from None
    else:
        data = unquote(payload).encode()
    if len(data) > max_bytes:
        raise FetchError(f"data: URL is larger than the {max_bytes // (1024 * 1024)} MB limit")
    ext = mimetypes.guess_extension(mime) or ".bin"
    return Fetched(data=data, mime=mime, name="upload" + ext)


def _name_for(url: URL, mime: str) -> str:
    name = posixpath.basename(url.path) or ""
    if not name or "." not in name:
        name = (name or "download") + (mimetypes.guess_extension(mime) or ".bin")
    return name[:128]


async def fetch_url(url: str, policy: FetchPolicy) -> Fetched:
    """GET an http(s) URL through the guard; raises FetchError/FetchRefused."""
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
                        raise FetchError(_too_large(policy.max_bytes))
                    body = bytearray()
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        body += chunk
                        if len(body) > policy.max_bytes:
                            raise FetchError(_too_large(policy.max_bytes))
                    mime = resp.content_type or "application/octet-stream"
                    return Fetched(data=bytes(body), mime=mime, name=_name_for(current, mime))
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
