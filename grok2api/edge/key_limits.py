"""Per-key limits (requests per minute, daily quota, concurrency), counted in storage so that every
worker and host shares one count and a restart forgets nothing.

- rpm: a moving window. Each request holds a slot of `rpm:<key id>` for 60 s; a request finding all
  `rpm` slots held is refused until the oldest one frees (Retry-After says when).
- daily quota: a counter per key and UTC day (`day:<key id>:<date>`), kept until the day is over.
- concurrency: a slot of `conc:<key id>` held for the request's duration and dropped at its end; a
  slot older than LEASE_TTL_SEC (a crashed worker's) frees itself.

Each is one atomic storage operation (SQL row lock or transaction, Redis Lua), exactly like account
reservations. When storage fails the limits fail open with a warning: a database blip must not turn
into an outage of the whole API (the request fails later anyway if storage stays down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from ..errors import RateLimited
from ..storage.base import ApiKeyRecord, Storage, StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")

WINDOW_SEC = 60.0
DAY_SEC = 86400
LEASE_TTL_SEC = 1800.0  # a concurrency slot older than this is a crashed worker's: it frees itself
WARN_EVERY_SEC = 30.0


class KeyLimits:
    """The per-key limits of managed API keys over the shared storage."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.clock = clock
        self._last_warning = float("-inf")

    async def _guard(self, op: Awaitable[T], open_value: T) -> T:
        try:
            return await op
        except StorageError as exc:
            now = time.monotonic()
            if now - self._last_warning > WARN_EVERY_SEC:
                self._last_warning = now
                log.warning("per-key limits not enforced, storage unavailable: %s", exc)
            return open_value

    async def check(self, key: ApiKeyRecord) -> None:
        """Requests per minute, then the daily quota (raises RateLimited)."""
        now = self.clock()
        if key.rpm > 0:
            wait = await self._guard(self.storage.take_slot(
                f"rpm:{key.id}", secrets.token_hex(8), key.rpm, now + WINDOW_SEC), None)
            if wait is not None:
                raise RateLimited(f"Rate limit reached for API key `{key.name}`: {key.rpm} requests per minute. "
                                  f"Please retry after {max(1, math.ceil(wait))} seconds.", retry_after=max(1.0, wait))
        if key.daily_quota > 0:
            today = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
            midnight = (now // DAY_SEC + 1) * DAY_SEC
            # Kept an hour past midnight, so a host whose clock runs a little late still sees it.
            within = await self._guard(self.storage.hit_counter(
                f"day:{key.id}:{today}", key.daily_quota, midnight + 3600), True)
            if not within:
                raise RateLimited(f"Daily request quota of API key `{key.name}` ({key.daily_quota}) is used up; "
                                  "it resets at 00:00 UTC.", retry_after=midnight - now,
                                  code="daily_quota_exceeded")

    @contextlib.asynccontextmanager
    async def slot(self, key: ApiKeyRecord) -> AsyncIterator[None]:
        """Hold one of the key's `max_concurrent` slots for the duration of the request."""
        if key.max_concurrent <= 0:
            yield
            return
        name, lease = f"conc:{key.id}", secrets.token_hex(8)
        wait = await self._guard(self.storage.take_slot(name, lease, key.max_concurrent,
                                                        self.clock() + LEASE_TTL_SEC), None)
        if wait is not None:
            raise RateLimited(f"Too many concurrent requests for API key `{key.name}` "
                              f"(at most {key.max_concurrent} at a time).", retry_after=1.0,
                              code="concurrency_limit_exceeded")
        try:
            yield
        finally:
            # Shielded: a request cancelled again meanwhile (client gone, shutdown) still frees its slot.
            await asyncio.shield(self._guard(self.storage.drop_slot(name, lease), None))
