"""Shutdown's deadline for in-flight requests (set when SIGTERM starts the drain)."""

from __future__ import annotations

import time

from ..errors import ServiceUnavailable


class Drain:
    """Shutdown's deadline for in-flight streams: they end with an error event just before the
    server's drain timeout, instead of being cut mid-frame when aiohttp closes the connection."""

    MARGIN = 0.5  # seconds left to write the error event and [DONE]

    def __init__(self) -> None:
        self.deadline = float("inf")

    def begin(self, timeout: float) -> None:
        self.deadline = time.monotonic() + max(0.0, timeout - self.MARGIN)

    def check(self) -> None:
        if time.monotonic() >= self.deadline:
            raise ServiceUnavailable("the server is shutting down; retry the request",
                                     code="server_shutting_down")
