"""The per-client-IP rate limits (per-key limits live in storage: edge/key_limits.py).

Built on the `limits` library. One worker uses its async in-memory storage; with
SERVER_STORAGE_TYPE=redis every worker and host shares the counters in Redis, so the limits
hold for the whole deployment, not per worker.

Token bucket → moving window. `limits` has no token bucket; a moving window of B requests per
W = B·60/R seconds is its equivalent for our purpose: never more than B (the burst) in any W
seconds, and R per minute in the long run. W is rounded to whole seconds (limits' smallest
granularity), raising B to R·W/60 when needed, so the effective burst is at least R/60.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.storage import Storage as LimitsStorage
from limits.aio.strategies import MovingWindowRateLimiter

from ..config.settings import SecuritySection
from ..errors import ApiError, RateLimited
from ..keys import API_KEY, BODY_MODEL, CALL_CONTEXT, LIMITER, LIVE_SETTINGS, RECORDER, REQUEST_ID, STARTED_AT_REQ
from ..stats.recorder import RequestRecord
from .body import parse_json

log = logging.getLogger(__name__)

REDIS_PREFIX = "grok2api:limits"


# ---------------------------------------------------------------- limiter


def bucket_item(per_minute: int, burst: int) -> RateLimitItem:
    """The moving-window item equivalent to a token bucket (see the module docstring)."""
    burst = burst if burst > 0 else per_minute
    window = max(1, round(burst * 60 / per_minute))
    amount = max(burst, math.ceil(per_minute * window / 60))
    return RateLimitItemPerSecond(amount, window)


class Limiter:
    """The per-IP limits over one `limits` storage (memory, or Redis shared by all)."""

    def __init__(self, storage_type: str = "memory", storage_url: str = "", *, exempt: tuple[str, ...] = ()) -> None:
        self.shared = storage_type == "redis"
        # Path prefixes the per-IP API limit never applies to, whatever the settings say: areas with a
        # limit of their own (the admin) and the demo's mounted fake (the gateway's own upstream calls).
        self.exempt = exempt
        self._url = storage_url
        self._pool: Any = None
        self.storage: LimitsStorage
        if self.shared:
            # An optional storage driver, like storage's: a SQLite deployment never pays its import.
            from redis.asyncio import ConnectionPool

            self._pool = ConnectionPool.from_url(storage_url, max_connections=64)
            self.storage = RedisStorage(_async_uri(storage_url), implementation="redispy",
                                        key_prefix=REDIS_PREFIX, connection_pool=self._pool)
        else:
            self.storage = MemoryStorage()
        self.window = MovingWindowRateLimiter(self.storage)
        self._last_warning = 0.0

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def reset(self) -> None:
        """Forget every counter (tests)."""
        await self.storage.reset()

    async def _hit(self, limiter: Any, item: RateLimitItem, *ids: str) -> float | None:
        """None when allowed, else the seconds until a request would be.

        Fails open: if the limit storage (Redis) is unreachable the request is let through and
        a warning logged, so a Redis blip does not turn into an outage of the whole API."""
        try:
            if await limiter.hit(item, *ids):
                return None
            stats = await limiter.get_window_stats(item, *ids)
        except Exception as exc:  # noqa: BLE001 - any storage failure
            self._storage_failed(exc)
            return None
        return max(1.0, stats.reset_time - time.time())

    def _storage_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning > 30:
            self._last_warning = now
            log.warning("rate-limit storage unavailable, limits not enforced: %s: %s", type(exc).__name__, exc)

    async def check_ip(self, ip: str, per_minute: int, burst: int, *, scope: str = "ip") -> None:
        """One request from `ip` against its bucket in `scope` ("ip" for the API, "admin" for the admin's
        own limit: separate counters, so API traffic never uses up the operator's budget)."""
        if per_minute <= 0:
            return
        wait = await self._hit(self.window, bucket_item(per_minute, burst), scope, ip)
        if wait is not None:
            raise RateLimited(f"Rate limit reached for your IP address ({per_minute} requests per minute). "
                              f"Please retry after {math.ceil(wait)} seconds.", retry_after=wait)


def _async_uri(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"async+{scheme}{sep}{rest}" if not scheme.startswith("async+") else url



# A refused request's body is read for its `model` only when the handler already read it or it is
# small JSON: never for an unauthenticated, too large or rate-limited request.
_BODY_UNREAD_STATUSES = frozenset({401, 413, 429})
_MODEL_PEEK_BYTES = 1024 * 1024


# ---------------------------------------------------------------- admission (applied by edge/chain.py)


def _exempt(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") or (p.endswith("/") and path.startswith(p))
               for p in prefixes if p)


async def admit(request: web.Request, ip: str, s: SecuritySection, limiter: Limiter) -> None:
    """Raises RateLimited when `ip` is over its per-IP limit; everything not exempt counts, OPTIONS aside."""
    if (s.rate_limit_enabled and request.method != "OPTIONS" and not _exempt(request.path, s.rate_limit_exempt_paths)
            and not _exempt(request.path, limiter.exempt)):
        await limiter.check_ip(ip, s.rate_limit_per_minute, s.rate_limit_burst)


async def note_refusal(request: web.Request, ip: str, exc: ApiError) -> None:
    """A refused API request goes to the stats once; a failure of a call the gateway made is in its
    own record already (CALL_CONTEXT)."""
    call = request.get(CALL_CONTEXT)
    if not exc.recorded and request.path.startswith("/v1/") and (call is None or not call.recorded):
        exc.recorded = True
        await _record_rejection(request, ip, exc)


async def _requested_model(request: web.Request, status: int) -> str:
    """The `model` a refused JSON request named (an unknown model is worth seeing in the log)."""
    read = request.get(BODY_MODEL)
    if read is not None:
        return read  # the handler read the body, which is not kept: what it named was noted then
    if (status in _BODY_UNREAD_STATUSES or request.content_type != "application/json"
            or (request.content_length or 0) > _MODEL_PEEK_BYTES):
        return ""
    try:  # refused before any handler read it; the checked parse (a hostile body is refused)
        body = parse_json(await request.read())
    except (ApiError, web.HTTPException, ConnectionError):
        return ""
    model = body.get("model") if isinstance(body, dict) else None
    return model[:100] if isinstance(model, str) else ""


async def _record_rejection(request: web.Request, ip: str, exc: ApiError) -> None:
    """Every refused API request is one log line with its reason: bad JSON, an unknown model, `n > 1`,
    a missing key, a limit... (the gateway records the failures of calls it made itself)."""
    recorder = request.app.get(RECORDER)
    if recorder is None:
        return
    key = request.get(API_KEY)
    started = request.get(STARTED_AT_REQ)
    latency = (time.perf_counter() - started) * 1000 if started else 0.0
    model = await _requested_model(request, exc.status)
    with contextlib.suppress(Exception):
        recorder.record(RequestRecord(
            ts=time.time(), request_id=request.get(REQUEST_ID, ""), key_name=key.name if key else "",
            model=model, stream=False, status=exc.status, error_kind=exc.code or exc.type, latency_ms=latency,
            ttft_ms=0.0, account="", client_ip=ip, path=request.path, detail=exc.message[:500]))


async def limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    """Closes the limiter's Redis connection (if any) at shutdown."""
    yield
    await app[LIMITER].close()


def provide(app: web.Application, *, exempt: tuple[str, ...] = ()) -> None:
    """Put the limiter under LIMITER (Redis-shared when storage is Redis; no I/O). `exempt`: path
    prefixes the per-IP API limit never covers (see Limiter.exempt)."""
    server = app[LIVE_SETTINGS].current.server
    kind = "redis" if server.storage_type == "redis" else "memory"
    app[LIMITER] = Limiter(kind, server.storage_url, exempt=exempt)
