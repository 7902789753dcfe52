"""Admin authentication: login, sessions, logout, CSRF, throttling, Bearer access, anonymous admin."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from grok2api.admin.auth import COOKIE, Admission, LoginThrottle, SessionSigner, Throttled

from .conftest import PASSWORD, ClientFactory, login, make_admin_app


async def test_pages_redirect_to_login_until_logged_in(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/admin/keys", allow_redirects=False)
    assert resp.status == 302
    location = URL(resp.headers["Location"])
    assert location.path == "/admin/login" and location.query["next"] == "/admin/keys"
    await login(client)
    assert (await client.get("/admin/keys", allow_redirects=False)).status == 200


async def test_htmx_request_without_session_is_told_to_redirect(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/admin/tokens", headers={"HX-Request": "true"}, allow_redirects=False)
    assert resp.status == 401
    assert resp.headers["HX-Redirect"] == "/admin/login"


async def test_session_cookie_flags(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD},
                             allow_redirects=False)
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]  # plain http in the test
    assert int(cookie["max-age"]) > 0
    # No proxy is trusted by default: a client's own X-Forwarded-Proto is ignored.
    resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD},
                             headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
    assert not resp.cookies[COOKIE]["secure"]


async def test_session_cookie_is_secure_behind_a_trusted_https_proxy(
        aiohttp_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK2API_SECURITY_TRUSTED_PROXY_IPS", '["127.0.0.1", "::1"]')
    client = await aiohttp_client(make_admin_app(tmp_path))
    resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD},
                             headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
    assert resp.cookies[COOKIE]["secure"] is True


async def test_wrong_password_and_wrong_user_are_refused(client: TestClient[Any, Any]) -> None:
    for user, password in (("admin", "nope nope nope"), ("root", PASSWORD)):
        resp = await client.post("/admin/login", data={"username": user, "password": password}, allow_redirects=False)
        assert resp.status == 401
        assert "Wrong user name or password" in await resp.text()
        assert COOKIE not in resp.cookies


async def test_login_is_throttled_per_ip(client: TestClient[Any, Any]) -> None:
    for _ in range(5):
        resp = await client.post("/admin/login", data={"username": "admin", "password": "bad"})
        assert resp.status == 401
    resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 429  # even the right password waits out the lock
    assert int(resp.headers["Retry-After"]) > 0
    api = await client.post("/api/v1/admin/login", json={"username": "admin", "password": PASSWORD})
    assert api.status == 429


async def test_wrong_bearer_passwords_are_throttled_like_logins(client: TestClient[Any, Any]) -> None:
    for _ in range(5):
        assert (await client.get("/api/v1/admin/keys", headers={"Authorization": "Bearer guess"})).status == 401
    locked = await client.get("/api/v1/admin/keys", headers={"Authorization": f"Bearer {PASSWORD}"})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    form = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD}, allow_redirects=False)
    assert form.status == 429


async def test_nobody_can_lock_the_operator_out(aiohttp_client: ClientFactory, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Four wrong passwords from each of five addresses (the lock-out of issue 19) refuse nobody else."""
    monkeypatch.setenv("GROK2API_SECURITY_TRUSTED_PROXY_IPS", '["127.0.0.1", "::1"]')
    client = await aiohttp_client(make_admin_app(tmp_path))
    for i in range(5):
        for _ in range(4):
            hop = {"X-Forwarded-For": f"203.0.113.{i}"}
            form = await client.post("/admin/login", data={"username": "admin", "password": "guess"}, headers=hop)
            assert form.status == 401
    # The user name is not locked: the operator's own address has not failed and gets in at once,
    # through the form and through the Bearer admin API.
    resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303
    fresh = {"Authorization": f"Bearer {PASSWORD}", "X-Forwarded-For": "198.51.100.9"}
    assert (await client.get("/api/v1/admin/keys", headers=fresh)).status == 200
    # An address that failed four times is not locked yet either; its fifth failure locks only it.
    tried = {"X-Forwarded-For": "203.0.113.0"}
    assert (await client.get("/api/v1/admin/keys", headers={**tried, "Authorization": f"Bearer {PASSWORD}"})).status == 200
    for _ in range(5):
        await client.post("/admin/login", data={"username": "admin", "password": "guess"}, headers=tried)
    assert (await client.post("/admin/login", data={"username": "admin", "password": PASSWORD}, headers=tried,
                              allow_redirects=False)).status == 429
    assert (await client.post("/admin/login", data={"username": "admin", "password": PASSWORD},
                              headers={"X-Forwarded-For": "203.0.113.1"}, allow_redirects=False)).status == 303


