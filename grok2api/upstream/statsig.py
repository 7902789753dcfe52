"""`x-statsig-id` strategies (§0.2 C1–C3, §2.4): signer, manual and fallback; `local` is in statsig_local.py."""

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

# A value grok.com accepts decodes to 70 bytes (a signature) or 72 (a browser fallback text), C2.
VALID_LENGTHS = (70, 72)
SIGNED_LENGTH = 70
# PY-A's prefix, rejected since 2026-06 (C1): no value whose text starts with it ever leaves grok2api.
REJECTED_PREFIX = b"e:"
X1_TEMPLATE = "x1:TypeError: Cannot read properties of undefined (reading '{}')"  # 10 letters -> 72 bytes
_META = re.compile(
    r"""<meta\s+[^>]*name=["']grok-site-verification["'][^>]*content=["']([^"']*)["']"""
    r"""|<meta\s+[^>]*content=["']([^"']*)["'][^>]*name=["']grok-site-verification["']""",
    re.IGNORECASE,
)
_MAX_ENTRIES = 4096


class StatsigUnavailable(Exception):
    """A strategy cannot give a value now (no signer URL, no manual value, page unreadable ...)."""


class Strategy(Protocol):
    """One way to obtain a value; `invalidate` drops whatever it cached for a path on an egress."""

    name: str

    async def value(self, method: str, path: str, egress: str) -> str: ...

    def invalidate(self, method: str, path: str, egress: str) -> None: ...


def encode(text: str) -> str:
    """Standard padded base64 of an ASCII string."""
    return base64.b64encode(text.encode()).decode()


def decode(value: str) -> bytes | None:
    """The bytes of a padded or raw base64 value; None when it is not base64."""
    raw = value.strip()
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def decoded_length(value: str) -> int:
    """Bytes the value decodes to (padded or raw base64); -1 if it is not base64."""
    data = decode(value)
    return -1 if data is None else len(data)


def is_acceptable(value: str) -> bool:
    """Whether grok.com's length rule could accept the value (C2) and it is not an `e:` fallback (C1)."""
    data = decode(value)
    return data is not None and len(data) in VALID_LENGTHS and not data.startswith(REJECTED_PREFIX)


def is_signed(value: str) -> bool:
    """Whether a value has the shape of a real signature (decodes to 70 bytes)."""
    return decoded_length(value) == SIGNED_LENGTH


def fallback_value(rng: random.Random) -> str:
    """The browser's fallback when its Statsig SDK throws, with PY-B's `x1:` prefix: 72 bytes (C1, C2)."""
    return encode(X1_TEMPLATE.format("".join(rng.choices(string.ascii_lowercase, k=10))))


def extract_site_verification(html: str) -> str:
    """`content` of `<meta name="grok-site-verification">`, the signer's input; "" if absent."""
    match = _META.search(html)
    return (match.group(1) or match.group(2) or "") if match else ""


class FallbackStrategy:
    """A fresh `x1:` fallback text per call; never refused for being unavailable."""

    name = "fallback"

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    async def value(self, method: str, path: str, egress: str) -> str:
        return fallback_value(self._rng)

    def invalidate(self, method: str, path: str, egress: str) -> None:
        """Every call already gets a new value."""


class ManualStrategy:
    """The operator's value (`chat.statsig_id`); unavailable when empty or of a length grok.com refuses."""

    name = "manual"

    def __init__(self, value: str) -> None:
        self._value = value.strip()
        if self._value and not is_acceptable(self._value):
            log.warning("chat.statsig_id does not decode to %s bytes (or is an e: fallback): it is not sent",
                        " or ".join(map(str, VALID_LENGTHS)))

    async def value(self, method: str, path: str, egress: str) -> str:
        if not self._value:
            raise StatsigUnavailable("no manual value configured (chat.statsig_id)")
        if not is_acceptable(self._value):
            raise StatsigUnavailable("the manual value does not decode to 70 or 72 bytes")
        return self._value

    def invalidate(self, method: str, path: str, egress: str) -> None:
        """A fixed value cannot be refreshed; the chain demotes it instead."""


FetchMeta = Callable[[str], Awaitable[str]]  # egress -> meta content
Sign = Callable[[str, str, str], Awaitable[str]]  # (meta, method, path) -> value


class SignerStrategy:
    """Values from an external signer fed with the page's meta. `ttl` > 0 keeps a value per
    (egress, method, path) that long; 0 (the default) asks per request, as the browser signs (C3)."""

    name = "signer"

    def __init__(self, url: str, fetch_meta: FetchMeta, sign: Sign, *, ttl: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._fetch_meta = fetch_meta
        self._sign = sign
        self._ttl = ttl
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str, str], tuple[str, float]] = OrderedDict()
        self._meta: dict[str, str] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def value(self, method: str, path: str, egress: str) -> str:
        if not self.url:
            raise StatsigUnavailable("no signer URL configured (chat.statsig_signer_url)")
        key = (egress, method.upper(), path)
        if self._ttl <= 0:
            return await self._refresh(key)
        hit = self._cache.get(key)
        if hit and hit[1] > self._clock():
            return hit[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one signer call per key even when many requests arrive together
            hit = self._cache.get(key)
            if hit and hit[1] > self._clock():
                return hit[0]
            fresh = await self._refresh(key)
            self._cache[key] = (fresh, self._clock() + self._ttl)
            self._cache.move_to_end(key)
            while len(self._cache) > _MAX_ENTRIES:
                self._cache.popitem(last=False)
            return fresh

    async def _refresh(self, key: tuple[str, str, str]) -> str:
        egress, method, path = key
        try:
            meta = self._meta.get(egress) or await self._fetch_meta(egress)
            self._meta[egress] = meta
            value = await self._sign(meta, method, path)
        except StatsigUnavailable:
            raise
        except Exception as exc:  # the signer is a third-party service: its failure is "unavailable"
            raise StatsigUnavailable(f"signer failed: {exc}") from None
        if not is_acceptable(value):
            self._meta.pop(egress, None)  # the page may have rotated its meta; read it again next time
            raise StatsigUnavailable("signer returned a value that does not decode to 70 or 72 bytes")
        return value

    def invalidate(self, method: str, path: str, egress: str) -> None:
        self._cache.pop((egress, method.upper(), path), None)
        self._meta.pop(egress, None)
