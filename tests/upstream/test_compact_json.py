"""jsonfast.dumps (compact_json here) writes what json.dumps with compact separators wrote: the bodies
and mgw frames the builders make, and awkward strings, byte for byte; what orjson refuses still goes.
jsonfast.loads (parse_json here) reads what json.loads reads, as json.loads reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grok2api.upstream import ChatRequest, UpstreamConfig
from grok2api.jsonfast import dumps as compact_json, loads as parse_json
from grok2api.upstream.mgw import build_item_create, build_ping, build_response_create, build_session_create
from grok2api.upstream.rest_chat import build_chat_body

AWKWARD = "héllo ✓ 日本 😀 \x00\x01\x1f\x7f \u2028\u2029 </script> \"q\" \\ / \t\n\r\b\f"


def stdlib(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def bodies() -> list[Any]:
    config = UpstreamConfig()
    request = ChatRequest(message=AWKWARD, mode="expert", mode_id="expert", model_name="grok-4", model_mode="x",
                          file_ids=("f-1", "f-2"), thinking=True, temporary=True, disable_memory=False,
                          reasoning_effort="high")
    out: list[Any] = [build_chat_body(request, config, d) for d in ("rest-g1", "rest-g2")]
    out += [build_session_create(request, config, "evt_init_1"), build_item_create("sess", request, 1764979200123),
            build_response_create("sess", 1764979200124), build_ping(1764979200125)]
    return out


@pytest.mark.parametrize("body", bodies())
def test_request_bodies_and_frames_are_the_stdlibs_bytes(body: Any) -> None:
    assert compact_json(body) == stdlib(body)


@pytest.mark.parametrize("value", [AWKWARD, 0, -1, 2**63 - 1, 1.5, 0.1, 1e16, True, None, [], {},
                                   {"a": [1, {"b": ""}]}])
def test_values_are_the_stdlibs_bytes(value: Any) -> None:
    assert compact_json(value) == stdlib(value)


@pytest.mark.parametrize("value", [2**64, {1: "int key"}])
def test_what_orjson_refuses_is_written_by_the_stdlib(value: Any) -> None:
    assert compact_json(value) == stdlib(value)


def test_a_lone_surrogate_fails_as_it_did() -> None:
    with pytest.raises(UnicodeEncodeError):
        stdlib("lone \ud800")
    with pytest.raises(UnicodeEncodeError):
        compact_json("lone \ud800")


@pytest.mark.parametrize("data", [
    b'{"event":{"type":"response.output_text.delta","delta":"h\\u00e9 \xe2\x9c\x93"}}', b" [1, 2.5, null] ",
    b'{"id":123456789012345678901234}', b'{"n":-9223372036854775809}', b"[18446744073709551616]",
    b"[18446744073709551615, 9223372036854775807]", b'{"id":"1234567890123456789012"}', b'{"x":NaN,"y":-Infinity}',
    b'{"f":1e-7,"g":0.1}', b'"\\ud800"'])
def test_frames_are_read_as_the_stdlib_reads_them(data: bytes) -> None:
    got, want = parse_json(data), json.loads(data)
    assert repr(got) == repr(want) and type(got) is type(want)  # repr: NaN != NaN, and 1 == 1.0


@pytest.mark.parametrize("data", [b"", b"not json", b'{"a":1', b'{"t":"\xff"}'])
def test_what_is_not_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        parse_json(data)
