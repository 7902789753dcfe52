"""FakeConfig: the tunables of the simulated grok.com (pacing, wrappers, public origins)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

RESPONSES_WRAPPERS = ("flat", "wrapped")


@dataclass(slots=True)
class FakeConfig:
    """Global behaviour of a fakegrok app; every field can also be changed via `/_fake/config`."""

    first_frame_delay: float = 0.0  # seconds before the first streamed frame / event
    token_interval: float = 0.0  # seconds between streamed token frames (0: one write)
    responses_wrapper: str = "flat"  # `/responses` frames: "flat" result.* or "wrapped" result.response.*
    ndjson_prefix: str = ""  # e.g. "data: " to prove a client tolerates SSE-style lines
    statsig_strict: bool = False  # reject x-statsig-id that does not decode to 70 bytes (anti-bot 403)
    stall_seconds: float = 30.0  # how long "stall" and "imagine_no_final" scenarios stay silent
    rate_limit_wait: int = 30  # Retry-After / waitTimeSeconds of the rate_limited scenario
    record_limit: int = 2000  # how many received requests `/_fake/requests` keeps
    assets_origin: str = "https://assets.grok.com"  # absolute asset URLs (upscale hdMediaUrl)
    imagine_origin: str = "https://imagine-public.x.ai"  # Imagine WS image URLs
    livekit_url: str = "wss://livekit.grok.com"
    images_per_edit_legacy: int = 2  # images per G1/G2 image-edit call (§6.1: 2)
    max_body_bytes: int = 96 * 1024 * 1024

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, type-checked against the defaults; raises ValueError."""
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown config field {key!r}")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a boolean")
            elif isinstance(current, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{key} must be a non-negative number")
                value = float(value)
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
            elif isinstance(current, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            if key == "responses_wrapper" and value not in RESPONSES_WRAPPERS:
                raise ValueError(f"responses_wrapper must be one of {RESPONSES_WRAPPERS}")
            setattr(self, key, value)

    def copy(self) -> FakeConfig:
        return dataclasses.replace(self)
