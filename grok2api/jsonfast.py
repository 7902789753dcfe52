"""JSON read and written by orjson wherever it gives what the stdlib gives, by the stdlib elsewhere.

Writing: what `json.dumps(separators=(",", ":"), ensure_ascii=False)` writes, byte for byte, but for
a float in exponent form (orjson writes 1e-7 as a browser does, the stdlib 1e-07); what orjson
refuses (integers over 64 bits, non-string keys, lone surrogates) goes the stdlib's way.
Reading: orjson reads an integer past 64 bits as a float and refuses NaN and Infinity, so a text with
a run of 19 digits, or one orjson refuses, is read by the stdlib.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Every digit becomes "0" and every other byte a space: a run of 19 digits is then a plain substring
# search (a regex scan for \d{19} cost 8 ns a byte, 15x an orjson parse of the same line). A valid number
# literal has at most 4 non-digits, so any literal orjson could read differently holds such a run.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGIT_RUN = b"0" * 19
_stdlib_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def may_read_differently(raw: bytes) -> bool:
    """True when `raw` holds a run of 19 digits: a number orjson might read otherwise than the stdlib."""
    return _LONG_DIGIT_RUN in raw.translate(_DIGITS_ONLY)


def loads(data: bytes) -> Any:
    """json.loads(data), by orjson where the two read the same. Raises ValueError for what is not
    JSON or not UTF-8, as json.loads does."""
    if not may_read_differently(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps(obj: Any) -> bytes:
    """Compact JSON with non-ASCII as UTF-8 (see the module docstring)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return _stdlib_compact(obj).encode()
