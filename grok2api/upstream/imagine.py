"""Image generation over the Imagine WebSocket (§5.1): request builders, slot tracking, runner."""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .classify import classify_inband
from .errors import ErrorKind, UpstreamError
from .events import Dispatched, Done, Event, ImageProgress, ImageReady
from .headers import ws_headers
from .options import UpstreamConfig
from .transport import Call, Transport

ASPECT_RATIOS = ("auto", "1:1", "2:3", "3:2", "9:16", "16:9", "4:3", "3:4", "2:1", "1:2",
                 "19.5:9", "9:19.5", "20:9", "9:20")
MAX_IMAGES = 10
_UUID_IN_URL = re.compile(r"/images/([0-9a-fA-F-]{8,})\.(?:png|jpe?g|webp)", re.IGNORECASE)
_DATA_URI = re.compile(r"^data:(image/[\w.+-]+);base64,", re.IGNORECASE)


def build_reset(now_ms: int) -> dict[str, Any]:
    """The reset frame PY-B/GO send before each request."""
    return {"type": "conversation.item.create", "timestamp": now_ms,
            "item": {"type": "message", "content": [{"type": "reset"}]}}


def build_request(prompt: str, *, n: int, aspect_ratio: str, nsfw: bool, pro: bool, request_id: str,
                  now_ms: int) -> dict[str, Any]:
    """The generation request with GO's full property set (§5.1.1)."""
    properties = {
        "section_count": 0, "is_kids_mode": False, "enable_nsfw": nsfw, "skip_upsampler": False,
        "enable_side_by_side": True, "is_initial": False,
        "aspect_ratio": aspect_ratio if aspect_ratio in ASPECT_RATIOS else "2:3",
        "enable_pro": pro, "num_generations": max(1, min(MAX_IMAGES, n)),
    }
    return {"type": "conversation.item.create", "timestamp": now_ms,
            "item": {"type": "message", "content": [{"requestId": request_id, "text": prompt,
                                                     "type": "input_text", "properties": properties}]}}


def stage_of(url: str, blob_length: int, percentage: float | None, config: UpstreamConfig) -> str:
    """preview | medium | final: GO's progress rule where progress is given, else PY-A's size rule (§5.1.3)."""
    low = url.lower()
    if low.endswith((".jpg", ".jpeg")) or blob_length > config.image_ws_final_min_bytes:
        return "final"
    if percentage is not None and percentage >= 100:
        return "final"
    return "medium" if blob_length > config.image_ws_medium_min_bytes else "preview"


def decode_blob(blob: str) -> tuple[bytes, str]:
    """Image bytes and type from a base64 blob or data URI; (b"", "") when it is not base64."""
    mime = ""
    match = _DATA_URI.match(blob)
    if match:
        mime, blob = match.group(1).lower(), blob[match.end():]
    try:
        data = base64.b64decode(blob + "=" * (-len(blob) % 4))
    except (binascii.Error, ValueError):
        return b"", ""
    if not data:
        return b"", ""
    if not mime:
        if data.startswith(b"\xff\xd8"):
            mime = "image/jpeg"
        elif data.startswith(b"\x89PNG"):
            mime = "image/png"
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            mime = "image/webp"
        else:
            mime = "image/jpeg"
    return data, mime


@dataclass(slots=True)
class _Slot:
    index: int
    final_blob: str = ""
    final_url: str = ""
    medium_at: float = 0.0
    completed: bool = False
    moderated: bool = False
    resolved: bool = False


