"""api/validate.py: the shared readers every body parser uses, and the 400s they raise."""

from __future__ import annotations

from typing import Any

import pytest

from grok2api.api import validate as v
from grok2api.errors import InvalidRequest


def rejects(fn: Any, *args: Any, **kw: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        fn(*args, **kw)
    assert info.value.status == 400
    return info.value


def test_body_and_model() -> None:
    assert v.json_object({"a": 1}) == {"a": 1}
    assert rejects(v.json_object, [1]).param == ""
    assert v.model_name({"model": " grok-4 "}) == "grok-4"
    for body in ({}, {"model": ""}, {"model": "  "}, {"model": 4}):
        assert rejects(v.model_name, body).param == "model"


@pytest.mark.parametrize("value", [True, "3", 2.5, None])
def test_integer_refuses_non_integers_and_booleans(value: Any) -> None:
    err = rejects(v.integer, value, "n", 1)
    assert err.param == "n" and "`n` must be an integer" in err.message


def test_bounds_name_the_value() -> None:
    assert v.integer(3, "n", 1) == 3
    assert "at least 1, got 0" in rejects(v.integer, 0, "n", 1).message
    assert v.number(0.5, "top_p", 0, 1) == 0.5
    assert "between 0 and 2, got 3" in rejects(v.number, 3, "temperature", 0, 2).message
    assert rejects(v.number, False, "temperature", 0, 2).message == "`temperature` must be a number."


def test_optional_readers_read_absent_as_none() -> None:
    body: dict[str, Any] = {"stream": True, "user": "u", "max_tokens": 5, "top_p": 1}
    assert v.optional_bool(body, "stream") is True and v.optional_bool({}, "stream") is None
    assert v.optional_str(body, "user") == "u" and v.optional_str({}, "user") is None
    assert v.optional_int(body, "max_tokens", 1) == 5 and v.optional_int({}, "max_tokens", 1) is None
    assert v.optional_number(body, "top_p", 0, 1) == 1 and v.optional_number({}, "top_p", 0, 1) is None
    assert v.optional({"m": {}}, "m", dict, "an object") == {}
    assert rejects(v.optional_bool, {"stream": "yes"}, "stream").param == "stream"
    assert rejects(v.optional_str, {"user": 1}, "user").message == "`user` must be a string."
    assert rejects(v.optional, {"n": True}, "n", int, "an integer").param == "n"  # a bool is not an int


def test_string_or_empty() -> None:
    assert v.string_or_empty("a.png") == "a.png"
    assert v.string_or_empty(None) == "" and v.string_or_empty(3) == ""


def _image(part: dict[str, Any], p: str) -> v.AttachmentRef:
    return v.image_url_ref(part.get("url"), f"{p}.url")


KINDS: dict[str, Any] = {"text_kinds": ("text", "refusal"), "media": {"image": _image}}


def test_parts_text_joins_text_and_collects_media() -> None:
    refs: list[v.AttachmentRef] = []
    parts = [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}, "c",
             {"type": "image", "url": "https://x.test/i.png"}]
    assert v.parts_text(parts, "user", "m[0].content", refs, bare_strings=True, **KINDS) == "a\nb\nc"
    assert refs == [v.AttachmentRef(param="m[0].content[3].url", url="https://x.test/i.png", kind="image")]


def test_parts_text_rejections_name_the_part() -> None:
    refs: list[v.AttachmentRef] = []
    image = {"type": "image", "url": "https://x.test/i.png"}
    assert rejects(v.parts_text, ["bare"], "user", "c", refs, **KINDS).param == "c[0]"
    assert rejects(v.parts_text, [{"type": "text", "text": 1}], "user", "c", refs, **KINDS).param == "c[0].text"
    err = rejects(v.parts_text, [image], "assistant", "c", refs, **KINDS)
    assert err.param == "c[0]" and "only allowed in user messages" in err.message
    assert "audio" in rejects(v.parts_text, [{"type": "input_audio"}], "user", "c", refs, **KINDS).message
    err = rejects(v.parts_text, [{"type": "video"}], "user", "c", refs, **KINDS)
    assert err.param == "c[0].type" and "must be text, refusal or image; got 'video'" in err.message
    assert refs == []


def test_references() -> None:
    assert v.image_url_ref("data:image/png;base64,AA", "p").url.startswith("data:image/png")
    assert rejects(v.image_url_ref, "ftp://x", "p").param == "p"
    assert "must hold an image" in rejects(v.image_url_ref, "data:text/plain;base64,AA", "p").message
    ref = v.file_data_ref("QUJD", "f.file_data", "a.txt")
    assert ref == v.AttachmentRef(param="f.file_data", url="data:application/octet-stream;base64,QUJD",
                                  kind="file", filename="a.txt")
    assert v.file_data_ref("data:text/plain;base64,QUJD", "f", "").url == "data:text/plain;base64,QUJD"
    assert rejects(v.file_data_ref, "", "f.file_data", "").param == "f.file_data"


def test_attachment_count() -> None:
    refs = [v.AttachmentRef(param=f"m[{i}]", url="https://x.test", kind="image") for i in range(v.MAX_ATTACHMENTS)]
    v.check_attachment_count(refs)
    refs.append(v.AttachmentRef(param="m[99]", url="https://x.test", kind="image"))
    assert rejects(v.check_attachment_count, refs).param == "m[99]"
