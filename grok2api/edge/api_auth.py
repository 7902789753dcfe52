"""API-key authentication for /v1/* (global `app.api_key` or managed keys) and the model allow-list."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ..access.api_keys import hash_key, same_secret
from ..config.settings import Settings
from ..errors import AuthenticationFailed, PermissionDenied
from ..keys import API_KEY, API_KEYS, KEY_LIMITS, LIVE_SETTINGS, STORAGE
from ..periodic import periodic
from ..storage.base import TOPIC_KEYS, ApiKeyRecord, Storage, StorageError
from .key_limits import KeyLimits

log = logging.getLogger(__name__)

# The global key as a record, so handlers and the request log treat both kinds alike.
GLOBAL_KEY = ApiKeyRecord(id="global", name="app.api_key", key_hash="", prefix="")
CACHE_TTL_SEC = 5.0
CACHE_MAX = 10_000  # bounds memory when a client sprays random keys (negative results are cached)


def presented_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key", "").strip()


def needs_key(path: str) -> bool:
    # Media links are embedded in answers and opened by browsers: their names are the secret.
    return path.startswith("/v1/") and not path.startswith("/v1/files/")


def check_key(record: ApiKeyRecord, now: float) -> None:
    if not record.enabled:
        raise AuthenticationFailed("This API key is disabled.")
    if record.expires_at and record.expires_at <= now:
        raise AuthenticationFailed("This API key has expired.")


def check_model_allowed(record: ApiKeyRecord | None, model: str) -> None:
    """403 model_not_allowed when the key has an allow-list without `model`."""
    if record is not None and record.allowed_models and model not in record.allowed_models:
        raise PermissionDenied(f"This API key is not allowed to use the model `{model}`.",
                               param="model", code="model_not_allowed")


def model_visible(record: ApiKeyRecord | None, model: str) -> bool:
    return record is None or not record.allowed_models or model in record.allowed_models


class KeyAuthenticator:
    """Looks managed keys up by hash, caching results per worker for a few seconds."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = storage
        self.clock = clock
        self._cache: dict[str, tuple[ApiKeyRecord | None, float]] = {}
        # Uses not yet written: key id -> [uses, last used at]. A write per request would put a
        # storage round trip on the hot path; the counters are flushed in batches instead.
        self._uses: dict[str, list[float]] = {}

    def note_use(self, record: ApiKeyRecord) -> None:
        """Count a request made with a managed key (use_count, last_used_at)."""
        pending = self._uses.get(record.id)
        if pending is None:
            self._uses[record.id] = [1, time.time()]
        else:
            pending[0] += 1
            pending[1] = time.time()

    async def flush_uses(self) -> None:
        """Write the batched uses; what fails to write is kept for the next flush."""
        batch, self._uses = list(self._uses.items()), {}
        for i, (key_id, (uses, at)) in enumerate(batch):
            try:
                await self.storage.touch_key(key_id, at, int(uses))
            except StorageError:
                for back_id, (back_uses, back_at) in batch[i:]:
                    pending = self._uses.setdefault(back_id, [0, back_at])
                    pending[0] += back_uses
                    pending[1] = max(pending[1], back_at)
                raise

    def invalidate(self) -> None:
        self._cache.clear()

    async def on_change(self, topic: str) -> None:
        """A ChangeWatcher listener: any change to keys drops the cache at once."""
        if topic == TOPIC_KEYS:
            self.invalidate()

    async def lookup(self, key: str) -> ApiKeyRecord | None:
        digest = hash_key(key)
        now = self.clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = await self.storage.get_key_by_hash(digest)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (record, now + CACHE_TTL_SEC)
        return record

    async def authenticate(self, key: str, global_key: str, allow_anonymous: bool) -> ApiKeyRecord | None:
        """The caller's record, None for an allowed anonymous caller, or AuthenticationFailed."""
        if key:
            if global_key and same_secret(key, global_key):
                return GLOBAL_KEY
            record = await self.lookup(key)
            if record is not None:
                check_key(record, time.time())
                return record
        if not global_key and not await self._any_managed_keys():
            if allow_anonymous:
                return None  # nothing configured and anonymous use allowed: any key will do
            raise AuthenticationFailed(
                "API authentication is not configured: set app.api_key or create an API key "
                "(or set security.allow_anonymous_api = true to allow anonymous access).")
        if not key:
            raise AuthenticationFailed(
                "Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key`.")
        raise AuthenticationFailed("Incorrect API key provided.")

    async def _any_managed_keys(self) -> bool:
        now = self.clock()
        hit = self._cache.get("")
        if hit is not None and hit[1] > now:
            return hit[0] is not None
        exists = bool(await self.storage.list_keys())
        self._cache[""] = (GLOBAL_KEY if exists else None, now + CACHE_TTL_SEC)
        return exists


async def admit(request: web.Request, s: Settings, keys: KeyAuthenticator, limits: KeyLimits) -> ApiKeyRecord | None:
    """Authenticates /v1/* (except media files), keeping the record in request[API_KEY]; the managed
    key whose per-key limits passed (requests per minute, daily quota: 429 rate_limit_error), for
    the caller to hold a concurrency slot of, or None when no per-key limit applies."""
    if request.method == "OPTIONS" or not needs_key(request.path):
        return None
    record = request[API_KEY] = await keys.authenticate(
        presented_key(request), s.app.api_key, s.security.allow_anonymous_api)
    if record is None or record is GLOBAL_KEY:
        return None
    keys.note_use(record)
    await limits.check(record)
    return record


async def key_uses_ctx(app: web.Application) -> AsyncIterator[None]:
    """Flush managed keys' use counters every stats.flush_interval_sec, and at shutdown."""
    keys = app[API_KEYS]
    async with periodic("key-uses-flush", keys.flush_uses,
                        lambda: app[LIVE_SETTINGS].current.stats.flush_interval_sec):
        yield
    try:
        await keys.flush_uses()
    except StorageError as exc:
        log.error("API key usage could not be written at shutdown: %s", exc)


def provide(app: web.Application) -> None:
    """Put the key authenticator and the per-key limits under API_KEYS, KEY_LIMITS (no I/O; needs STORAGE)."""
    app[API_KEYS] = KeyAuthenticator(app[STORAGE])
    app[KEY_LIMITS] = KeyLimits(app[STORAGE])
