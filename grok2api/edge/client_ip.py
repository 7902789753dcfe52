"""The caller's address: the peer, or X-Forwarded-For / X-Real-IP when the peer is a trusted proxy."""

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
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in _networks(tuple(trusted)))


def client_ip(request: web.Request, trusted: list[str]) -> str:
    """The caller's address. X-Forwarded-For (walked right to left, skipping trusted hops) and
    X-Real-IP are believed only when the peer itself is a trusted proxy."""
    peer = request.remote or ""
    if not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return request.headers.get("X-Real-IP", "").strip() or (hops[0] if hops else peer)
