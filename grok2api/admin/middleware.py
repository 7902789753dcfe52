"""The admin sub-apps' middlewares: security headers, session/Bearer auth, CSRF, errors in place."""

from __future__ import annotations

import logging
import time
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from ..config.settings import Settings
from ..edge.body import read_form
from ..edge.client_ip import client_ip, is_trusted
from ..errors import ApiError, RateLimited
from ..keys import ADMIN_STATE, CLIENT_IP, CSP_CONNECT, CSRF_TOKEN, LIMITER, LIVE_SETTINGS, POOL, REQUEST_ID, SESSION
from ..storage.base import StorageError
from . import render
from .auth import COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_TTL_SEC, Session, Throttled, is_revoked
from .view_models import AdminInputError

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes reachable without a session (login itself, and the static login assets).
PUBLIC_ROUTES = frozenset({"admin.login", "admin.login_post", "api.login"})


def is_https(request: web.Request, trusted: list[str]) -> bool:
    if request.secure:
        return True
    return is_trusted(request.remote or "", trusted) and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_session_cookie(request: web.Request, resp: web.StreamResponse, value: str, ttl: float) -> None:
    s: Settings = request.config_dict[LIVE_SETTINGS].current
    resp.set_cookie(COOKIE, value, max_age=int(ttl), path="/", httponly=True, samesite="Strict",
                    secure=is_https(request, s.security.trusted_proxy_ips))


def clear_session_cookie(resp: web.StreamResponse) -> None:
    resp.del_cookie(COOKIE, path="/")


def same_origin(request: web.Request) -> bool:
    """A browser's Origin (or Referer) names this host; absent headers pass (non-browser clients)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if not origin or origin == "null":
        return not origin
    return urlsplit(origin).netloc.lower() == request.host.lower()


def security_headers(request: web.Request, resp: web.StreamResponse) -> None:
    if resp.prepared:
        return
    connect = "'self'"
    extra = request.get(CSP_CONNECT)
    if extra:
        connect += " " + extra
    resp.headers.setdefault("Content-Security-Policy", (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src {connect}; font-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"))
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cache-Control", "no-store")


async def authenticate(request: web.Request, *, allow_bearer: bool) -> tuple[Session | None, bool, str]:
    """(session, via_bearer, new cookie value to set or "")."""
    s: Settings = request.config_dict[LIVE_SETTINGS].current
    state = request.config_dict[ADMIN_STATE]
    signer = await state.signer()
    now = time.time()
    if allow_bearer:
        # Checked first: browsers never attach an Authorization header on their own, so a valid
        # one proves a script, which needs no CSRF token even if it also holds a cookie.
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            # A Bearer password is a login attempt: the same throttle as the login form.
            ip = client_ip(request, s.security.trusted_proxy_ips)
            password = value.strip()
            try:
                ok = await state.throttle.attempt(ip, lambda: state.password.check_bearer(
                    state.storage, s.app.app_password, password, time.time()))
            except Throttled as exc:
                wait = int(exc.retry_after) + 1
                raise ApiError(f"too many failed logins from your address; try again in {wait} s", status=429,
                               code="login_throttled", headers={"Retry-After": str(wait)}) from None
            if ok:
                return Session(user=s.app.app_username, sid="bearer", expires=now + 60), True, ""
    session = None
    raw = request.cookies.get(COOKIE, "")
    if raw:
        session = signer.read(raw, now)
        if session is not None and session.anonymous and not s.security.allow_anonymous_admin:
            session = None
        if session is not None and await is_revoked(state.storage, session):
            session = None
    if session is None and s.security.allow_anonymous_admin:
        cookie, session = signer.issue("anonymous", now, SESSION_TTL_SEC, anonymous=True)
        return session, False, cookie
    return session, False, ""


async def _csrf_presented(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER, "")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request)  # cached by aiohttp: the handler reads the same form
        value = form.get(CSRF_FIELD, "")
        return value if isinstance(value, str) else ""
    return ""


async def _limit_anonymous(request: web.Request) -> None:
    """The admin's own per-IP limit, for callers without a session (the login page and form, scripts
    without a valid Bearer). The operator at work is never limited, however busy the API is."""
    s: Settings = request.config_dict[LIVE_SETTINGS].current
    per_minute = s.security.admin_rate_limit_per_minute
    if per_minute > 0:
        ip = request.get(CLIENT_IP) or client_ip(request, s.security.trusted_proxy_ips)
        try:
            await request.config_dict[LIMITER].check_ip(ip, per_minute, per_minute, scope="admin")
        except RateLimited as exc:
            wait = int(exc.retry_after) + 1
            raise RateLimited(f"Too many requests to the admin from your address before logging in "
                              f"({per_minute} a minute, security.admin_rate_limit_per_minute). Try again in "
                              f"{wait} s; once logged in there is no limit.", retry_after=exc.retry_after) from None


async def _guard(request: web.Request, handler: Handler, *, api: bool) -> web.StreamResponse:
    session, bearer, new_cookie = await authenticate(request, allow_bearer=api)
    request[SESSION] = session
    if session is None:
        await _limit_anonymous(request)
    state = request.config_dict[ADMIN_STATE]
    signer = await state.signer()
    request[CSRF_TOKEN] = signer.csrf_token(session) if session is not None and not bearer else ""
    route = request.match_info.route.name or ""
    if route not in PUBLIC_ROUTES:
        if session is None:
            if api:
                raise ApiError("admin authentication required: log in or send Authorization: Bearer "
                               "<admin password>", status=401, code="admin_auth_required")
            if render.is_htmx(request):
                return web.Response(status=401, text="login required",
                                    headers={"HX-Redirect": "/admin/login"})
            target = request.path_qs if request.method == "GET" else "/admin/"
            raise web.HTTPFound("/admin/login?next=" + quote(target, safe=""))
        if request.method not in SAFE_METHODS and not bearer:
            if not signer.csrf_ok(session, await _csrf_presented(request)):
                raise ApiError("the form is out of date (CSRF token missing or wrong): reload the page "
                               "and try again", status=403, code="csrf_failed")
        if request.headers.get("Upgrade", "").lower() == "websocket" and not same_origin(request):
            raise ApiError("cross-origin WebSocket refused", status=403, code="bad_origin")
    resp = await handler(request)
    if request.method not in SAFE_METHODS and resp.status < 400:
        await _sync_pool(request)
    if new_cookie:
        set_session_cookie(request, resp, new_cookie, SESSION_TTL_SEC)
    return resp


async def _sync_pool(request: web.Request) -> None:
    """After an admin change, this worker's pool view follows at once (one counter read when nothing
    moved): tokens added here serve the next request, not the one after the watcher's next poll."""
    pool = request.config_dict.get(POOL)
    if pool is None:
        return
    try:
        await pool.sync()
    except StorageError as exc:
        log.warning("pool view not refreshed after an admin change (the watcher retries): %s", exc)


