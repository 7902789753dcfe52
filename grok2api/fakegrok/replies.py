"""The deterministic reply rule: what the fake "model" answers to a prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .prompt import turns, without_context
from .toolcalls import tool_answer

# Markers a test puts in its prompt to ask for a feature; they are removed from the echo.
MARKERS = ("[[render]]", "[[artifact]]", "[[tool]]", "[[image]]", "[[moderated]]", "[[notool]]")
_TOKENS_MARKER = re.compile(r"\[\[tokens:(\d{1,5})\]\]")
_TOOLFORM_MARKER = re.compile(r"\[\[toolform:\w+\]\]")
_WORDS = re.compile(r"\s*\S+")

RENDER_CARD_ID = "fk0"
RENDER_URL = "https://example.org/fakegrok-citation"
RENDER_TAG = (f'<grok:render card_id="{RENDER_CARD_ID}" card_type="citation_card" '
              'type="render_inline_citation"><argument name="citation_id">0</argument></grok:render>')
ARTIFACT = ('<xaiArtifact artifact_id="00000000-0000-4000-8000-00000000a71f" '
            'artifact_version_id="00000000-0000-4000-8000-00000000a720" title="main.py" '
            'contentType="text/python">print("fakegrok")</xaiArtifact>')
TOOL_QUERY = "fakegrok search"


@dataclass(slots=True)
class Reply:
    """What one assistant turn consists of, before any wire framing."""

    prompt: str  # the last user message, markers removed
    thinking: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)  # visible tokens; joined = the echo text
    render: bool = False  # append a citation card + <grok:render> tag (REST) / render_citation (mgw)
    artifact: bool = False  # append an <xaiArtifact> block to the answer
    tool: bool = False  # a web_search tool card + results before the answer
    image: bool = False  # ask for in-chat image generation
    drawing: bool = False  # "Drawing:" lite image (card style)
    moderated: bool = False

    @property
    def text(self) -> str:
        return "".join(self.answer)


def last_user_message(message: str) -> str:
    """The last user turn of a flattened prompt (§3.4; rules in `prompt.py`), without the context
    blocks a client added around it unless there is nothing else; the last turn when no user spoke."""
    found = turns(message)
    users = [t for t in found if t.role == "user"]
    text = users[-1].text if users else (found[-1].text if found else "")
    return without_context(text) or text


def split_tokens(text: str) -> list[str]:
    """Word-sized tokens (leading whitespace kept) whose concatenation is `text`."""
    tokens = _WORDS.findall(text)
    rest = text[sum(map(len, tokens)):]
    if rest:
        tokens.append(rest)
    return tokens or [text]


def build_reply(message: str, *, thinking: bool) -> Reply:
    """Echo the last user message: answer = "Echo: <message without markers>".

    `[[tokens:N]]` makes the answer exactly N tokens ("Echo:" then " wK" words) for load tests."""
    user = last_user_message(message)
    flags = {m: m in user for m in MARKERS}
    count_match = _TOKENS_MARKER.search(user)
    clean = user
    for marker in MARKERS:
        clean = clean.replace(marker, "")
    clean = re.sub(r"[ \t]{2,}", " ", _TOOLFORM_MARKER.sub("", _TOKENS_MARKER.sub("", clean))).strip()
    drawing = clean.startswith("Drawing:")
    reply = Reply(prompt=clean, render=flags["[[render]]"], artifact=flags["[[artifact]]"],
                  tool=flags["[[tool]]"], moderated=flags["[[moderated]]"], drawing=drawing,
                  image=flags["[[image]]"] or bool(re.match(r"(draw|generate an image)\b", clean, re.I)))
    if count_match:
        n = max(1, int(count_match.group(1)))
        reply.answer = ["Echo:"] + [f" w{i}" for i in range(1, n)]
    else:
        reply.answer = split_tokens(f"Echo: {clean}" if clean else "Echo:")
    tool_text = tool_answer(message)
    if tool_text is not None:
        reply.answer = split_tokens(tool_text)
    if reply.artifact:
        reply.answer.append("\n" + ARTIFACT)
    if thinking:
        reply.thinking = ["Thinking about the request", f" The user wrote {len(clean)} characters."]
    return reply


def title_for(prompt: str) -> str:
    words = prompt.split()[:4]
    return " ".join(words).title() if words else "New Conversation"