class ImagineParser:
    """Tracks n slots across preview/medium/final frames; a slot resolves on `completed` plus a final
    image (either order), on `completed` with `moderated:true`, or as blocked when a medium image
    never gets its final within `image_ws_blocked_seconds` (PY-A's silent-moderation heuristic)."""

    def __init__(self, n: int, config: UpstreamConfig) -> None:
        self.n = max(1, min(MAX_IMAGES, n))
        self.config = config
        self._slots: dict[str, _Slot] = {}
        self.ready = 0  # resolved slots, moderated ones included
        self.finals = 0  # resolved slots with a usable image

    @property
    def complete(self) -> bool:
        return self.ready >= self.n

    def _slot(self, image_id: str, order: Any) -> _Slot | None:
        slot = self._slots.get(image_id)
        if slot is not None:
            return slot
        taken = {s.index for s in self._slots.values()}
        if isinstance(order, int) and not isinstance(order, bool) and 0 <= order < self.n and order not in taken:
            index = order
        else:
            free = [i for i in range(self.n) if i not in taken]
            if not free:
                return None  # more images than asked for: ignore the extras
            index = free[0]
        slot = self._slots[image_id] = _Slot(index)
        return slot

    def feed(self, frame: dict[str, Any], now: float) -> list[Event]:
        """Events for one frame; an `error` frame raises its classified error."""
        kind = frame.get("type")
        if kind == "error":
            raise classify_inband({"code": frame.get("err_code"), "message": frame.get("err_msg") or frame.get("err_code")})
        url = str(frame.get("url") or "")
        image_id = str(frame.get("image_id") or frame.get("id") or frame.get("job_id") or "")
        if not image_id:
            match = _UUID_IN_URL.search(url)
            image_id = match.group(1) if match else ""
        if not image_id:
            return []
        order = frame.get("order", frame.get("side_by_side_index", frame.get("grid_index")))
        slot = self._slot(image_id, order)
        if slot is None or slot.resolved:
            return []
        events: list[Event] = []
        if kind == "json":
            if frame.get("current_status") == "completed":
                slot.completed = True
                slot.moderated = bool(frame.get("moderated"))
                if frame.get("blob") or frame.get("url"):
                    self._image(slot, frame, url, now)
        elif kind == "image":
            events += self._image(slot, frame, url, now)
        return events + self._resolve(slot)

    def _image(self, slot: _Slot, frame: dict[str, Any], url: str, now: float) -> list[Event]:
        blob = str(frame.get("blob") or "")
        raw = frame.get("percentage_complete")
        percent = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
        stage = stage_of(url, len(blob), percent, self.config)
        if stage == "final":
            slot.final_blob = blob or slot.final_blob
            slot.final_url = url or slot.final_url
        elif stage == "medium" and not slot.medium_at:
            slot.medium_at = now
        if stage == "final":
            return [ImageProgress(slot=slot.index, percent=100, stage=stage)]
        shown = int(min(percent if percent is not None else 50, 99))
        preview, mime = decode_blob(blob) if blob else (b"", "")
        return [ImageProgress(slot=slot.index, percent=shown, stage=stage, preview=preview, mime=mime)]

    def _resolve(self, slot: _Slot, *, force: bool = False) -> list[Event]:
        if slot.resolved:
            return []
        if slot.completed and slot.moderated:
            return self._done(slot, ImageReady(slot=slot.index, url=slot.final_url, moderated=True))
        if (slot.completed or force) and (slot.final_blob or slot.final_url):
            data, mime = decode_blob(slot.final_blob) if slot.final_blob else (b"", "")
            if not mime:
                mime = "image/png" if slot.final_url.lower().endswith(".png") else "image/jpeg"
            self.finals += 1
            return self._done(slot, ImageReady(slot=slot.index, url=slot.final_url, data=data, mime=mime))
        return []

    def _done(self, slot: _Slot, event: ImageReady) -> list[Event]:
        slot.resolved = True
        self.ready += 1
        return [event]

    def check_blocked(self, now: float) -> list[Event]:
        """Slots whose medium image never finalised in time count as moderated."""
        events: list[Event] = []
        for slot in self._slots.values():
            if (not slot.resolved and slot.medium_at and not slot.final_blob and not slot.final_url
                    and now - slot.medium_at >= self.config.image_ws_blocked_seconds):
                events += self._done(slot, ImageReady(slot=slot.index, moderated=True))
        return events

    def finish(self) -> list[Event]:
        """At the end: finals that never got a `completed` frame (PY-A-style servers) still count."""
        events: list[Event] = []
        for slot in sorted(self._slots.values(), key=lambda s: s.index):
            events += self._resolve(slot, force=True)
        return events


async def imagine(transport: Transport, token: str, prompt: str, *, n: int = 1, aspect_ratio: str = "2:3",
                  nsfw: bool = True, pro: bool = False, proxy: str | None = None) -> AsyncIterator[Event]:
    """Generate n images over one Imagine WebSocket; yields progress, one ImageReady per slot, Done."""
    config = transport.config
    parser = ImagineParser(n, config)
    request_id = str(uuid.uuid4())
    clock = time.monotonic
    async with transport.websocket(config.ws_url + "/ws/imagine/listen", Call(token, proxy),
                                   ws_headers(config, config.grok_url)) as ws:
        now_ms = int(time.time() * 1000)
        await ws.send(build_reset(now_ms))
        yield Dispatched()  # the socket is open: the next frame is the counted request
        await ws.send(build_request(prompt, n=n, aspect_ratio=aspect_ratio, nsfw=nsfw, pro=pro,
                                    request_id=request_id, now_ms=now_ms + 1))
        started = clock()
        deadline = started + config.timeout
        last_frame = started
        seen_any = False
        while not parser.complete:
            now = clock()
            for event in parser.check_blocked(now):
                yield event
            if parser.complete:
                break
            quiet = now - last_frame
            if parser.finals and quiet >= config.image_ws_idle_seconds:
                break  # the stragglers are not coming; deliver what we have
            limit = config.idle_timeout if seen_any else config.first_byte_timeout
            if now >= deadline or quiet >= limit:
                if parser.finals:
                    break
                raise UpstreamError(ErrorKind.TIMEOUT, "Imagine WebSocket produced no image in time")
            # Wake at least once a second so the blocked heuristic and idle cut-off can fire.
            wait = max(0.01, min(1.0, deadline - now, limit - quiet))
            try:
                frame = await ws.recv(timeout=wait)
            except UpstreamError as err:
                if err.kind is ErrorKind.TIMEOUT:
                    continue
                raise
            if frame is None:
                break
            if not isinstance(frame, dict):
                continue
            seen_any = True
            last_frame = clock()
            for event in parser.feed(frame, last_frame):
                yield event
    for event in parser.finish():
        yield event
    if not parser.ready:
        raise UpstreamError(ErrorKind.UPSTREAM, "Imagine WebSocket closed without any image")
    yield Done(meta={"requestId": request_id, "images": str(parser.finals)})
