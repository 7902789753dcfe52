"""Neutral events the upstream dialects yield; API surfaces render them for their clients."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ImageProgress:
    slot: int  # which of the n images
    percent: int
    stage: str = ""  # "preview" | "medium" | "final" (Imagine) or "" (chat)
    preview: bytes = b""  # the unfinished image, when the upstream sent one (Imagine's preview / medium)
    mime: str = ""


@dataclass(slots=True)
class ImageReady:
    slot: int
    url: str = ""  # upstream asset URL (needs the account's cookie to download)
    data: bytes = b""  # image bytes when the upstream sent them inline (Imagine WS)
    mime: str = "image/jpeg"
    moderated: bool = False
    local: str = ""  # file name in the local media cache, filled by the gateway


@dataclass(slots=True)
class VideoProgress:
    percent: int


@dataclass(slots=True)
class VideoReady:
    url: str
    thumbnail_url: str = ""
    video_id: str = ""
    resolution: str = ""
    moderated: bool = False
    local: str = ""  # file name in the local media cache, filled by the gateway
    seconds: int = 0  # the length made, when it differs from the one asked for (0 = as asked)
    note: str = ""  # why the video differs from the request, for the client


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class Dispatched:
    """The request grok.com counts against the account's quota is about to leave (the REST POST, the
    mgw `response.create`, the Imagine request). From here on the unit is spent whatever happens next;
    the gateway consumes this marker and never shows it to a client."""


@dataclass(slots=True)
class Done:
    """The upstream finished normally. `meta` carries ids such as conversationId/responseId."""

    meta: dict[str, str] = field(default_factory=dict)


Event = (TextDelta | ReasoningDelta | ImageProgress | ImageReady | VideoProgress | VideoReady | Usage | Done
         | Dispatched)
