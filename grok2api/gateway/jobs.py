"""Neutral jobs the API surfaces hand to the gateway (no OpenAI or Grok wire shapes here)."""

from __future__ import annotations

import contextlib
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True, weakref_slot=True)
class Attachment:
    """A file the client sent (already fetched and size-checked); uploaded to the chosen account.

    A large one lives in a temporary file (`path`) instead of memory; the file is deleted when the
    attachment is dropped (the request or job that held it ended), so nothing lingers."""

    data: bytes  # b"" when the bytes are in `path`
    mime: str
    name: str
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.path is not None:
            weakref.finalize(self, _unlink, str(self.path))

    @property
    def source(self) -> bytes | Path:
        """What an upload sends: the bytes, or the file that holds them."""
        return self.path if self.path is not None else self.data

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.data)

    def head(self, n: int) -> bytes:
        """The first n bytes (magic numbers)."""
        if self.path is None:
            return self.data[:n]
        with self.path.open("rb") as fh:
            return fh.read(n)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@dataclass(slots=True)
class Message:
    """One conversation turn with its text already flattened from content parts."""

    role: str  # system | user | assistant | tool (developer is mapped to system)
    text: str
    name: str = ""  # tool name for role=tool, when known


@dataclass(slots=True)
class CallContext:
    """Who asked: for the request log, stats and per-key policy."""

    request_id: str = ""
    # Set once the gateway recorded this call (stats, request log), so the edge does not record it again.
    recorded: bool = False
    key_id: str = ""
    key_name: str = ""
    client_ip: str = ""
    path: str = ""
    stream: bool = False


@dataclass(slots=True)
class VideoOptions:
    """The seed's `video_config` for video models used through chat."""

    aspect_ratio: str = "16:9"
    seconds: int = 6
    resolution: str = "480p"
    preset: str = "normal"


@dataclass(slots=True)
class ChatJob:
    model: str
    messages: list[Message]
    attachments: list[Attachment] = field(default_factory=list)
    thinking: bool = True  # whether reasoning is wanted (affects the upstream request only)
    stream: bool = True
    ctx: CallContext = field(default_factory=CallContext)
    video: VideoOptions | None = None


@dataclass(slots=True)
class ImageJob:
    model: str
    prompt: str
    n: int = 1
    aspect_ratio: str = "1:1"
    ctx: CallContext = field(default_factory=CallContext)


@dataclass(slots=True)
class EditJob:
    model: str
    prompt: str
    images: list[Attachment]
    n: int = 1
    ctx: CallContext = field(default_factory=CallContext)


@dataclass(slots=True)
class VideoJob:
    model: str
    prompt: str
    aspect_ratio: str = "16:9"
    seconds: int = 6
    resolution: str = "480p"
    preset: str = "normal"
    image: Attachment | None = None
    ctx: CallContext = field(default_factory=CallContext)
