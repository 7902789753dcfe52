"""Admin authentication: signed session cookies, CSRF tokens, login throttling, Bearer access."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections import deque
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


@dataclass(slots=True)
class _Window:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Failed logins per client IP and per user name in a sliding window; over the limit = locked.

    Per worker, in memory: an attacker spreading tries over N workers gets N times the budget,
    which is still a handful of guesses per minute against a 24-character generated password."""

    def __init__(self, per_ip: int = 5, per_user: int = 20, window_sec: float = 300.0,
                 lock_sec: float = 900.0) -> None:
        self.limits = {"ip": per_ip, "user": per_user}
        self.window_sec = window_sec
        self.lock_sec = lock_sec
        self._state: dict[tuple[str, str], _Window] = {}

    def retry_after(self, ip: str, user: str, now: float) -> float:
        """Seconds until a login may be tried again from this IP / for this user; 0 = allowed."""
        wait = 0.0
        for key in (("ip", ip), ("user", user.lower())):
            w = self._state.get(key)
            if w is not None and w.locked_until > now:
                wait = max(wait, w.locked_until - now)
        return wait

    def failed(self, ip: str, user: str, now: float) -> None:
        for kind, value in (("ip", ip), ("user", user.lower())):
            w = self._state.setdefault((kind, value), _Window())
            w.failures.append(now)
            while w.failures and w.failures[0] < now - self.window_sec:
                w.failures.popleft()
            if len(w.failures) >= self.limits[kind]:
                w.locked_until = now + self.lock_sec
                w.failures.clear()
        if len(self._state) > 10_000:  # bound memory under a spray of IPs and names
            self._state = {k: v for k, v in self._state.items() if v.locked_until > now or v.failures}

    def succeeded(self, ip: str, user: str) -> None:
        self._state.pop(("ip", ip), None)

