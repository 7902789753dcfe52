"""The caller's address: the peer, or X-Forwarded-For / X-Real-IP when the peer is a trusted proxy
(`security.trusted_proxy_ips`, empty by default: nobody is believed until the operator says so)."""

from __future__ import annotations

import contextlib
import ipaddress
from functools import lru_cache
from typing import Any

from aiohttp import web


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[Any, ...]:
    nets = []
    for item in trusted:
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
    return tuple(nets)


def is_trusted(ip: str, trusted: list[str] | tuple[str, ...]) -> bool:
    """`ip` is one of the trusted proxies (addresses or CIDR networks)."""
    if not trusted:
        return False  # the default; parsing the address would be wasted work on every request
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in _networks(tuple(trusted)))


@lru_cache(maxsize=4096)  # a pure function of a short string: peers repeat, parsing one costs microseconds
def valid_ip(text: str) -> str:
    """The address in `text` in canonical form ("" when it is not one). Proxies write a port
    after IPv4 addresses (`1.2.3.4:5678`) and brackets around IPv6 ones (`[2001:db8::1]:443`)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def client_ip(request: web.Request, trusted: list[str]) -> str:
    """The caller's address, always a valid IP (or "" for a peer without one, such as a Unix socket).

    X-Forwarded-For (walked right to left, skipping trusted hops) and X-Real-IP are believed only
    when the peer itself is a trusted proxy; a hop that is not an IP address makes the header
    worthless (anything left of it is the client's own writing), so the peer is used instead."""
    peer = valid_ip(request.remote or "")
    if not peer or not is_trusted(peer, trusted):
        return peer
    hops = [h for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        ip = valid_ip(hop)
        if not ip:
            return peer
        if not is_trusted(ip, trusted):
            return ip
    real = valid_ip(request.headers.get("X-Real-IP", ""))
    return real or (valid_ip(hops[0]) if hops else "") or peer
