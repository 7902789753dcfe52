"""The admin's own state (sessions, throttle, batch jobs, imagine runs) and its request keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..storage.base import Storage
from .auth import LoginThrottle, PasswordChecker, SessionSigner, load_signer
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



