"""Egress proxy for grok.com: a static proxy, or a proxy-pool URL refreshed and rotated on Cloudflare."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

SCHEMES = ("http", "https", "socks5", "socks5h", "socks4")
Fetcher = Callable[[str], Awaitable[str]]


def normalize_proxy(raw: str) -> str:
    """Accept what proxy pools return: `host:port`, `scheme://…`, `sock5://` typos; socks5 → socks5h
    so DNS resolves at the proxy (the egress must look up grok.com, not us)."""
    value = raw.strip().splitlines()[0].strip() if raw.strip() else ""
    if not value:
        return ""
    if "://" not in value:
        value = "http://" + value
    scheme, rest = value.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("sock5", "socks5"):
        scheme = "socks5h"
    if scheme not in SCHEMES:
        raise ValueError(f"unsupported proxy scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    parts = urlsplit(f"{scheme}://{rest}")
    if not parts.hostname or not parts.port:
        raise ValueError("a proxy needs a host and a port")
    return f"{scheme}://{rest}"


def extract_proxy(body: str) -> str:
    """A pool answers plain text or JSON; find the first proxy-looking string in either."""
    body = body.strip()
    try:
        data = json.loads(body)
    except ValueError:
        return normalize_proxy(body)
    stack = [data]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str) and item.strip():
            try:
                return normalize_proxy(item)
            except ValueError:
                continue
        elif isinstance(item, dict):
            for key in ("proxy", "proxy_url", "url", "http", "https", "result", "data", "ip"):
                if key in item:
                    stack.append(item[key])
        elif isinstance(item, list):
            stack.extend(item)
    raise ValueError("the proxy pool answered no proxy")


def mask_proxy(proxy: str) -> str:
    """A proxy URL as logs and pages may show it: scheme, host and port, credentials as `***`."""
    if not proxy:
        return ""
    parts = urlsplit(proxy)
    auth = "***@" if parts.username or parts.password else ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: show none rather than fail while reporting the problem
        port = ""
    return f"{parts.scheme}://{auth}{parts.hostname or ''}{port}"


@dataclass(slots=True)
class ProxyStatus:
    mode: str  # "direct" | "static" | "pool"
    current: str  # masked
    fetched_at: float
    rotations: int
    cloudflare_blocks: int
    last_error: str


class ProxyManager:
    """Chooses the egress proxy for grok.com calls; rotates it when Cloudflare blocks it."""

    def __init__(self, static: str, pool_url: str, interval: float, fetch: Fetcher,
                 clock: Callable[[], float] = time.time) -> None:
        self.static = normalize_proxy(static) if static else ""
        self.pool_url = pool_url
        self.interval = interval
        self._fetch = fetch
        self._clock = clock
        self._current = ""
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self.rotations = 0
        self.cloudflare_blocks = 0
        self.last_error = ""

    @property
    def mode(self) -> str:
        return "pool" if self.pool_url else "static" if self.static else "direct"

    async def current(self) -> str:
        """The proxy to use now ("" = direct). Refreshes lazily when the pool's interval passed."""
        if not self.pool_url:
            return self.static
        if self._current and self._clock() - self._fetched_at < self.interval:
            return self._current
        await self.refresh()
        return self._current or self.static

    async def refresh(self) -> None:
        async with self._lock:
            if self._current and self._clock() - self._fetched_at < self.interval:
                return  # another task refreshed while we waited
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        try:
            proxy = extract_proxy(await self._fetch(self.pool_url))
        except Exception as exc:  # keep the previous proxy: a flaky pool must not stop traffic
            self.last_error = str(exc)[:200]
            log.warning("proxy pool fetch failed: %s", self.last_error)
            self._fetched_at = self._clock()
            return
        if proxy != self._current:
            self.rotations += 1
        self._current = proxy
        self._fetched_at = self._clock()
        self.last_error = ""

    async def on_cloudflare(self, proxy: str) -> None:
        """A 403 challenge is the egress's fault: take a new proxy from the pool right away."""
        self.cloudflare_blocks += 1
        if not self.pool_url:
            return
        async with self._lock:
            if proxy == self._current:  # not rotated yet by a concurrent request
                await self._refresh_locked()

    def status(self) -> ProxyStatus:
        current = self._current if self.pool_url else self.static
        return ProxyStatus(self.mode, mask_proxy(current), self._fetched_at, self.rotations,
                           self.cloudflare_blocks, self.last_error)


class SeedProxy:
    """The seed's one-proxy view (GET /api/v1/admin/proxy, the stats page, the doctor's picker) over what
    is configured now: the proxy pool's rotation (the egress pool's own, not a second one) when a pool
    URL is set, else the static proxy (`proxy.proxy_url`, else `network.base_proxy_url`), else direct."""

    def __init__(self, rotation: ProxyManager, fetch: Fetcher) -> None:
        self._rotation = rotation
        self._static = ProxyManager("", "", 300.0, fetch)
        self._pool_mode = False

    def configure(self, static: str, pool_mode: bool) -> None:
        """Follow the settings; raises ValueError for a malformed static proxy (the old one stays)."""
        self._static.static = normalize_proxy(static) if static else ""
        self._pool_mode = pool_mode

    @property
    def active(self) -> ProxyManager:
        return self._rotation if self._pool_mode else self._static

    @property
    def mode(self) -> str:
        return self.active.mode

    async def current(self) -> str:
        return await self.active.current()

    async def on_cloudflare(self, proxy: str) -> None:
        await self.active.on_cloudflare(proxy)

    def status(self) -> ProxyStatus:
        return self.active.status()
