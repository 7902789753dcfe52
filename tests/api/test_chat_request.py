"""Validation of chat bodies: 400s name the parameter path."""

from __future__ import annotations

from typing import Any

import pytest

from grok2api.api.chat_request import parse_chat_request
from grok2api.errors import InvalidRequest


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], **extra}


def bad(payload: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(payload, True)
    assert info.value.status == 400
    return info.value


def test_minimal_and_defaults() -> None:
    req = parse_chat_request(body(), default_stream=False)
    assert req.model == "grok-4" and req.stream is False and req.include_usage is False
    assert req.thinking is None and req.max_tokens is None
    assert [(m.role, m.text) for m in req.messages] == [("user", "hi")]


def test_standard_fields_are_accepted() -> None:
    req = parse_chat_request(body(
        stream=True, stream_options={"include_usage": True}, temperature=0.2, top_p=0.9, n=1,
        max_tokens=50, max_completion_tokens=40, reasoning_effort="high", user="u", seed=1,
        stop=["x"], logit_bias={}, tools=[], tool_choice="auto", parallel_tool_calls=True,
        response_format={"type": "text"}, metadata={"a": "b"}, store=False, top_k=3,
        thinking="disabled", presence_penalty=0, frequency_penalty=0.5), True)
    assert req.stream and req.include_usage and req.max_tokens == 40 and req.thinking is False


def test_roles_and_flattening() -> None:
    req = parse_chat_request(body(messages=[
        {"role": "developer", "content": "dev"},
        {"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]), True)
    assert [m.role for m in req.messages] == ["system", "system", "user", "assistant", "tool"]
    assert req.messages[2].text == "a\nb"
    assert req.messages[3].text == '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    assert req.messages[4].name == "f"  # the tool result is labelled with its call's function


def test_attachments_are_listed_with_their_paths() -> None:
    req = parse_chat_request(body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "a.pdf"}},
    ]}]), True)
    assert [(a.param, a.kind) for a in req.attachments] == [
        ("messages[0].content[1].image_url", "image"), ("messages[0].content[2].file.file_data", "file")]


@pytest.mark.parametrize(("payload", "param"), [
    ([], ""),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    (body(messages=[]), "messages"),
    (body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    (body(messages=[{"role": "user"}]), "messages[0].content"),
    (body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (body(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "ftp://x"}}]}]),
     "messages[1].content[1].image_url"),
    (body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:text/plain;base64,aGk="}}]}]), "messages[0].content[0].image_url"),
    (body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {
        "data": "", "format": "wav"}}]}]), "messages[0].content[0]"),
    (body(messages=[{"role": "user", "content": [{"type": "video"}]}]), "messages[0].content[0].type"),
    (body(messages=[{"role": "system", "content": [{"type": "image_url", "image_url": {
        "url": "https://x/y.png"}}]}]), "messages[0].content[0]"),
    (body(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}]),
     "messages[0].content[0].file.file_id"),
    (body(n=2), "n"),
    (body(n=0), "n"),
    (body(temperature=3), "temperature"),
    (body(top_p="x"), "top_p"),
    (body(max_tokens=0), "max_tokens"),
    (body(stream="yes"), "stream"),
    (body(stream_options={"include_usage": "y"}), "stream_options.include_usage"),
    (body(thinking="maybe"), "thinking"),
    (body(video_config={"video_length": 7}), "video_config.video_length"),
    (body(video_config={"aspect_ratio": "4:3"}), "video_config.aspect_ratio"),
])
def test_rejections_name_the_parameter(payload: Any, param: str) -> None:
    assert bad(payload).param == param


def test_n_greater_than_one_says_why() -> None:
    assert "one request per completion" in bad(body(n=3)).message


def test_video_config() -> None:
    req = parse_chat_request(body(video_config={"aspect_ratio": "9:16", "video_length": 10,
                                                "resolution_name": "720p", "preset": "fun"}), True)
    assert req.video is not None and (req.video.aspect_ratio, req.video.seconds) == ("9:16", 10)
