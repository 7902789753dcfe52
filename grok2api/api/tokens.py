"""Token estimates for `usage`: one documented heuristic, no tokenizer files.

Method: characters at or above U+2E80 (CJK, kana, hangul, fullwidth forms, emoji and other
astral symbols) count one token each, because BPE vocabularies rarely merge them; every other
character counts by its UTF-8 bytes, four bytes to a token (rounded up per text), which is
OpenAI's published rule of thumb for English. The estimate is additive over a text's pieces up to
that rounding, so `TokenCounter` keeps the raw counts and rounds once: a streamed answer and the
same answer returned whole get exactly the same numbers.

Prompts add OpenAI's documented chat framing: 3 tokens per message, 1 for a name, 3 to prime the
reply, and a flat 85 tokens per attached image or file (the "low detail" image price).
"""

from __future__ import annotations

import re

from ..gateway.jobs import Message

_WIDE = re.compile(r"[\u2e80-\uffff\U00010000-\U0010ffff]")
PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3
PER_ATTACHMENT = 85


class TokenCounter:
    """Accumulates text and reports its estimated tokens."""

    __slots__ = ("narrow_bytes", "wide")

    def __init__(self) -> None:
        self.wide = 0
        self.narrow_bytes = 0

    def add(self, text: str) -> None:
        if text.isascii():
            self.narrow_bytes += len(text)
            return
        wide = len(_WIDE.findall(text))
        self.wide += wide
        self.narrow_bytes += len(_WIDE.sub("", text).encode()) if wide else len(text.encode())

    @property
    def tokens(self) -> int:
        return self.wide + (self.narrow_bytes + 3) // 4


def count_text(text: str) -> int:
    counter = TokenCounter()
    counter.add(text)
    return counter.tokens


def tokens_with(base: TokenCounter, text: str) -> int:
    """What `base` would count after adding `text` (base unchanged)."""
    probe = TokenCounter()
    probe.wide, probe.narrow_bytes = base.wide, base.narrow_bytes
    probe.add(text)
    return probe.tokens


def fit_prefix(text: str, budget: int, base: TokenCounter | None = None) -> str:
    """The longest prefix of `text` that keeps `base` plus the prefix within `budget` tokens."""
    base = base or TokenCounter()
    if tokens_with(base, text) <= budget:
        return text
    lo, hi = 0, len(text)  # the count is monotonic in the prefix length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if tokens_with(base, text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def count_prompt(messages: list[Message], attachments: int = 0) -> int:
    total = REPLY_PRIMING + PER_ATTACHMENT * attachments
    for message in messages:
        total += PER_MESSAGE + count_text(message.role) + count_text(message.text)
        if message.name:
            total += PER_NAME + count_text(message.name)
    return total
