"""Admin authentication: signed session cookies, CSRF tokens, login throttling, Bearer access."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..access import admin_password as adminauth
from ..storage.base import Storage

COOKIE = "grok2api_admin"
SESSION_TTL_SEC = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SECRET_NS, _SECRET_KEY = "admin", "session_secret"
_REVOKED_NS = "admin_revoked"
# A verified Bearer password is remembered this long, so scripts do not pay scrypt per call.
_BEARER_CACHE_SEC = 60.0


@dataclass(frozen=True, slots=True)
class Session:
    """Who is logged in; `sid` identifies the session for CSRF and logout."""

    user: str
    sid: str
    expires: float
    anonymous: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and checks session cookies with a secret shared by every worker (kept in storage)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, user: str, now: float, ttl: float = SESSION_TTL_SEC, anonymous: bool = False) -> tuple[str, Session]:
        session = Session(user=user, sid=secrets.token_urlsafe(12), expires=now + ttl, anonymous=anonymous)
        payload = _b64(json.dumps({"u": user, "s": session.sid, "e": int(session.expires),
                                   "a": anonymous}, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}", session

    def read(self, cookie: str, now: float) -> Session | None:
        payload, _, mac = cookie.partition(".")
        if not payload or not mac or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(user=str(data["u"]), sid=str(data["s"]), expires=float(data["e"]),
                              anonymous=bool(data.get("a")))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > now else None

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf:" + session.sid)

    def csrf_ok(self, session: Session, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.csrf_token(session))


async def load_signer(storage: Storage) -> SessionSigner:
    """The session secret, created once and shared by all workers and restarts."""
    doc = await storage.doc_get(_SECRET_NS, _SECRET_KEY)
    if doc and doc.get("secret"):
        return SessionSigner(_unb64(doc["secret"]))
    await storage.doc_put(_SECRET_NS, _SECRET_KEY, {"secret": _b64(secrets.token_bytes(32))})
    # Read back: if two workers raced, both now use whichever write landed last.
    doc = await storage.doc_get(_SECRET_NS, _SECRET_KEY)
    assert doc is not None
    return SessionSigner(_unb64(doc["secret"]))


async def rotate_secret(storage: Storage) -> None:
    """Invalidate every session (after a password change)."""
    await storage.doc_put(_SECRET_NS, _SECRET_KEY, {"secret": _b64(secrets.token_bytes(32))})


async def revoke(storage: Storage, session: Session, now: float) -> None:
    await storage.doc_put(_REVOKED_NS, session.sid, {"at": now}, ttl_sec=max(1.0, session.expires - now))


async def is_revoked(storage: Storage, session: Session) -> bool:
    return await storage.doc_get(_REVOKED_NS, session.sid) is not None


class PasswordChecker:
    """The configured `app.app_password` when set, else the stored scrypt hash."""

    def __init__(self) -> None:
        self._bearer_ok: dict[str, float] = {}

    async def check(self, storage: Storage, configured: str, password: str) -> bool:
        if not password:
            return False
        if configured:
            return hmac.compare_digest(password.encode(), configured.encode())
        stored = await adminauth.stored_hash(storage)
        if not stored:
            return False
        # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
        return await asyncio.to_thread(adminauth.verify_password, password, stored)

    async def check_bearer(self, storage: Storage, configured: str, password: str, now: float) -> bool:
        digest = hashlib.sha256(password.encode()).hexdigest()
        until = self._bearer_ok.get(digest)
        if until is not None and until > now:
            return True
        if not await self.check(storage, configured, password):
            return False
        if len(self._bearer_ok) > 1000:
            self._bearer_ok.clear()
        self._bearer_ok[digest] = now + _BEARER_CACHE_SEC
        return True

    def forget(self) -> None:
        self._bearer_ok.clear()


@dataclass(frozen=True, slots=True)
class Admission:
    """What the throttle says about one login attempt, before the password is checked."""

    delay: float = 0.0  # wait this long, then check the password
    refused_for: float = 0.0  # > 0: refuse without checking; the address may try again after this


@dataclass(slots=True)
class _Address:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Failed logins per client address, and a global ceiling that slows rather than locks.

    An address that fails `per_ip` times within `window_sec` is refused for `lock_sec`: only that
    address, never the user name (a per-name lock let anyone lock the operator out). When every
    address together failed `global_ceiling` times within the window (guessing spread over many
    addresses), password checks from addresses that have failed are queued `slow_interval` apart;
    one that would wait longer than `max_wait` is refused with a Retry-After. An address with no
    failure is always checked at once, so its correct password is never refused nor slowed.

    Per worker, in memory: an attacker spreading tries over N workers gets N times the budget,
    which is still a handful of guesses per minute against a 24-character generated password."""

    def __init__(self, per_ip: int = 5, window_sec: float = 300.0, lock_sec: float = 900.0,
                 global_ceiling: int = 50, slow_interval: float = 1.0, max_wait: float = 10.0) -> None:
        self.per_ip = per_ip
        self.window_sec = window_sec
        self.lock_sec = lock_sec
        self.global_ceiling = global_ceiling
        self.slow_interval = slow_interval
        self.max_wait = max_wait
        self._addresses: dict[str, _Address] = {}
        # The newest `global_ceiling` failures of every address: enough to tell whether the ceiling is reached.
        self._recent: deque[float] = deque(maxlen=global_ceiling)
        self._next_slot = 0.0

    def _prune(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] < now - self.window_sec:
            failures.popleft()

    def under_pressure(self, now: float) -> bool:
        """The global ceiling is reached: `global_ceiling` failures within the window, from anywhere."""
        self._prune(self._recent, now)
        return len(self._recent) >= self.global_ceiling

    def admit(self, ip: str, now: float) -> Admission:
        address = self._addresses.get(ip)
        if address is None:
            return Admission()
        if address.locked_until > now:
            return Admission(refused_for=address.locked_until - now)
        self._prune(address.failures, now)
        if not address.failures or not self.under_pressure(now):
            return Admission()
        slot = max(now, self._next_slot)
        if slot - now > self.max_wait:
            return Admission(refused_for=slot - now)
        self._next_slot = slot + self.slow_interval
        return Admission(delay=slot - now)

    def failed(self, ip: str, now: float) -> None:
        address = self._addresses.setdefault(ip, _Address())
        address.failures.append(now)
        self._prune(address.failures, now)
        self._recent.append(now)
        if len(address.failures) >= self.per_ip:
            address.locked_until = now + self.lock_sec
            address.failures.clear()
        if len(self._addresses) > 10_000:  # bound memory under a spray of addresses
            self._addresses = {k: v for k, v in self._addresses.items()
                               if v.locked_until > now or (v.failures and v.failures[-1] >= now - self.window_sec)}

    def succeeded(self, ip: str) -> None:
        self._addresses.pop(ip, None)

    async def attempt(self, ip: str, check: Callable[[], Awaitable[bool]],
                      clock: Callable[[], float] = time.time) -> bool:
        """One password attempt from `ip`: True when right, False (counted) when wrong; raises
        Throttled when this address must wait. The form, the JSON login and Bearer all come here."""
        admission = self.admit(ip, clock())
        if admission.refused_for > 0:
            raise Throttled(admission.refused_for)
        if admission.delay > 0:
            await asyncio.sleep(admission.delay)
        if await check():
            self.succeeded(ip)
            return True
        self.failed(ip, clock())
        return False


class Throttled(Exception):
    """Too many failed logins from this address (or under a global spray): retry after `retry_after` s."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after