def test_global_ceiling_slows_failed_addresses_and_never_a_fresh_one() -> None:
    throttle = LoginThrottle(per_ip=5, window_sec=60, lock_sec=600, global_ceiling=10, slow_interval=1.0,
                             max_wait=3.0)
    for i in range(10):
        throttle.failed(f"10.0.0.{i}", 1000.0)
    assert throttle.under_pressure(1000.0)
    assert throttle.admit("10.9.9.9", 1000.0) == Admission()  # never failed: checked at once
    # Addresses that failed queue one check per second, up to three seconds ahead; then they are refused.
    delays = [throttle.admit(f"10.0.0.{i}", 1000.0) for i in range(5)]
    assert [a.delay for a in delays[:4]] == [0.0, 1.0, 2.0, 3.0]
    assert delays[4].refused_for == 4.0 and delays[4].delay == 0.0
    assert throttle.admit("10.0.0.1", 1061.0) == Admission()  # the window passed: no pressure, no delay
    assert not throttle.under_pressure(1061.0)


async def test_a_right_password_from_a_fresh_address_is_checked_at_once_under_a_spray() -> None:
    throttle = LoginThrottle(global_ceiling=3, max_wait=0.0)
    for i in range(3):
        assert not await throttle.attempt(f"10.0.0.{i}", _answer(False))
    assert throttle.under_pressure(time.time())

    assert await throttle.attempt("192.0.2.1", _answer(True))
    # A failed address is now beyond max_wait (0): refused without its password being checked.
    checked: list[bool] = []
    throttle.admit("10.0.0.0", time.time())  # takes the only free slot
    with pytest.raises(Throttled):
        await throttle.attempt("10.0.0.0", _answer(True, checked))
    assert checked == []


def _answer(value: bool, seen: list[bool] | None = None) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        if seen is not None:
            seen.append(value)
        return value

    return check


def test_signed_session_expires_and_rejects_tampering() -> None:
    signer = SessionSigner(b"k" * 32)
    cookie, session = signer.issue("admin", now=1000.0, ttl=60)
    assert signer.read(cookie, 1030.0) == session
    assert signer.read(cookie, 1061.0) is None  # expired
    payload, mac = cookie.split(".")
    assert signer.read(payload + "." + mac[:-2] + "AA", 1030.0) is None
    assert SessionSigner(b"x" * 32).read(cookie, 1030.0) is None
    assert signer.csrf_ok(session, signer.csrf_token(session))
    assert not signer.csrf_ok(session, "")


