"""Recorded transcripts for replay: loading a directory, request shapes, and which recording answers a request.

A transcript is one JSON file per exchange (`"format": "grok2api-transcript/1"`, written by the gateway's
capture; the format is documented in the fakegrok README, and nothing here imports the gateway). A request
matches a recording when the method is the same, the path is the same (segments that look like ids match
any id-like segment, so a recorded conversation id stands for any) and the request has the same shape: the
JSON keys and value types of its body, not the values. Among matching recordings the first not yet used
answers, in recording order; when all were used, the last one answers again.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FORMAT = "grok2api-transcript/1"
# Hosts grok.com's answers name; a replayed answer points them at the replay server instead.
KNOWN_ORIGINS = ("https://grok.com", "https://assets.grok.com", "https://imagine-public.x.ai",
                 "https://imgen.x.ai", "https://accounts.x.ai", "wss://grok.com", "wss://livekit.grok.com")
_HEX_ID = re.compile(r"[0-9a-fA-F-]{16,}")


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and value types, never the values."""
    if isinstance(value, dict):
        return {str(k): shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return sorted({json.dumps(shape(v), sort_keys=True) for v in value})
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def _id_like(segment: str) -> bool:
    """A UUID or hex id, or a long token with several digits (conversation, asset, share ids)."""
    return bool(_HEX_ID.fullmatch(segment)) or (len(segment) >= 12 and sum(c.isdigit() for c in segment) >= 3)


def path_matches(recorded: str, live: str) -> bool:
    rec, got = recorded.rstrip("/").split("/"), live.rstrip("/").split("/")
    return len(rec) == len(got) and all(a == b or (_id_like(a) and _id_like(b)) for a, b in zip(rec, got))


def frame_shape(text: str) -> Any:
    try:
        return shape(json.loads(text))
    except ValueError:
        return "text"


@dataclass(slots=True)
class Recording:
    """One recorded exchange, ready to be answered again."""

    name: str
    kind: str  # http | stream | ws
    method: str
    path: str
    origin: str
    request_shape: Any
    status: int
    headers: dict[str, str]
    body: bytes
    latency: float  # seconds
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed_by: str = ""
    uses: int = 0

    @property
    def first_sent_shape(self) -> Any:
        for frame in self.frames:
            if frame.get("dir") == "send":
                return frame_shape(str(frame.get("text", "")))
        return None


def _request_shape(request: dict[str, Any]) -> Any:
    if "json" in request:
        return shape(request["json"])
    if request.get("multipart"):
        return "multipart"
    if "base64" in request or "text" in request:
        return "bytes"
    return None


def _body(response: dict[str, Any]) -> bytes:
    if "base64" in response:
        return base64.b64decode(response["base64"])
    return str(response.get("text", "")).encode()


def load(directory: Path) -> list[Recording]:
    """Every transcript file under `directory` (sub-directories too), in name order (= time order)."""
    out = []
    for path in sorted(directory.rglob("*.json"), key=lambda p: (p.name, str(p))):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            continue  # case.json and friends
        request, response = doc.get("request") or {}, doc.get("response") or {}
        url = urlsplit(str(request.get("url", "")))
        out.append(Recording(
            name=path.name, kind=str(doc.get("kind", "http")), method=str(request.get("method", "GET")).upper(),
            path=url.path or "/", origin=f"{url.scheme}://{url.netloc}", request_shape=_request_shape(request),
            status=int(response.get("status") or 0), headers=dict(response.get("headers") or {}),
            body=_body(response), latency=float(response.get("latency_ms") or 0) / 1000,
            frames=list(doc.get("frames") or []), closed_by=str(doc.get("closed_by") or "")))
    return out


class TranscriptStore:
    """The recordings of a replay directory and how often each answered."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.recordings = load(directory)
        if not self.recordings:
            raise ValueError(f"no grok2api transcript (*.json with format {FORMAT!r}) under {directory}")
        self.origins = sorted({r.origin for r in self.recordings} | set(KNOWN_ORIGINS), key=len, reverse=True)

    def candidates(self, method: str, path: str, *, websocket: bool) -> list[Recording]:
        return [r for r in self.recordings if r.method == method.upper() and (r.kind == "ws") == websocket
                and path_matches(r.path, path)]

    def pick(self, found: list[Recording]) -> Recording | None:
        """The first not yet used, else the last; counts the use."""
        if not found:
            return None
        chosen = next((r for r in found if r.uses == 0), found[-1])
        chosen.uses += 1
        return chosen

    def match(self, method: str, path: str, body_shape: Any) -> Recording | None:
        return self.pick([r for r in self.candidates(method, path, websocket=False) if r.request_shape == body_shape])

    def rewrite(self, text: str, http_origin: str) -> str:
        """Recorded hosts -> this server (http and ws forms), so the gateway's next call comes back here."""
        ws_origin = "ws" + http_origin[4:] if http_origin.startswith("http") else http_origin
        for origin in self.origins:
            if origin in text:
                target = ws_origin if origin.startswith("ws") else http_origin
                text = text.replace(origin, target)
        return text
