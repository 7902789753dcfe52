"""Token import formats and the JSON export round trip (pure parsing)."""

from __future__ import annotations

import json

import pytest

from grok2api.pool.ops import (
    ImportItem,
    _parse,
    export_json,
    normalize_pool,
    parse_import,
)
from grok2api.storage.base import AccountRecord

T1 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.aaaa.bbbb"
T2 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.cccc.dddd"
T3 = "plain-token-value-0123456789"


def tokens(text: str) -> list[str]:
    return [i.token for i in parse_import(text)]


def test_one_token_per_line_with_blanks_and_comments() -> None:
    text = f"\ufeff# my accounts\n{T1}\n\n   {T2}   \n// old one\n{T3}\r\n"
    assert parse_import(text) == [ImportItem(T1), ImportItem(T2), ImportItem(T3)]


def test_cookie_strings_are_cut_at_the_semicolon() -> None:
    text = "\n".join([
        f"sso={T1}; sso-rw={T1}; other=1",
        f"Cookie: _ga=GA1; sso={T2}; cf_clearance=xyz",
        f"sso-rw={T3}",
        f"sso={T1}",
    ])
    assert tokens(text) == [T1, T2, T3, T1]


def test_garbage_lines_are_rejected_and_counted() -> None:
    items, rejected = _parse(f"{T1}\nnot a token\nfoo=1; bar=2\nshort\n\"{T2}\"\n")
    assert [i.token for i in items] == [T1, T2]
    assert rejected == 3


def test_json_export_round_trip() -> None:
    records = [
        AccountRecord(id="x", token=T1, pool="super", tags=["nsfw", "vip"], note="main"),
        AccountRecord(id="y", token=T2),
    ]
    text = json.dumps(export_json(records))
    data = json.loads(text)
    assert data["version"] == 1
    assert data["accounts"][0] == {"token": T1, "pool": "super", "tags": ["nsfw", "vip"], "note": "main"}
    assert parse_import(text) == [
        ImportItem(T1, "super", ("nsfw", "vip"), "main"),
        ImportItem(T2, "basic", (), ""),
    ]


def test_json_list_of_strings_and_objects() -> None:
    text = json.dumps([T1, f"sso={T2}", {"token": T3, "pool": "heavy"}])
    assert parse_import(text) == [ImportItem(T1), ImportItem(T2), ImportItem(T3, "heavy")]


def test_seed_pool_map() -> None:
    text = json.dumps({"ssoBasic": [T1, {"token": T2, "tags": ["nsfw"], "note": "n"}], "ssoSuper": [T3]})
    assert parse_import(text) == [
        ImportItem(T1, "basic"), ImportItem(T2, "basic", ("nsfw",), "n"), ImportItem(T3, "super")]


@pytest.mark.parametrize(("text", "match"), [
    ("[1, 2]", "token string"),
    ('{"gold": ["' + T1 + '"]}', "unknown pool 'gold'"),
    ('{"version": 2, "accounts": []}', "version 2"),
    ('{"accounts": [{"token": "' + T1 + '", "tags": "nsfw"}]}', "tags"),
    ('{"accounts": {"token": "x"}}', "expected a list"),
    ("[not json", "not valid JSON"),
    ('{"accounts": [{"pool": "basic"}]}', "token"),
    ('{"accounts": [{"token": "' + T1 + '", "pool": 3}]}', "pool"),
])
def test_malformed_json_is_refused_loudly(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_import(text)


def test_json_entries_that_are_not_tokens_are_rejected() -> None:
    items, rejected = _parse(json.dumps([T1, "has space inside", "x"]))
    assert [i.token for i in items] == [T1] and rejected == 2


def test_normalize_pool() -> None:
    assert [normalize_pool(p) for p in ("basic", "SUPER", "ssoBasic", "ssoSuper", "ssoHeavy")] == [
        "basic", "super", "basic", "super", "heavy"]
    with pytest.raises(ValueError):
        normalize_pool("premium")


def test_empty_input() -> None:
    assert parse_import("") == [] and parse_import("\n# nothing\n") == []
