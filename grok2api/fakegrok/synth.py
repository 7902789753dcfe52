"""Real media bytes built with the stdlib: PNG, baseline JPEG and an MJPEG-in-MP4 video."""

from __future__ import annotations

import functools
import hashlib
import random
import struct
import zlib

# --- PNG ------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, rows: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(rows, 6)) + _png_chunk(b"IEND", b""))


def seed_of(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@functools.lru_cache(maxsize=512)
def gradient_png(seed: int, width: int, height: int) -> bytes:
    """A smooth, well-compressing RGB image whose colours derive from the seed (previews)."""
    r0, g0, b0 = seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF
    step = 1 + (seed >> 24) % 3
    # PNG "Sub" filter (type 1): each byte minus the byte 3 to its left; a linear ramp in x
    # becomes a constant, so zlib shrinks it to almost nothing.
    rows = bytearray()
    for y in range(height):
        g = (g0 + y) & 0xFF
        b = (b0 + y // 2) & 0xFF
        rows += bytes((1, r0, g, b)) + bytes((step, 0, 0)) * (width - 1)
    return _png(width, height, bytes(rows))


@functools.lru_cache(maxsize=512)
def noise_png(seed: int, width: int, height: int) -> bytes:
    """An incompressible RGB image (pseudo-random pixels from the seed): size ≈ 3·w·h bytes."""
    rng = random.Random(seed)
    raw = rng.randbytes(3 * width * height)
    stride = 3 * width
    rows = b"".join(b"\x00" + raw[i:i + stride] for i in range(0, len(raw), stride))
    return _png(width, height, rows)


# --- baseline JPEG (grayscale) ----------------------------------------------------------
# Our own canonical Huffman tables: every symbol gets a 4-bit code. DC symbols are the size
# categories 0..11; AC symbols are EOB (0x00) and run 0 with sizes 1..10 (0x01..0x0A).

_DC_SYMBOLS = list(range(12))
_AC_SYMBOLS = [0x00] + list(range(1, 11))
_DC_CODE = {sym: format(i, "04b") for i, sym in enumerate(_DC_SYMBOLS)}
_AC_CODE = {sym: format(i, "04b") for i, sym in enumerate(_AC_SYMBOLS)}
_QUANT = 4
_AC_SIZE = 5  # AC magnitudes 16..31 -> strong texture, 9 bits per coefficient


def _magnitude_bits(value: int) -> tuple[int, str]:
    if value == 0:
        return 0, ""
    size = abs(value).bit_length()
    bits = value if value > 0 else value + (1 << size) - 1
    return size, format(bits, f"0{size}b")


@functools.lru_cache(maxsize=8192)
def _dc_bits(diff: int) -> str:
    size, bits = _magnitude_bits(diff)
    return _DC_CODE[size] + bits


@functools.lru_cache(maxsize=64)
def _ac_palette(count: int) -> tuple[str, ...]:
    """256 different AC parts of a block, each with `count` run-0 coefficients then EOB."""
    rng = random.Random(count)
    palette = []
    for _ in range(256):
        bits = []
        for _ in range(count):
            value = rng.randint(1 << (_AC_SIZE - 1), (1 << _AC_SIZE) - 1) * rng.choice((1, -1))
            size, mag = _magnitude_bits(value)
            bits.append(_AC_CODE[size] + mag)
        if count < 63:
            bits.append(_AC_CODE[0x00])
        palette.append("".join(bits))
    return tuple(palette)


def _dht(table_class: int, table_id: int, symbols: list[int]) -> bytes:
    counts = [0] * 16
    counts[3] = len(symbols)  # all codes are 4 bits long
    body = bytes([(table_class << 4) | table_id]) + bytes(counts) + bytes(symbols)
    return b"\xff\xc4" + struct.pack(">H", len(body) + 2) + body


@functools.lru_cache(maxsize=512)
def jpeg(seed: int, width: int, height: int, target_bytes: int = 0) -> bytes:
    """A valid baseline grayscale JPEG whose pixels derive from the seed.

    `target_bytes` makes the entropy-coded texture dense enough for the file to reach about
    that size (Imagine "final" frames must be > 100 000 base64 chars, §5.1.3)."""
    bw, bh = (width + 7) // 8, (height + 7) // 8
    blocks = bw * bh
    per_block_bits = target_bytes * 8 / blocks if target_bytes else 0
    ac_count = max(1, min(63, int((per_block_bits - 8) / (4 + _AC_SIZE)) + 1)) if target_bytes else 2
    palette = _ac_palette(ac_count)
    rng = random.Random(seed)
    picks = rng.randbytes(blocks)
    base = rng.randint(-100, 100)
    fx, fy = rng.randint(1, 6), rng.randint(1, 6)
    parts: list[str] = []
    prev = 0
    for by in range(bh):
        for bx in range(bw):
            # a diagonal wave of brightness; DC ~ 8·(level-128)/quant
            level = base + ((bx * fx + by * fy) * 7) % 200 - 100
            dc = level * 2
            parts.append(_dc_bits(dc - prev))
            prev = dc
            parts.append(palette[picks[by * bw + bx]])
    bits = "".join(parts)
    bits += "1" * (-len(bits) % 8)
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    header = (
        b"\xff\xd8"
        + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([_QUANT] * 64)
        + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
        + _dht(0, 0, _DC_SYMBOLS) + _dht(1, 0, _AC_SYMBOLS)
        + b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    )
    return header + scan + b"\xff\xd9"


# --- MP4 (ISO BMFF, one MJPEG video track) -------------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", len(body) + 8) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def _descriptor(tag: int, payload: bytes) -> bytes:
    length = len(payload)
    return bytes([tag, 0x80 | (length >> 21 & 0x7F), 0x80 | (length >> 14 & 0x7F),
                  0x80 | (length >> 7 & 0x7F), length & 0x7F]) + payload


def _esds() -> bytes:
    decoder_config = _descriptor(0x04, bytes([0x6C, 0x11]) + b"\x00\x00\x00" + struct.pack(">II", 0, 0))
    sl_config = _descriptor(0x06, b"\x02")
    es = _descriptor(0x03, struct.pack(">HB", 1, 0) + decoder_config + sl_config)
    return _full_box(b"esds", 0, 0, es)


@functools.lru_cache(maxsize=64)
def mp4(seed: int, width: int, height: int, seconds: int, fps: int = 4) -> bytes:
    """A small valid MP4: `seconds`·`fps` JPEG frames (object type 0x6C, MJPEG) of the seed."""
    frames = [jpeg(seed + i, width, height) for i in range(max(1, seconds * fps))]
    timescale = fps * 1000
    duration_ms = len(frames) * 1000 // fps
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"mp41")

    def moov(chunk_offset: int) -> bytes:
        sample_entry = _box(
            b"mp4v", b"\x00" * 6, struct.pack(">H", 1), b"\x00" * 16,
            struct.pack(">HHIIIH", width, height, 0x00480000, 0x00480000, 0, 1),
            bytes([8]) + b"fakegrok".ljust(31, b"\x00"), struct.pack(">Hh", 0x18, -1), _esds())
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(frames), 1000)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(frames), 1)),
            _full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(frames)),
                      b"".join(struct.pack(">I", len(f)) for f in frames)),
            _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )
        minf = _box(b"minf", _full_box(b"vmhd", 0, 1, b"\x00" * 8),
                    _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))),
                    stbl)
        mdia = _box(b"mdia",
                    _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, len(frames) * 1000, 0x55C4, 0)),
                    _full_box(b"hdlr", 0, 0, struct.pack(">I", 0), b"vide", b"\x00" * 12, b"VideoHandler\x00"),
                    minf)
        tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration_ms), b"\x00" * 8,
                         struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", width << 16, height << 16))
        mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, duration_ms),
                         struct.pack(">IH", 0x00010000, 0x0100), b"\x00" * 10, _MATRIX, b"\x00" * 24,
                         struct.pack(">I", 2))
        return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))

    size = len(moov(0))
    mdat = _box(b"mdat", *frames)
    return ftyp + moov(len(ftyp) + size + 8) + mdat
