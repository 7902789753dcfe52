"""grok.com's anti-bot rules as of the second edition (§0.2 C1–C4): x-statsig-id checks, replay, the page.

A value must decode to 70 or 72 bytes and never be an `e:` fallback (C1, C2). A 70-byte value is
a signature and is checked like grok.com would: XOR-decoded with its first byte, it must carry this
page's 48-byte meta, a counter (`unix seconds - 1682924400`) within `STATSIG_MAX_AGE` of now, the
first 16 bytes of SHA-256 over `"METHOD!path!counter" + SALT + fingerprint`, and a final 0x03 (C3).
The fingerprint is read from the page's loading-animation SVGs: meta byte 5 picks the SVG
(`loading-x-anim-N`), meta byte 6 an 11-number row of its path data, written as 2 hex digits each.
On media paths a value seen before is answered with the stale-page 403 (C3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time

EPOCH = 1682924400
SALT = b"obfiowerehiring"
STATSIG_MAX_AGE = 300  # seconds either side of now a signature's counter may be
STALE_MESSAGE = "This page is out of date. Reload to continue."
ANTI_BOT_MESSAGE = "Request rejected by anti-bot rules."
META = hashlib.sha384(b"fakegrok-site-verification").digest()  # 48 bytes
SITE_VERIFICATION = base64.b64encode(META).decode()
# Four loading animations, each a path of 4 rows of 11 numbers (the shape the browser animates).
ANIMATIONS = tuple(
    tuple(tuple((17 * svg + 29 * row + 13 * i + 7) % 256 for i in range(11)) for row in range(4))
    for svg in range(4)
)


def _svg(index: int) -> str:
    rows = " ".join("M {} {} C {} {} {} {} {} {} h {} v {} {}".format(*row) for row in ANIMATIONS[index])
    return (f'<svg id="loading-x-anim-{index}" width="40" height="40" viewBox="0 0 256 256" style="display:none">'
            f'<path d="{rows}" fill="none"/></svg>')


INDEX_HTML = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Grok</title>'
    f'<meta name="grok-site-verification" content="{SITE_VERIFICATION}">'
    '<meta name="description" content="fakegrok: a simulated grok.com for tests"></head>'
    '<body><div id="root">Grok (simulated by fakegrok)</div>'
    + "".join(_svg(i) for i in range(4)) + '</body></html>'
)


def fingerprint() -> str:
    row = ANIMATIONS[META[5] % len(ANIMATIONS)][META[6] % 4]
    return "".join(f"{n:02x}" for n in row)


def _decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def statsig_problem(value: str, method: str, path: str, *, verify: bool, now: float | None = None) -> str:
    """Why grok.com's anti-bot layer would refuse this value ("" = it passes)."""
    raw = _decode(value)
    if raw is None:
        return "not base64"
    if raw.startswith(b"e:"):
        return "e: fallback"
    if len(raw) not in (70, 72):
        return f"decodes to {len(raw)} bytes"
    if len(raw) == 72 or not verify:
        return ""
    body = bytes(b ^ raw[0] for b in raw[1:])
    meta, counter = body[:48], struct.unpack("<I", body[48:52])[0]
    if meta != META:
        return "wrong site-verification meta"
    if body[-1] != 0x03:
        return "wrong trailing byte"
    current = int(now if now is not None else time.time()) - EPOCH
    if abs(current - counter) > STATSIG_MAX_AGE:
        return "counter out of range"
    text = f"{method.upper()}!{path}!{counter}".encode() + SALT + fingerprint().encode()
    if body[52:68] != hashlib.sha256(text).digest()[:16]:
        return f"signature does not match {method.upper()} {path}"
    return ""
