"""`x-statsig-id` providers (§2.4): static, dynamic (the seed default), manual, external signer."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import re
import string
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

STATIC_TEXT = "e:TypeError: Cannot read properties of undefined (reading 'childNodes')"
SIGNED_LENGTH = 70  # a real signature decodes to exactly 70 bytes
_META = re.compile(
    r"""<meta\s+[^>]*name=["']grok-site-verification["'][^>]*content=["']([^"']*)["']"""
    r"""|<meta\s+[^>]*content=["']([^"']*)["'][^>]*name=["']grok-site-verification["']""",
    re.IGNORECASE,
)
_MAX_ENTRIES = 4096


class StatsigProvider(Protocol):
    """Gives the header value for one call; `invalidate` after an anti-bot rejection."""

    async def value(self, method: str, path: str) -> str: ...

    def invalidate(self, method: str, path: str) -> None: ...


def encode(text: str) -> str:
    """Standard padded base64 of an ASCII string."""
    return base64.b64encode(text.encode()).decode()


def decoded_length(value: str) -> int:
    """Bytes the value decodes to (padded or raw base64); -1 if it is not base64."""
    raw = value.strip()
    try:
        return len(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True))
    except (binascii.Error, ValueError):
        return -1


def is_signed(value: str) -> bool:
    """Whether a value has the shape of a real signature (decodes to 70 bytes)."""
    return decoded_length(value) == SIGNED_LENGTH


def dynamic_value(rng: random.Random) -> str:
    """PY-A's per-request fallback: mimic the browser's error text when the Statsig SDK throws."""
    if rng.random() < 0.5:
        suffix = "".join(rng.choices(string.ascii_lowercase + string.digits, k=5))
        return encode(f"e:TypeError: Cannot read properties of null (reading 'children['{suffix}']')")
    suffix = "".join(rng.choices(string.ascii_lowercase, k=10))
    return encode(f"e:TypeError: Cannot read properties of undefined (reading '{suffix}')")


def extract_site_verification(html: str) -> str:
    """`content` of `<meta name="grok-site-verification">`, the signer's input; "" if absent."""
    match = _META.search(html)
    return (match.group(1) or match.group(2) or "") if match else ""


class StaticStatsig:
    """One fixed value for every call (PY-A `dynamic_statsig=false`, or the operator's manual value)."""

    def __init__(self, value: str = "") -> None:
        self._value = value.strip() or encode(STATIC_TEXT)

    async def value(self, method: str, path: str) -> str:
        return self._value

    def invalidate(self, method: str, path: str) -> None:
        """A fixed value cannot be refreshed; the caller's retry uses it again."""


def manual_statsig(value: str) -> StaticStatsig:
    """The operator's value; warns when it does not look like a real signature."""
    if not value.strip():
        raise ValueError("statsig mode 'manual' needs a value")
    if not is_signed(value):
        log.warning("manual x-statsig-id does not decode to %d bytes; grok.com may reject it", SIGNED_LENGTH)
    return StaticStatsig(value)


class DynamicStatsig:
    """A fresh random fallback value per call (the seed's default)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    async def value(self, method: str, path: str) -> str:
        return dynamic_value(self._rng)

    def invalidate(self, method: str, path: str) -> None:
        """Every call already gets a new value."""


FetchMeta = Callable[[], Awaitable[str]]
Sign = Callable[[str, str, str], Awaitable[str]]  # (meta, method, path) -> value


class SignerStatsig:
    """Signatures from an external signer, cached per method+path for `ttl`; a stale one is reused
    when refreshing fails, and the dynamic fallback is used only if nothing valid was ever obtained."""

    def __init__(self, fetch_meta: FetchMeta, sign: Sign, *, ttl: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self._fetch_meta = fetch_meta
        self._sign = sign
        self._ttl = ttl
        self._clock = clock
        self._fallback = DynamicStatsig(rng)
        self._cache: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._meta = ""
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def value(self, method: str, path: str) -> str:
        key = (method.upper(), path)
        hit = self._cache.get(key)
        if hit and hit[1] > self._clock():
            return hit[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one signer call per key even when many requests arrive together
            hit = self._cache.get(key)
            if hit and hit[1] > self._clock():
                return hit[0]
            try:
                fresh = await self._refresh(key)
            except Exception as exc:  # the signer is a third-party service: never let it stop traffic
                log.warning("statsig signer failed for %s %s: %s", key[0], key[1], exc)
                if hit:
                    return hit[0]
                return await self._fallback.value(method, path)
            self._cache[key] = (fresh, self._clock() + self._ttl)
            self._cache.move_to_end(key)
            while len(self._cache) > _MAX_ENTRIES:
                self._cache.popitem(last=False)
            return fresh

    async def _refresh(self, key: tuple[str, str]) -> str:
        if not self._meta:
            self._meta = await self._fetch_meta()
        value = await self._sign(self._meta, key[0], key[1])
        if not is_signed(value):
            self._meta = ""  # the page may have rotated its meta; read it again next time
            raise ValueError(f"signer returned a value that does not decode to {SIGNED_LENGTH} bytes")
        return value

    def invalidate(self, method: str, path: str) -> None:
        self._cache.pop((method.upper(), path), None)
        self._meta = ""
