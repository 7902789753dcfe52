"""Turns the gateway's neutral events into assistant text: content and reasoning pieces.

One renderer serves streaming and non-streaming answers, so both produce the same text and
the same usage. Decisions:
- Reasoning goes to `reasoning_content`, or inside `<think>…</think>` at the start of content
  (`think_tags`), or nowhere when hidden; hidden reasoning still counts as reasoning tokens.
- Image/video progress is shown on the reasoning channel ("Generating image 1: 40%"), in
  streams only: it is status, not answer, so it never pollutes `content` (which then holds
  only the links) and clients already render reasoning as a collapsible "thinking" area.
  When reasoning is hidden, progress is hidden too; keepalives still flow.
- Finished media are appended to content per `app.image_format` / `app.video_format`.
  A moderated result is left out; if nothing else was produced the finish reason is
  `content_filter`.
- `max_tokens` is honoured on text with the token estimate: the text is cut at the budget
  and the finish reason is `length`. Media links are never cut.
- With declared tools, answer text passes through a ToolSieve: tool-call blocks become TOOL
  pieces (a ToolCall each) and the finish reason is `tool_calls`; other text is untouched.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from ..media.cache import MediaCache
from ..upstream.events import (
    Done,
    Event,
    ImageProgress,
    ImageReady,
    ReasoningDelta,
    TextDelta,
    Usage,
    VideoProgress,
    VideoReady,
)
from .tagfilter import TagFilter
from .tokens import TokenCounter, fit_prefix
from .tools import ToolCall, ToolSpec
from .toolsieve import ToolSieve

CONTENT = "content"
REASONING = "reasoning"
TOOL = "tool"
Piece = tuple[str, Any]  # (CONTENT | REASONING, text) or (TOOL, ToolCall)


class MediaLinks:
    """How finished media appear in an answer."""

    def __init__(self, media: MediaCache, app_url: str, image_format: str, video_format: str) -> None:
        self.media = media
        self.base = app_url.rstrip("/")
        self.image_format = image_format
        self.video_format = video_format

    def url(self, kind: str, name: str) -> str:
        return f"{self.base}/v1/files/{kind}/{name}"

    async def image(self, event: ImageReady) -> str:
        name = event.local
        if not name and event.data:
            name = await self.media.store("image", event.data, event.mime)
        if not name:
            return ""
        if self.image_format == "base64":
            data = await self.media.read("image", name)
            return f"![image](data:{self.media.mime('image', name)};base64,{base64.b64encode(data).decode()})"
        return f"![image]({self.url('image', name)})"

    def video(self, event: VideoReady) -> str:
        if not event.local:
            return ""
        url = self.url("video", event.local)
        if self.video_format == "url":
            return url
        return f'<video src="{html.escape(url)}" controls="controls"></video>'


class CompletionRenderer:
    def __init__(self, *, links: MediaLinks, filter_tags: list[str], show_reasoning: bool,
                 think_tags: bool, progress: bool, max_tokens: int | None,
                 tools: list[ToolSpec] | None = None) -> None:
        self.links = links
        self.show_reasoning = show_reasoning
        self.think_tags = think_tags
        self.progress = progress and show_reasoning
        self.max_tokens = max_tokens
        self.content_filter = TagFilter(filter_tags)
        self.reasoning_filter = TagFilter(filter_tags)
        self.content_tokens = TokenCounter()
        self.reasoning_tokens = TokenCounter()
        self.sieve = ToolSieve(tools) if tools else None
        self.tool_calls: list[ToolCall] = []
        self.upstream_usage: Usage | None = None
        self.truncated = False
        self.done = False
        self._think_open = False
        self._has_content = False
        self._media_shown = 0
        self._moderated = 0
        self._progress_seen: dict[tuple[str, int], int] = {}

    # -- events ----------------------------------------------------------------
    async def feed(self, event: Event) -> list[Piece]:
        if isinstance(event, TextDelta):
            return self._text(self.content_filter.feed(event.text))
        if isinstance(event, ReasoningDelta):
            return self._reasoning(self.reasoning_filter.feed(event.text))
        if isinstance(event, ImageProgress):
            return self._progress("image", event.slot, event.percent)
        if isinstance(event, VideoProgress):
            return self._progress("video", 0, event.percent)
        if isinstance(event, ImageReady):
            if event.moderated:
                self._moderated += 1
                return []
            return self._media(await self.links.image(event))
        if isinstance(event, VideoReady):
            if event.moderated:
                self._moderated += 1
                return []
            markup = self.links.video(event)
            return self._media(f"{markup}\n\n_{event.note}_" if markup and event.note else markup)
        if isinstance(event, Usage):
            self.upstream_usage = event
        elif isinstance(event, Done):
            self.done = True
        return []

    def finish(self) -> list[Piece]:
        pieces = self._reasoning(self.reasoning_filter.flush()) if not self.truncated else []
        if not self.truncated:
            pieces += self._text(self.content_filter.flush())
            if self.sieve is not None:
                pieces += self._sifted(self.sieve.flush())
        if self._think_open:
            self._think_open = False
            pieces.append((CONTENT, "\n</think>\n\n"))
        return pieces

    @property
    def finish_reason(self) -> str:
        if self.truncated:
            return "length"
        if self.tool_calls:
            return "tool_calls"
        if self._moderated and not self._media_shown and not self._has_content:
            return "content_filter"
        return "stop"

    def usage(self, prompt_tokens: int) -> dict[str, Any]:
        reasoning = self.reasoning_tokens.tokens
        completion = self.content_tokens.tokens + reasoning
        if self.upstream_usage is not None:
            prompt_tokens = self.upstream_usage.prompt_tokens
            completion = self.upstream_usage.completion_tokens
            reasoning = min(reasoning, completion)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }

    # -- channels ------------------------------------------------------------------
    def _budget(self, text: str, counter: TokenCounter) -> str:
        """The part of `text` that fits in max_tokens (counting both channels); sets truncated."""
        if self.truncated:
            return ""
        if self.max_tokens is None or not text:
            return text
        others = self.content_tokens.tokens + self.reasoning_tokens.tokens - counter.tokens
        fitted = fit_prefix(text, self.max_tokens - others, counter)
        if fitted != text:
            self.truncated = True
        return fitted

    def _text(self, text: str) -> list[Piece]:
        if self.sieve is not None and text:
            return self._sifted(self.sieve.feed(text))
        return self._plain(text)

    def _sifted(self, items: list[str | ToolCall]) -> list[Piece]:
        pieces: list[Piece] = []
        for item in items:
            if isinstance(item, str):
                pieces += self._plain(item)
            elif not self.truncated:
                self.tool_calls.append(item)
                self.content_tokens.add(item.name + (item.input or item.arguments))
                if self._think_open:
                    self._think_open = False
                    pieces.append((CONTENT, "\n</think>\n\n"))
                pieces.append((TOOL, item))
        return pieces

    def _plain(self, text: str) -> list[Piece]:
        text = self._budget(text, self.content_tokens)
        if not text:
            return []
        self.content_tokens.add(text)
        self._has_content = True
        return self._content(text)

    def _content(self, text: str) -> list[Piece]:
        pieces: list[Piece] = []
        if self._think_open:
            self._think_open = False
            pieces.append((CONTENT, "\n</think>\n\n"))
        pieces.append((CONTENT, text))
        return pieces

    def _reasoning(self, text: str) -> list[Piece]:
        text = self._budget(text, self.reasoning_tokens)
        if not text:
            return []
        self.reasoning_tokens.add(text)
        return self._show_reasoning(text)

    def _show_reasoning(self, text: str) -> list[Piece]:
        if not self.show_reasoning:
            return []
        if not self.think_tags:
            return [(REASONING, text)]
        if self._has_content or self._media_shown:
            return []  # reasoning after the answer began cannot go back inside <think>
        if not self._think_open:
            self._think_open = True
            return [(CONTENT, "<think>\n"), (CONTENT, text)]
        return [(CONTENT, text)]

    def _progress(self, kind: str, slot: int, percent: int) -> list[Piece]:
        if not self.progress or self._progress_seen.get((kind, slot)) == percent:
            return []
        self._progress_seen[(kind, slot)] = percent
        label = f"Generating image {slot + 1}" if kind == "image" else "Generating video"
        return self._show_reasoning(f"{label}: {percent}%\n")

    def _media(self, markup: str) -> list[Piece]:
        if not markup:
            return []
        self._media_shown += 1
        text = ("\n\n" if self._has_content else "") + markup + "\n"
        self.content_tokens.add(text)
        pieces = self._content(text)
        self._has_content = True
        return pieces
