"""The token estimate: documented rule, additive over pieces, CJK per character."""

from __future__ import annotations

from grok2api.api.tokens import TokenCounter, count_prompt, count_text, fit_prefix
from grok2api.gateway.jobs import Message


def test_rule() -> None:
    assert count_text("") == 0
    assert count_text("abcd") == 1
    assert count_text("abcde") == 2
    assert count_text("你好世界") == 4  # one per CJK character
    assert count_text("héllo") == 2  # é is two UTF-8 bytes: 6 bytes -> 2 tokens
    assert count_text("ab你好") == 3


def test_streamed_pieces_count_like_the_whole() -> None:
    text = "The quick brown fox 跳过 the lazy dog — ünïcödé 🦊 " * 7
    whole = count_text(text)
    for size in (1, 2, 3, 5, 17):
        counter = TokenCounter()
        for i in range(0, len(text), size):
            counter.add(text[i:i + size])
        assert counter.tokens == whole


def test_prompt_framing() -> None:
    msgs = [Message(role="system", text="be brief"), Message(role="user", text="hi", name="bob")]
    expected = 3 + (3 + 2 + 2) + (3 + 1 + 1 + 1 + 1) + 85
    assert count_prompt(msgs, attachments=1) == expected


def test_fit_prefix_respects_budget_with_a_base() -> None:
    base = TokenCounter()
    base.add("abc")  # 3 bytes
    text = "defghijklmnop"
    fitted = fit_prefix(text, 2, base)
    assert fitted == "defgh"  # 3 + 5 = 8 bytes = 2 tokens; one more byte would be 3
    assert fit_prefix(text, 100, base) == text
    assert fit_prefix(text, 0) == ""
