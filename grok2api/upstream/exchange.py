"""One upstream exchange as the transport saw it (request, answer, stream frames with timing, outcome), for taps.

A tap is any callable taking the finished Exchange; the transport calls every tap once per exchange
(each attempt of a retried call is its own exchange). Taps must not block or raise: the capture
hands the work to a thread, the health view only counts. With no tap installed the transport
builds no Exchange at all; the request body, stream lines and WebSocket frames are kept only while
a tap says `wants_frames` (the capture when it is on), so counting taps cost no memory per frame and
no copy of a request for the life of its stream.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import UpstreamError

KINDS = ("http", "stream", "ws")
# The upstream steps the health view counts (issue 16): every exchange belongs to one of them.
STEPS = ("chat_mgw", "chat_rest", "imagine", "media_rest", "rate_limits", "session", "other")
STEP_LABELS = {
    "chat_mgw": "Chat (mgw WebSocket)", "chat_rest": "Chat (REST)", "imagine": "Imagine WebSocket",
    "media_rest": "Media (REST)", "rate_limits": "Rate limits", "session": "Session", "other": "Other calls",
}
_CHAT_PATHS = ("/rest/app-chat/conversations/new", "/responses")
_MEDIA_PATHS = ("/rest/media/post/create", "/rest/media/post/create-link", "/rest/media/video/upscale")


@dataclass(slots=True)
class Frame:
    """One stream line or WebSocket text frame; `t` is seconds since the exchange started."""

    t: float
    dir: str  # "send" (to grok.com) or "recv"
    text: str


@dataclass(slots=True)
class Exchange:
    """Everything one call sent and received. Secrets are still in it: only taps see it, and the
    capture redacts before anything is written."""

    kind: str  # http | stream | ws
    method: str
    url: str
    egress: str  # the proxy URL ("" = direct); never written as is
    request_headers: dict[str, str]
    request_json: Any = None
    request_bytes: bytes = b""
    request_multipart: bool = False
    started_at: float = field(default_factory=time.time)
    status: int = 0  # 0 = no answer (network failure)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    latency: float = 0.0  # seconds until the answer's headers
    frames: list[Frame] = field(default_factory=list)
    outcome: str = "ok"  # ok | an ErrorKind value | cancelled | internal
    error_message: str = ""
    duration: float = 0.0
    closed_by: str = ""  # WebSocket: "server" when grok.com closed it, else "client"
    keep_frames: bool = True
    _t0: float = field(default_factory=time.perf_counter)
    # From the request, once: a transport that keeps no body for its taps still knows the step.
    _step: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._step = step_of(self.kind, self.path, self.request_json)

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def add_frame(self, direction: str, text: str) -> None:
        if self.keep_frames:
            self.frames.append(Frame(round(self.elapsed(), 4), direction, text))

    def answered(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.status = status
        if self.keep_frames:  # counting taps read the status only: nothing more held for a stream's life
            self.response_headers = headers
            self.response_body = body
        self.latency = round(self.elapsed(), 4)

    def finish(self, error: BaseException | None) -> None:
        """Note how it ended: no error, a classified UpstreamError, a cancellation or a bug."""
        self.duration = round(self.elapsed(), 4)
        if error is None:
            self.outcome, self.error_message = "ok", ""
        elif isinstance(error, UpstreamError):
            self.outcome, self.error_message = error.kind.value, error.message
        elif isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            self.outcome, self.error_message = "cancelled", ""
        else:
            self.outcome, self.error_message = "internal", f"{type(error).__name__}: {error}"[:300]

    @property
    def path(self) -> str:
        return _path_of(self.url)

    @property
    def step(self) -> str:
        return self._step


Tap = Callable[[Exchange], None]


@functools.lru_cache(maxsize=256)  # every chat calls the same few URLs
def _path_of(url: str) -> str:
    return urlsplit(url).path


def wants_frames(tap: Tap) -> bool:
    """A tap without a `wants_frames` attribute gets the frames."""
    return bool(getattr(tap, "wants_frames", True))


def step_of(kind: str, path: str, body: Any = None) -> str:
    """Which upstream step an exchange belongs to (paths are matched by suffix: grok_url may carry a prefix)."""
    if kind == "ws":
        if "/ws/mgw" in path:
            return "chat_mgw"
        if "/ws/imagine/" in path:
            return "imagine"
        return "other"
    if path.endswith("/api/auth/session"):
        return "session"
    if path.endswith("/rest/rate-limits"):
        return "rate_limits"
    if path.endswith(_MEDIA_PATHS):
        return "media_rest"
    if path.endswith(_CHAT_PATHS) and "/rest/app-chat/conversations/" in path:
        return "media_rest" if is_media_body(body) else "chat_rest"
    return "other"


def is_media_body(body: Any) -> bool:
    """A conversations/new body that asks for media (G4 mediaGenInput, a G1/G2 modelMap, a video tool)."""
    if not isinstance(body, dict):
        return False
    tools = body.get("toolOverrides")
    return bool(body.get("mediaGenInput") or body.get("modelMap")
                or (isinstance(tools, dict) and tools.get("videoGen")))
