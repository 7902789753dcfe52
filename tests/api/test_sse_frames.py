"""SSE frames built from templates are byte for byte the frames of the generic encoders."""

from __future__ import annotations

import json

import pytest

from grok2api.api import messages, sse
from grok2api.api.chat import DeltaEncoder
from grok2api.api.chat_render import CONTENT, REASONING

TEXTS = ["", "plain", ' "quoted" \\ back', "new\nline\ttab\r", "\x00\x01\x1f\x7f", "é ü 中文 🙂", "\u2028\u2029",
         "</script>", "'"]


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("field", ["content", "reasoning_content"])
def test_chat_text_chunk_matches_the_generic_delta(include_usage: bool, field: str) -> None:
    encoder = sse.ChunkEncoder("chatcmpl-x\"y", 1700000000, "grok-4 \"é\"", include_usage)
    for text in TEXTS:
        frame = encoder.text(field, text)
        assert frame == encoder.delta({field: text})
        assert json.loads(frame.removeprefix(b"data: "))["choices"][0]["delta"] == {field: text}


def test_delta_encoder_uses_the_template_only_for_single_text_deltas() -> None:
    encoder = sse.ChunkEncoder("chatcmpl-1", 1, "grok-4", False)
    frames = DeltaEncoder(encoder).encode([(REASONING, "a"), (REASONING, "b"), (CONTENT, "c")])
    assert frames == [encoder.delta({"reasoning_content": "ab"}), encoder.delta({"content": "c"})]


def test_anthropic_text_and_thinking_deltas_match_the_generic_event() -> None:
    encoder = messages.BlockEncoder()
    pieces = [(REASONING, t) for t in TEXTS] + [(CONTENT, t) for t in TEXTS] + [(REASONING, "again")]
    out = encoder.encode(pieces)
    deltas = [frame for frame in out if frame.startswith(b"event: content_block_delta")]
    expected = ([messages.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "thinking_delta", "thinking": t}})
                 for t in TEXTS]
                + [messages.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                          "delta": {"type": "signature_delta",
                                                                    "signature": messages.SIGNATURE}})]
                + [messages.event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                                          "delta": {"type": "text_delta", "text": t}})
                   for t in TEXTS]
                + [messages.event("content_block_delta", {"type": "content_block_delta", "index": 2,
                                                          "delta": {"type": "thinking_delta", "thinking": "again"}})])
    assert deltas == expected


@pytest.mark.parametrize("value", [*TEXTS, 0, 2**63 - 1, 2**64, 0.5, 1e16, None, True, [1, "a"],
                                   {"usage": {"prompt_tokens": 3, "completion_tokens": 7}}, {1: "int key"}])
def test_json_is_the_stdlib_encoders_bytes(value: object) -> None:
    # orjson writes it (a float in exponent form aside); what orjson refuses goes through the stdlib.
    stdlib = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert sse.dumps(value) == stdlib
    assert sse.data_frame(value) == b"data: " + stdlib.encode() + b"\n\n"
