"""Random ids on the hot path (request ids, completion and message ids): os.urandom read in blocks.

Every chat makes several: an `x-xai-request-id` or mgw event ids for grok.com, and a completion or
message id for the client. `uuid.uuid4()` and `secrets.token_*()` ask the kernel for a few bytes each
time (a getrandom call apiece); here one call serves 4 KB, from the same source. A forked worker drops
its parent's block, so no two processes hand out the same ids.
"""

from __future__ import annotations

import base64
import os

_BLOCK = 4096
_block = b""
_taken = 0


def _forget() -> None:
    global _block, _taken
    _block, _taken = b"", 0


os.register_at_fork(after_in_child=_forget)


def token_bytes(n: int) -> bytes:
    """`n` bytes from the OS's random source (as secrets.token_bytes)."""
    global _block, _taken
    if n > _BLOCK:
        return os.urandom(n)
    if _taken + n > len(_block):
        _block, _taken = os.urandom(_BLOCK), 0
    start = _taken
    _taken += n
    return _block[start:_taken]


def uuid4() -> str:
    """A version-4 UUID string (the bits uuid.uuid4 sets), as a browser's crypto.randomUUID()."""
    n = int.from_bytes(token_bytes(16), "big")
    n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def token_hex(n: int) -> str:
    """As secrets.token_hex(n): 2n hex digits."""
    return token_bytes(n).hex()


def token_urlsafe(n: int) -> str:
    """As secrets.token_urlsafe(n): n bytes in unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(token_bytes(n)).rstrip(b"=").decode("ascii")
