"""The `local` x-statsig-id strategy: a fresh value per request computed as the browser does (§0.2 C3, C4).

Layout (70 bytes, then standard base64): one XOR-key byte, then XOR-ed with that byte:
48 bytes of the page's `grok-site-verification` meta (base64-decoded), a 4-byte little-endian
counter (`unix seconds - 1682924400`), the first 16 bytes of SHA-256 over
`"METHOD!path!counter" + SALT + fingerprint`, and a final 0x03.

The fingerprint comes from the page's loading-animation SVGs (`id="loading-x-anim-N"`): meta
byte 5 picks the SVG, meta byte 6 picks an 11-number row of its path data, and the row's
numbers (0..255) written as two hex digits each are the fingerprint. The browser derives it from
the animation frame those numbers describe; this is the part least sure to match grok.com, which
is why `local` is one strategy of a chain and not the only one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import random
import re
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .statsig import StatsigUnavailable, extract_site_verification

EPOCH = 1682924400
SALT = b"obfiowerehiring"  # fixed in the front-end bundle (publicly reverse-engineered)
TRAILER = 0x03
META_LENGTH = 48
ROW = 11
_SVG = re.compile(r"""<svg\b[^>]*\bid=["']loading-x-anim-(\d+)["'][^>]*>(.*?)</svg>""", re.IGNORECASE | re.DOTALL)
_PATH_D = re.compile(r"""<path\b[^>]*\bd=["']([^"']+)["']""", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
_RECENT = 1024

FetchPage = Callable[[str], Awaitable[str]]  # egress -> the HTML of /index (any status) or /


@dataclass(frozen=True, slots=True)
class PageMaterial:
    """What the value is computed from, read once from the page and kept."""

    meta: bytes  # 48 bytes
    fingerprint: str
    read_at: float


def counter_at(unix_seconds: float) -> int:
    return int(unix_seconds) - EPOCH


def digest(method: str, path: str, counter: int, fingerprint: str) -> bytes:
    """The 16 hash bytes of one request."""
    text = f"{method.upper()}!{path}!{counter}".encode() + SALT + fingerprint.encode()
    return hashlib.sha256(text).digest()[:16]


def compute(material: PageMaterial, method: str, path: str, counter: int, key: int) -> str:
    """The base64 value for one request (pure: the test checks it against a hand-built one)."""
    payload = material.meta + struct.pack("<I", counter & 0xFFFFFFFF) + digest(method, path, counter,
                                                                                 material.fingerprint) + bytes([TRAILER])
    return base64.b64encode(bytes([key]) + payload.translate(_xor_table(key))).decode()


@functools.cache
def _xor_table(key: int) -> bytes:
    """bytes.translate's table XOR-ing every byte with `key` (one C call instead of a generator per byte)."""
    return bytes(b ^ key for b in range(256))


def fingerprint_of(html: str, meta: bytes) -> str:
    """The fingerprint string from the loading-animation SVGs; "" when the page has none."""
    svgs = sorted((int(n), body) for n, body in _SVG.findall(html))
    if not svgs:
        return ""
    body = svgs[meta[5] % len(svgs)][1]
    numbers = [min(255, int(n)) for d in _PATH_D.findall(body) for n in _NUMBER.findall(d)]
    rows = len(numbers) // ROW
    if rows == 0:
        return ""
    row = numbers[(meta[6] % rows) * ROW:(meta[6] % rows + 1) * ROW]
    return "".join(f"{n:02x}" for n in row)


def read_material(html: str, now: float) -> PageMaterial:
    """Meta + fingerprint from a page; StatsigUnavailable when the meta is missing or not 48 bytes."""
    content = extract_site_verification(html)
    if not content:
        raise StatsigUnavailable("the page carries no grok-site-verification meta")
    try:
        meta = base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise StatsigUnavailable("the grok-site-verification meta is not base64") from None
    if len(meta) != META_LENGTH:
        raise StatsigUnavailable(f"the grok-site-verification meta is {len(meta)} bytes, not {META_LENGTH}")
    return PageMaterial(meta, fingerprint_of(html, meta), now)


class LocalStrategy:
    """Computes a fresh value per request; only the page material is kept (per egress, `ttl` seconds)."""

    name = "local"

    def __init__(self, fetch_page: FetchPage, *, ttl: float = 3600.0, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._fetch_page = fetch_page
        self._ttl = ttl
        self._clock = clock
        self._rng = rng or random.Random()
        self._material: dict[str, PageMaterial] = {}
        # (method, path, counter) -> keys used: two requests in the same second on one path must
        # still differ, or grok.com would see a replayed value (C3).
        self._used: OrderedDict[tuple[str, str, int], set[int]] = OrderedDict()

    async def material(self, egress: str) -> PageMaterial:
        now = self._clock()
        found = self._material.get(egress)
        if found is None or now - found.read_at >= self._ttl:
            try:
                html = await self._fetch_page(egress)
            except StatsigUnavailable:
                raise
            except Exception as exc:
                raise StatsigUnavailable(f"grok.com page unreadable: {exc}") from None
            found = read_material(html, now)
            self._material[egress] = found
        return found

    async def value(self, method: str, path: str, egress: str) -> str:
        material = await self.material(egress)
        counter = counter_at(self._clock())
        used = self._used.setdefault((method.upper(), path, counter), set())
        self._used.move_to_end((method.upper(), path, counter))
        while len(self._used) > _RECENT:
            self._used.popitem(last=False)
        key = self._rng.randrange(256)
        while key in used and len(used) < 256:  # used holds a few keys: a re-draw is rare
            key = self._rng.randrange(256)
        used.add(key)
        return compute(material, method, path, counter, key)

    def invalidate(self, method: str, path: str, egress: str) -> None:
        """A refusal may mean the page rotated its meta: read it again on the next call."""
        self._material.pop(egress, None)
