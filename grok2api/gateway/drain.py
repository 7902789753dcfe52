"""Shutdown's deadline for in-flight requests (set when SIGTERM starts the drain)."""

from __future__ import annotations

import time

from aiohttp import web

from ..errors import ServiceUnavailable
from ..keys import DRAIN, LIVE_SETTINGS


class Drain:
    """Shutdown's deadline for in-flight streams: they end with an error event just before the
    server's drain timeout, instead of being cut mid-frame when aiohttp closes the connection."""

    MARGIN = 0.5  # seconds left to write the error event and [DONE]

    def __init__(self) -> None:
        self.deadline = float("inf")

    @property
    def active(self) -> bool:
        """Shutdown has begun: requests cut from here on are the server's doing, not the client's."""
        return self.deadline != float("inf")

    def begin(self, timeout: float) -> None:
        self.deadline = time.monotonic() + max(0.0, timeout - self.MARGIN)

    def check(self) -> None:
        if time.monotonic() >= self.deadline:
            raise ServiceUnavailable("the server is shutting down; retry the request",
                                     code="server_shutting_down")


async def begin_drain(app: web.Application) -> None:
    """on_shutdown: start the deadline (server.drain_timeout) of the streams still running."""
    app[DRAIN].begin(app[LIVE_SETTINGS].current.server.drain_timeout)
