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
    # grok.com's rules today (§0.2), each on by default with a switch to turn it off:
    statsig_strict: bool = True  # C1/C2: refuse e: fallbacks and values not of 70 or 72 bytes (anti-bot 403)
    statsig_verify: bool = True  # C3: a 70-byte value must be a valid signature of this page, method and path
    statsig_replay: bool = True  # C3: a value seen before on a media path gets the stale-page 403
    index_404: bool = True  # C4: GET /index answers 404 (the page still carries the meta)
    video_tier_limit: bool = True  # C6: basic accounts get 429 for videos over basic_video_max_seconds
    basic_video_max_seconds: int = 6
    edge_cookies: bool = True  # C5: the edge sets __cf_bm on a client that does not send one back
    accept_ch: str = ""  # C11: an Accept-CH header on every answer (e.g. "Sec-CH-UA-Arch"), "" = none
    # C8: the browser keeps its mgw socket (pinged every ~3 s) and starts the next conversation on it with a
    # new session.create; False = close the socket after response.done, as the first edition's clients did.
    mgw_keep_serving: bool = True
    # C13/§2.1: every call needs a cf_clearance minted for its client address and User-Agent, else the
    # challenge page (mint and revoke them with /_fake/clearance). Off by default, as for most egresses.
    cloudflare_binding: bool = False
    clearance_seconds: float = 1800.0  # lifetime of a minted cf_clearance
    stall_seconds: float = 30.0  # how long "stall" and "imagine_no_final" scenarios stay silent
    rate_limit_wait: int = 30  # Retry-After / waitTimeSeconds of the rate_limited scenario
    record_limit: int = 2000  # how many received requests `/_fake/requests` keeps
    assets_origin: str = "https://assets.grok.com"  # absolute asset URLs (upscale hdMediaUrl)
    imagine_origin: str = "https://imagine-public.x.ai"  # Imagine WS image URLs
    livekit_url: str = "wss://livekit.grok.com"
    images_per_edit_legacy: int = 2  # images per G1/G2 image-edit call (§6.1: 2)
    max_body_bytes: int = 96 * 1024 * 1024
    path_prefix: str = ""  # where the fake is mounted as a sub-app (the demo): signatures cover the path below it

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