def _message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    return text if text and not text.startswith(f"{exc.status}:") else exc.reason


@web.middleware
async def pages_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/admin/*: HTML errors (a page, or a fragment retargeted to the message area for htmx)."""
    try:
        resp = await _guard(request, handler, api=False)
    except web.HTTPException as exc:
        if exc.status < 400:
            security_headers(request, exc)
            raise
        resp = render.error(request, exc.status, _message(exc))
    except AdminInputError as exc:
        resp = render.error(request, 400, str(exc))
    except ApiError as exc:
        resp = render.error(request, exc.status, exc.message, headers=exc.headers or None)
    except Exception:
        rid = request.get(REQUEST_ID, "-")
        log.exception("admin page %s %s failed (request %s)", request.method, request.path, rid)
        resp = render.error(request, 500, f"Something went wrong on the server (request {rid}); "
                                          "the server log has the details.")
    security_headers(request, resp)
    return resp


def json_error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "admin_error", "code": code}},
                             status=status, headers=headers)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/api/v1/admin/*: JSON errors in the same envelope as the rest of the API."""
    try:
        resp = await _guard(request, handler, api=True)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        resp = json_error(exc.status, _message(exc), {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status, "http_error"))
    except AdminInputError as exc:
        resp = json_error(400, str(exc), "invalid_input")
    except ApiError as exc:
        resp = json_error(exc.status, exc.message, exc.code or "error", exc.headers or None)
    except Exception:
        rid = request.get(REQUEST_ID, "-")
        log.exception("admin API %s %s failed (request %s)", request.method, request.path, rid)
        resp = json_error(500, f"internal error; see the server log for request {rid}", "internal_error")
    security_headers(request, resp)
    return resp
