"""What the gateway taps off its upstream client: upstream health per step, and transcript capture when switched on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config.settings import Settings
from ..stats.upstream_health import UpstreamHealth
from ..upstream.capture import CaptureOptions
from ..upstream.exchange import Exchange
from ..upstream.redact import Redactor


class HealthTap:
    """Counts each exchange under its step; failures keep their error text, redacted."""

    wants_frames = False

    def __init__(self, health: UpstreamHealth, redactor: Redactor | None = None) -> None:
        self.health = health
        self.redactor = redactor or Redactor()

    def __call__(self, ex: Exchange) -> None:
        error = ""
        if ex.outcome != "ok":
            text = self.redactor.error_text(ex.request_headers, ex.url, ex.error_message)
            error = f"{ex.status} {text}" if ex.status else text
        self.health.note(ex.step, ex.outcome, error[:300])


def capture_options(settings: Callable[[], Settings]) -> Callable[[], CaptureOptions]:
    """`capture.*` of the live settings as the capture reads them, for every exchange (twice: whether
    it wants frames, then the exchange). Settings are frozen and replaced whole when they change, so
    the options are built again only for new ones (a path join per exchange showed in profiles)."""
    seen: list[tuple[Settings, CaptureOptions]] = []

    def read() -> CaptureOptions:
        s = settings()
        if seen and seen[0][0] is s:
            return seen[0][1]
        c = s.capture
        options = CaptureOptions(enabled=c.enabled, directory=c.dir or str(Path(s.server.data_dir) / "transcripts"),
                                 max_bytes=c.max_mb * 1024 * 1024, max_age=c.max_age_hours * 3600,
                                 max_body=c.max_body_kb * 1024)
        seen[:] = [(s, options)]
        return options

    return read
