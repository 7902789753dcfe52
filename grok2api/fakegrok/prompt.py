"""Reads a flattened prompt (§3.4) back into turns: who said what, and the user's own words.

Two styles. GO prefixes every turn with a `[role]` line; PY-A prefixes each paragraph that starts
a turn with `role: ` (`tool (name): ` for a tool result) and leaves a final user message bare.
A turn starts only at the start of a paragraph, so text with blank lines (a file, a long system
prompt, a tool result) stays in its turn. PY-A's bare final user message is ambiguous with a
multi-paragraph last turn; the rule here: after a `user` or `tool` turn, or after a system turn
that follows the user (clients such as Claude Code put one there), the trailing paragraphs belong
to that turn; otherwise the last turn keeps its first paragraph and the rest is the user's.
The user's words are the last user turn without context blocks: a `<tag …>…</tag>` block that
starts and ends a line (`<system-reminder>`, `<environment_context>`, …) is context the client
added, not something the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ROLE = r"(system|user|assistant|developer|function|tool)(?: \(([^)\n]*)\))?"
_PLAIN = re.compile(rf"{_ROLE}: ")
_TAGGED = re.compile(rf"\[{_ROLE}\]\n")
_CONTEXT = re.compile(r"(?:^|\n)<([a-z][a-z0-9_-]*)(?:[ \t][^>\n]*)?>.*?</\1>[ \t]*(?=\n|\Z)", re.S)
SYSTEM_ROLES = ("system", "developer")


@dataclass(slots=True)
class Turn:
    role: str
    paragraphs: list[str] = field(default_factory=list)
    name: str = ""  # a tool result's tool

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs).strip()


def turns(message: str) -> list[Turn]:
    """The turns of a flattened prompt, oldest first."""
    pattern = _TAGGED if _TAGGED.match(message) else _PLAIN
    out: list[Turn] = []
    for paragraph in message.split("\n\n"):
        match = pattern.match(paragraph)
        if match:
            out.append(Turn(match.group(1), [paragraph[match.end():]], match.group(2) or ""))
        elif out:
            out[-1].paragraphs.append(paragraph)
        else:
            out.append(Turn("user", [paragraph]))
    if pattern is _PLAIN and out and len(out[-1].paragraphs) > 1 and not _keeps_tail(out):
        last = out[-1]
        out.append(Turn("user", last.paragraphs[1:]))
        last.paragraphs = last.paragraphs[:1]
    return out


def _keeps_tail(out: list[Turn]) -> bool:
    """Whether the paragraphs after the last prefixed turn's first one still belong to it."""
    role = out[-1].role
    if role in ("user", "tool"):
        return True
    if role in SYSTEM_ROLES:
        before = [t.role for t in out[:-1] if t.role not in SYSTEM_ROLES]
        return bool(before) and before[-1] == "user"
    return False


def without_context(text: str) -> str:
    """The text without the context blocks a client added around the user's words."""
    return _CONTEXT.sub("\n", text).strip()


def last_user_turn(message: str) -> str:
    users = [t for t in turns(message) if t.role == "user"]
    return users[-1].text if users else ""


def user_words(message: str) -> str:
    """What the user last typed: the last user turn, context blocks removed (may be empty)."""
    return without_context(last_user_turn(message))


def tool_results(message: str) -> list[str] | None:
    """The tool results that end the conversation (system turns after them aside), or None."""
    results: list[str] = []
    for turn in reversed(turns(message)):
        if turn.role in SYSTEM_ROLES and not results:
            continue
        if turn.role != "tool":
            break
        results.insert(0, turn.text)
    return results or None
