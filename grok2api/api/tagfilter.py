"""Streaming removal of Grok's inline markup (`chat.filter_tags`), even when split across chunks.

Rules (decisions the issue left open):
- Tag names match case-insensitively and only as whole names: `<grok:render` matches
  `<GROK:Render …>` but not `<grok:renderer>`.
- A filtered element is removed with everything inside it (`<grok:render …><argument …>3
  </argument></grok:render>` disappears), nested elements of the same name included.
  Exception: `xaiArtifact` wraps the answer's own code or document, so only its tags are removed
  and its body is kept (`UNWRAPPED`).
- Self-closing tags (`<grok:render …/>`) and stray closing tags are removed.
- Attribute values are quoted strings and may contain `>` (`title="a > b"`): quotes are respected.
- Only a possible tag start is held back; text never waits for more than one chunk unless it
  ends with `<` or a prefix of `<name`. A would-be tag longer than MAX_TAG characters is text.
- At the end of the stream, a tag that was never closed is dropped when its name was complete
  (it is markup), and kept as text when only a prefix like `<gro` had arrived.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

UNWRAPPED = frozenset({"xaiartifact"})
MAX_TAG = 8192
_NAME_END = frozenset(" \t\r\n>/")


class _More:
    """The buffer ends before the tag can be judged."""


_MORE = _More()
# (closing, name, end index, self-closing) of a tag of ours
_Tag = tuple[bool, str, int, bool]


@functools.lru_cache(maxsize=32)
def _ordered(names: tuple[str, ...]) -> tuple[str, ...]:
    # One tuple per configured list, shared by the filters of every open stream (two per stream).
    return tuple(sorted({n.lower() for n in names if n}, key=len, reverse=True))


class TagFilter:
    __slots__ = ("_buf", "_depth", "_skip", "names")

    def __init__(self, names: Iterable[str]) -> None:
        self.names = _ordered(tuple(names))
        self._buf = ""
        self._skip = ""  # name of the element whose content is being dropped
        self._depth = 0

    def feed(self, text: str) -> str:
        if not self.names:
            return text
        if not self._buf and not self._skip and "<" not in text:
            return text  # the common case: plain text passes untouched
        return self._run(self._buf + text, final=False)

    def flush(self) -> str:
        """End of stream: return whatever held-back text is not markup."""
        if not self.names:
            return ""
        out = self._run(self._buf, final=True)
        self._buf, self._skip, self._depth = "", "", 0
        return out

    def _run(self, buf: str, final: bool) -> str:
        out: list[str] = []
        while buf:
            lt = buf.find("<")
            if lt < 0:
                if not self._skip:
                    out.append(buf)
                buf = ""
                break
            if lt and not self._skip:
                out.append(buf[:lt])
            buf = buf[lt:]
            tag = self._match(buf, final)
            if isinstance(tag, _More):
                break
            if tag is None:
                if not self._skip:
                    out.append("<")
                buf = buf[1:]
                continue
            closing, name, end, self_closing = tag
            buf = buf[end:]
            if self._skip:
                if name == self._skip and not self_closing:
                    self._depth += -1 if closing else 1
                    if self._depth == 0:
                        self._skip = ""
            elif not closing and not self_closing and name not in UNWRAPPED:
                self._skip, self._depth = name, 1
        self._buf = buf
        return "".join(out)

    def _match(self, buf: str, final: bool) -> _Tag | _More | None:
        """Judge the tag starting at buf[0] == "<": None (not ours), _MORE, or
        (closing, name, end index, self-closing)."""
        closing = buf.startswith("</")
        start = 2 if closing else 1
        if len(buf) <= start:
            return None if final else _MORE
        head = buf[start:start + len(self.names[0]) + 1].lower()
        name = ""
        waiting = False
        for candidate in self.names:
            n = len(candidate)
            if head[:n] == candidate:
                if len(head) > n:
                    if head[n] in _NAME_END:
                        name = candidate
                        break
                else:
                    waiting = True  # the name is complete but its delimiter has not arrived
            elif candidate.startswith(head):
                waiting = True
        if not name:
            if waiting and not final:
                return _MORE
            if waiting and final and head in self.names:
                return (closing, head, len(buf), False)  # "<grok:render" cut at the end: markup
            return None
        i = start + len(name)
        quote = ""
        limit = min(len(buf), MAX_TAG)
        while i < limit:
            ch = buf[i]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == ">":
                return (closing, name, i + 1, buf[i - 1] == "/")
            i += 1
        if final:
            return (closing, name, len(buf), True)  # an unterminated tag at the end: drop it
        if len(buf) >= MAX_TAG:
            return None
        return _MORE
