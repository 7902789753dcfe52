"""Login, logout and the admin password: pages and their JSON API twins."""

from __future__ import annotations

import hmac
import time

from aiohttp import web

from ..access import admin_password as adminauth
from ..config.settings import REFUSED_PASSWORDS
from ..edge.body import read_object, read_form
from ..edge.client_ip import client_ip
from ..keys import ADMIN_STATE, SESSION
from . import render
from .auth import SESSION_TTL_SEC, Throttled, revoke, rotate_secret
from .middleware import clear_session_cookie, same_origin, set_session_cookie
from .view_models import AdminInputError, settings_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()


class LoginRefused(Exception):
    def __init__(self, status: int, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


async def login(request: web.Request, username: str, password: str) -> str:
    """Check the credentials under the throttle; the new session cookie's value on success."""
    s = settings_of(request)
    state = request.config_dict[ADMIN_STATE]
    ip = client_ip(request, s.security.trusted_proxy_ips)

    async def check() -> bool:
        user_ok = hmac.compare_digest(username.encode(), s.app.app_username.encode())
        pass_ok = await state.password.check(state.storage, s.app.app_password, password)
        return user_ok and pass_ok

    try:
        ok = await state.throttle.attempt(ip, check)
    except Throttled as exc:
        wait = f"{int(exc.retry_after) + 1} s" if exc.retry_after < 60 else f"{int(exc.retry_after // 60) + 1} min"
        raise LoginRefused(429, f"Too many failed logins from your address. Try again in {wait}.",
                           exc.retry_after) from None
    if not ok:
        raise LoginRefused(401, "Wrong user name or password.")
    cookie, _ = (await state.signer()).issue(s.app.app_username, time.time(), SESSION_TTL_SEC)
    return cookie


def _safe_next(target: str) -> str:
    # Only our own pages: never an absolute or protocol-relative URL (open redirect).
    if target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/"


@routes.get("/login", name="admin.login")
async def login_page(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    next_url = _safe_next(request.query.get("next", "/admin/"))
    if session is not None:
        raise web.HTTPFound(next_url)
    return render.page(request, "admin/login.html", {"next": next_url, "error": "", "username": ""})


@routes.post("/login", name="admin.login_post")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "/admin/")))
    if not same_origin(request):
        return render.page(request, "admin/login.html", {"next": next_url, "username": username,
                           "error": "This login form was sent from another site; open the admin directly."},
                           status=403)
    try:
        cookie = await login(request, username, password)
    except LoginRefused as exc:
        headers = {"Retry-After": str(int(exc.retry_after) + 1)} if exc.retry_after else None
        return render.page(request, "admin/login.html", {"next": next_url, "username": username,
                           "error": exc.message}, status=exc.status, headers=headers)
    resp = web.HTTPSeeOther(next_url)
    set_session_cookie(request, resp, cookie, SESSION_TTL_SEC)
    raise resp


@routes.post("/logout", name="admin.logout")
async def logout(request: web.Request) -> web.StreamResponse:
    session = request[SESSION]
    if session is not None and not session.anonymous:
        await revoke(request.config_dict[ADMIN_STATE].storage, session, time.time())
    resp = web.HTTPSeeOther("/admin/login")
    clear_session_cookie(resp)
    raise resp


async def change_password(request: web.Request, current: str, new: str) -> None:
    s = settings_of(request)
    state = request.config_dict[ADMIN_STATE]
    if s.app.app_password:
        raise AdminInputError(f"The password is set by configuration (app.app_password, source: "
                              f"{s.sources.get('app.app_password')}); change it there.")
    if not await state.password.check(state.storage, "", current):
        raise AdminInputError("The current password is wrong.")
    if new in REFUSED_PASSWORDS:
        raise AdminInputError("That is a well-known default password; choose another.")
    if len(new) < 12:
        raise AdminInputError("The new password needs at least 12 characters.")
    await adminauth.set_password(state.storage, new)
    await rotate_secret(state.storage)  # every other session ends
    state.reset_signer()
    state.password.forget()


@routes.post("/password", name="admin.password")
async def password_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        await change_password(request, str(form.get("current", "")), str(form.get("new", "")))
    except AdminInputError as exc:
        return render.fragment(request, "admin/_password.html", {"error": str(exc), "done": False})
    s = settings_of(request)
    state = request.config_dict[ADMIN_STATE]
    cookie, session = (await state.signer()).issue(s.app.app_username, time.time(), SESSION_TTL_SEC)
    request[SESSION] = session
    resp = render.fragment(request, "admin/_password.html", {"error": "", "done": True},
                           headers={"HX-Refresh": "true"})  # the page needs the new CSRF token
    set_session_cookie(request, resp, cookie, SESSION_TTL_SEC)
    return resp


# -- JSON API -------------------------------------------------------------------
@api_routes.post("/login", name="api.login")
async def api_login(request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    try:
        cookie = await login(request, str(body.get("username", "")), str(body.get("password", "")))
    except LoginRefused as exc:
        headers = {"Retry-After": str(int(exc.retry_after) + 1)} if exc.retry_after else None
        return web.json_response({"error": {"message": exc.message, "type": "admin_error",
                                            "code": "login_failed"}}, status=exc.status, headers=headers)
    signer = await request.config_dict[ADMIN_STATE].signer()
    session = signer.read(cookie, time.time())
    assert session is not None
    resp = web.json_response({"status": "success", "csrf_token": signer.csrf_token(session),
                              "expires_at": session.expires})
    set_session_cookie(request, resp, cookie, SESSION_TTL_SEC)
    return resp


@api_routes.post("/logout", name="api.logout")
async def api_logout(request: web.Request) -> web.StreamResponse:
    session = request[SESSION]
    if session is not None and session.sid != "bearer" and not session.anonymous:
        await revoke(request.config_dict[ADMIN_STATE].storage, session, time.time())
    resp = web.json_response({"status": "success"})
    clear_session_cookie(resp)
    return resp


@api_routes.post("/password", name="api.password")
async def api_password(request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    await change_password(request, str(body.get("current", "")), str(body.get("new", "")))
    return web.json_response({"status": "success", "note": "every session was logged out"})