async def test_logout_revokes_the_session(client: TestClient[Any, Any]) -> None:
    csrf = await login(client)
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    resp = await client.post("/admin/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: stolen})
    resp = await client.get("/admin/tokens", allow_redirects=False)
    assert resp.status == 302  # the copied cookie no longer works


async def test_state_changes_need_the_csrf_token(client: TestClient[Any, Any]) -> None:
    csrf = await login(client)
    resp = await client.post("/admin/keys", data={"name": "ci"}, headers={"HX-Request": "true"})
    assert resp.status == 403
    assert "CSRF" in await resp.text()
    resp = await client.post("/admin/keys", data={"name": "ci"}, headers={"HX-Request": "true", "X-CSRF-Token": "x" + csrf})
    assert resp.status == 403
    resp = await client.post("/admin/keys", data={"name": "ci"}, headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert resp.status == 200
    # The JSON API with the session cookie needs it too.
    resp = await client.post("/api/v1/admin/keys", json={"name": "ci2"})
    assert resp.status == 403
    resp = await client.post("/api/v1/admin/keys", json={"name": "ci2"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201


async def test_login_form_from_another_site_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD},
                             headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert resp.status == 403
    assert COOKIE not in resp.cookies


async def test_next_parameter_cannot_leave_the_admin(client: TestClient[Any, Any]) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/v1/models"):
        resp = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD, "next": target},
                                 allow_redirects=False)
        assert resp.headers["Location"] == "/admin/"


async def test_json_api_accepts_the_admin_password_as_bearer(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/admin/keys")).status == 401
    bad = await client.get("/api/v1/admin/keys", headers={"Authorization": "Bearer wrong"})
    assert bad.status == 401
    body = await bad.json()
    assert body["error"]["code"] == "admin_auth_required"
    ok = await client.post("/api/v1/admin/keys", json={"name": "script"}, headers={"Authorization": f"Bearer {PASSWORD}"})
    assert ok.status == 201  # no CSRF token needed: a Bearer header is not sent by browsers on their own
    # The page sub-app does not take Bearer credentials.
    assert (await client.get("/admin/keys", headers={"Authorization": f"Bearer {PASSWORD}"},
                             allow_redirects=False)).status == 302


async def test_json_login_returns_a_csrf_token(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/admin/login", json={"username": "admin", "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "success" and body["csrf_token"]
    made = await client.post("/api/v1/admin/keys", json={"name": "x"}, headers={"X-CSRF-Token": body["csrf_token"]})
    assert made.status == 201


async def test_configured_password_wins_over_the_stored_hash(aiohttp_client: ClientFactory, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK2API_APP_APP_PASSWORD", "from-the-environment-1")
    app = make_admin_app(tmp_path)
    client = await aiohttp_client(app)
    bad = await client.post("/admin/login", data={"username": "admin", "password": PASSWORD}, allow_redirects=False)
    assert bad.status == 401
    await login(client, "from-the-environment-1")


async def test_anonymous_admin_when_allowed(aiohttp_client: ClientFactory, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK2API_SECURITY_ALLOW_ANONYMOUS_ADMIN", "true")
    app = make_admin_app(tmp_path)
    client = await aiohttp_client(app)
    resp = await client.get("/admin/keys", allow_redirects=False)
    assert resp.status == 200
    assert "anonymous admin" in await resp.text()
    # Still protected against cross-site requests: the anonymous session has a CSRF token.
    assert (await client.post("/admin/keys", data={"name": "a"})).status == 403
    assert (await client.get("/api/v1/admin/keys")).status == 200


async def test_security_headers_on_admin_responses(client: TestClient[Any, Any]) -> None:
    for path in ("/admin/login", "/api/v1/admin/keys"):
        resp = await client.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp


async def test_change_password_ends_other_sessions(aiohttp_client: ClientFactory, admin_app: Any) -> None:
    first = await aiohttp_client(admin_app)
    csrf = await login(first)
    resp = await first.post("/admin/password", data={"current": PASSWORD, "new": "short"},
                            headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert "at least 12" in await resp.text()
    resp = await first.post("/admin/password", data={"current": "wrong", "new": "a-new-long-password"},
                            headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert "current password is wrong" in await resp.text()
    old_cookie = first.session.cookie_jar.filter_cookies(first.make_url("/"))[COOKIE].value
    resp = await first.post("/admin/password", data={"current": PASSWORD, "new": "a-new-long-password"},
                            headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert "Password changed" in await resp.text()
    assert (await first.get("/admin/keys", allow_redirects=False)).status == 200  # this session was renewed
    first.session.cookie_jar.clear()
    first.session.cookie_jar.update_cookies({COOKIE: old_cookie})
    assert (await first.get("/admin/keys", allow_redirects=False)).status == 302
    await login(first, "a-new-long-password")
