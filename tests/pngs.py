"""A small valid RGB PNG for tests that upload images (fakegrok type-checks uploads and refuses 1×1)."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 16, height: int = 16) -> bytes:
    rows = b"".join(b"\x00" + b"".join(bytes([(x * 31) % 256, (y * 17) % 256, 128]) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
