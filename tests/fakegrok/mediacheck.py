"""Independent stdlib decoders that prove the fake's media bytes are structurally valid."""

from __future__ import annotations

import struct
import zlib


def png_size(data: bytes) -> tuple[int, int]:
    """Check signature, every chunk CRC and the decompressed scanlines; return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    pos, idat, width, height, kinds = 8, b"", 0, 0, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"CRC of {kind!r}"
        kinds.append(kind)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    assert all(raw[i] <= 4 for i in range(0, len(raw), stride)), "filter type bytes"
    return width, height


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.acc, self.n = data, 0, 0, 0

    def bit(self) -> int:
        if self.n == 0:
            assert self.pos < len(self.data), "entropy-coded data ended early"
            self.acc, self.n = self.data[self.pos], 8
            self.pos += 1
        self.n -= 1
        return (self.acc >> self.n) & 1

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = value << 1 | self.bit()
        return value


def _huffman(counts: bytes, symbols: bytes) -> dict[tuple[int, int], int]:
    table, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            table[(length, code)] = symbols[k]
            code, k = code + 1, k + 1
        code <<= 1
    return table


def _decode(bits: _Bits, table: dict[tuple[int, int], int]) -> int:
    code = 0
    for length in range(1, 17):
        code = code << 1 | bits.bit()
        if (length, code) in table:
            return table[(length, code)]
    raise AssertionError("invalid Huffman code")


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the markers of a baseline single-component JPEG and Huffman-decode every block."""
    assert data[:2] == b"\xff\xd8", "SOI"
    pos, tables, width, height = 2, {}, 0, 0
    while True:
        assert data[pos] == 0xFF, f"marker expected at {pos}"
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        seg = data[pos + 4:pos + 2 + length]
        if marker == 0xC0:
            _, height, width, comps = struct.unpack(">BHHB", seg[:6])
            assert comps == 1
        elif marker == 0xC4:
            i = 0
            while i < len(seg):
                tc_th, counts = seg[i], seg[i + 1:i + 17]
                n = sum(counts)
                tables[tc_th] = _huffman(counts, seg[i + 17:i + 17 + n])
                i += 17 + n
        elif marker == 0xDA:
            comp_tables = seg[2]
            pos += 2 + length
            break
        pos += 2 + length
    end = data.rindex(b"\xff\xd9")
    assert end == len(data) - 2, "EOI at the end"
    scan = data[pos:end].replace(b"\xff\x00", b"\xff")
    dc, ac = tables[comp_tables >> 4], tables[0x10 | (comp_tables & 0xF)]
    bits = _Bits(scan)
    for _ in range(((width + 7) // 8) * ((height + 7) // 8)):
        size = _decode(bits, dc)
        bits.bits(size)
        k = 1
        while k < 64:
            rs = _decode(bits, ac)
            run, size = rs >> 4, rs & 15
            if size == 0:
                if run != 15:
                    break
                k += 16
                continue
            k += run
            bits.bits(size)
            k += 1
        assert k <= 64, "coefficient index overflow"
    assert len(scan) - bits.pos <= 1, "trailing entropy-coded bytes"
    return width, height


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    out, pos = {}, start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        assert size >= 8 and pos + size <= end, f"box {kind!r} size"
        out[kind] = (pos + 8, pos + size)
        pos += size
    assert pos == end
    return out


def mp4_info(data: bytes) -> dict[str, float | int]:
    """Walk ftyp/moov/mdat, follow stbl to every sample, check each frame is a valid JPEG."""
    top = _boxes(data, 0, len(data))
    assert list(top)[:1] == [b"ftyp"] and b"moov" in top and b"mdat" in top
    moov = _boxes(data, *top[b"moov"])
    mvhd = data[moov[b"mvhd"][0]:]
    timescale, duration = struct.unpack(">II", mvhd[12:20])
    trak = _boxes(data, *moov[b"trak"])
    tkhd = data[trak[b"tkhd"][0]:trak[b"tkhd"][1]]
    width, height = struct.unpack(">II", tkhd[-8:])
    mdia = _boxes(data, *trak[b"mdia"])
    assert data[mdia[b"hdlr"][0] + 8:mdia[b"hdlr"][0] + 12] == b"vide"
    stbl = _boxes(data, *_boxes(data, *mdia[b"minf"])[b"stbl"])
    stsd = data[stbl[b"stsd"][0]:stbl[b"stsd"][1]]
    assert stsd[12:16] == b"mp4v"
    stsz = data[stbl[b"stsz"][0]:stbl[b"stsz"][1]]
    _, fixed, count = struct.unpack(">III", stsz[:12])
    sizes = [fixed] * count if fixed else list(struct.unpack(f">{count}I", stsz[12:12 + 4 * count]))
    stco = data[stbl[b"stco"][0]:stbl[b"stco"][1]]
    _, chunks, offset = struct.unpack(">III", stco[:12])
    assert chunks == 1
    mdat_start, mdat_end = top[b"mdat"]
    assert offset == mdat_start and offset + sum(sizes) == mdat_end
    for size in sizes:
        jpeg_size(data[offset:offset + size])
        offset += size
    return {"seconds": duration / timescale, "frames": count, "width": width >> 16, "height": height >> 16}
