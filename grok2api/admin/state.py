"""The admin's own state (sessions, throttle, batch jobs, imagine runs) and its request keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from ..storage.base import Storage
from .auth import LoginThrottle, PasswordChecker, Session, SessionSigner, load_signer
from .batch import BatchManager


@dataclass(eq=False)
class AdminState:
    """One per application (worker); lives under ADMIN_STATE on the main app."""

    storage: Storage
    password: PasswordChecker = field(default_factory=PasswordChecker)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    batches: BatchManager = field(init=False)
    _signer: SessionSigner | None = None
    _signer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.batches = BatchManager(self.storage)

    async def signer(self) -> SessionSigner:
        """Loaded lazily on first use: storage opens after the app is built."""
        if self._signer is None:
            async with self._signer_lock:
                if self._signer is None:
                    self._signer = await load_signer(self.storage)
        return self._signer

    def reset_signer(self) -> None:
        self._signer = None


ADMIN_STATE: web.AppKey[AdminState] = web.AppKey("admin_state", AdminState)
# Both admin sub-apps (pages and JSON API) are registered under these names on the main app.
PAGES_APP: web.AppKey[web.Application] = web.AppKey("admin_pages_app", web.Application)
API_APP: web.AppKey[web.Application] = web.AppKey("admin_api_app", web.Application)

SESSION: web.RequestKey[Session | None] = web.RequestKey("admin_session")
CSRF_TOKEN: web.RequestKey[str] = web.RequestKey("admin_csrf")
# An extra origin the page may connect to (the voice page's LiveKit server), added to the CSP.
CSP_CONNECT: web.RequestKey[str] = web.RequestKey("admin_csp_connect", str)
