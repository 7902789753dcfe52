"""parse_json: the orjson reading and the stdlib reading give the same value, or the same refusal."""

from __future__ import annotations

import json

import pytest

from grok2api import jsonfast
from grok2api.edge import body
from grok2api.errors import InvalidRequest

BODIES = [
    b'{"model": "grok-4", "messages": [{"role": "user", "content": "hi \\u00e9 \xc3\xa9"}], "n": 1, "t": 0.7}',
    b'{"seed": 123456789012345678901234567890}',          # exact beyond 64 bits
    b'{"seed": -9223372036854775809, "x": 18446744073709551616}',
    b'{"t": 0.' + b"1" * 120 + b"}",                        # a literal over MAX_NUMBER_CHARS
    b'{"t": 1e309}', b'{"t": -1e309}', b'{"t": NaN}', b'{"t": Infinity}', b"[1.5e-400, -0, -0.0, 1E5]",
    b'{"phone": "+1 202 555 0100 1234567890123456789"}',  # a digit run in a string: the stdlib path, same value
    b'{"a": 1, "a": 2}', b'"\\ud800"', b'{"k\\udfff": 1}', b'["a\\ud83d\\ude00b"]', b'"a\x01b"', b"\xef\xbb\xbf{}",
    b'{"a": 1} x', b"[1,]", b"\xff\xfe", b'"\xed\xa0\x80"', b"   ", b"",
    b"[" * 100 + b"]" * 100, b"[" * 101 + b"]" * 101, b"[" * 100 + b"1" + b"]" * 100, b"[" * 99 + b"1" + b"]" * 99,
    b"[" * 2000 + b"]" * 2000, b'{"a":' * 101 + b"1" + b"}" * 101, b"7", b'"text"', b"null",
]


def stdlib_reading(raw: bytes) -> object:
    """parse_json with the orjson step skipped: every body counts as holding a long digit run."""
    saved = jsonfast._LONG_DIGIT_RUN
    jsonfast._LONG_DIGIT_RUN = b""
    try:
        return outcome(raw)
    finally:
        jsonfast._LONG_DIGIT_RUN = saved


def outcome(raw: bytes) -> object:
    try:
        value = body.parse_json(raw)
    except InvalidRequest as exc:
        return ("refused", exc.message, exc.param)
    return ("value", json.dumps(value), repr(value))


@pytest.mark.parametrize("raw", BODIES, ids=range(len(BODIES)))
def test_both_readings_agree(raw: bytes) -> None:
    assert outcome(raw) == stdlib_reading(raw)


def test_the_checks_still_refuse() -> None:
    assert outcome(b'{"seed": 123456789012345678901234567890}')[2] == "{'seed': 123456789012345678901234567890}"
    for raw in (b'{"t": 0.' + b"1" * 120 + b"}", b"[" * 102 + b"]" * 102, b'"\\ud800"', b'{"t": NaN}'):
        assert outcome(raw)[0] == "refused", raw[:20]
    assert outcome(b"[" * 101 + b"]" * 101)[0] == "value"  # the innermost list is empty: nothing at 101
