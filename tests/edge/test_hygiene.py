"""413, CORS (preflight with x-stainless-*), security headers, Server-Timing."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

from tests.edge.conftest import MakeGw, error_of

CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], "stream": False}
ORIGIN = "http://localhost:8000"  # in the default whitelist


async def test_declared_body_over_limit_is_413_before_auth(make_gw: MakeGw) -> None:
    gw = await make_gw(env={"GROK2API_SECURITY_MAX_BODY_SIZE_MB": "1"})
    body = b'{"model": "grok-4", "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    resp = await gw.http.post("/v1/chat/completions", data=io.BytesIO(body),
                              headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
    assert resp.status == 413
    err = await error_of(resp)
    assert (err["type"], err["code"]) == ("invalid_request_error", "request_too_large")
    assert "1 MB" in err["message"]
    # Under the limit it goes through.
    resp = await gw.http.post("/v1/chat/completions", json=CHAT, headers=gw.headers())
    assert resp.status == 200


async def test_streamed_body_over_limit_is_413(make_gw: MakeGw) -> None:
    gw = await make_gw(env={"GROK2API_SECURITY_MAX_BODY_SIZE_MB": "1"})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "grok-4", "pad": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    resp = await gw.http.post("/v1/chat/completions", data=chunks(),
                              headers={**gw.headers(), "Content-Type": "application/json"})
    assert "Content-Length" not in resp.request_info.headers
    assert resp.status == 413
    err = await error_of(resp)
    assert err["code"] == "request_too_large"
    assert gw.gateway.jobs == []


async def test_cors_preflight_whitelisted_with_stainless_headers(make_gw: MakeGw) -> None:
    gw = await make_gw()
    requested = "authorization, content-type, x-stainless-os, x-stainless-lang, x-stainless-retry-count, " \
                "X-Stainless-Timeout, x-evil"
    resp = await gw.http.options("/v1/chat/completions", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": requested})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    allowed = {h.strip() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-api-key", "anthropic-version", "x-stainless-os",
            "x-stainless-lang", "x-stainless-retry-count", "x-stainless-timeout"} <= allowed
    assert "x-evil" not in allowed
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in resp.headers["Vary"]
    # A preflight needs no API key and is not rate limited like a request (it never reaches auth).
    resp = await gw.http.options("/v1/models", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_on_responses_errors_and_streams(make_gw: MakeGw) -> None:
    gw = await make_gw()
    resp = await gw.http.get("/v1/models", headers=gw.headers(Origin=ORIGIN))
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]
    resp = await gw.http.get("/v1/models", headers={"Origin": ORIGIN})  # 401 is readable by the page
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    resp = await gw.http.post("/v1/chat/completions", json={**CHAT, "stream": True},
                              headers=gw.headers(Origin=ORIGIN))
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert re.fullmatch(r"gateway;dur=\d+\.\d", resp.headers["Server-Timing"])
    await resp.read()
    resp = await gw.http.get("/v1/models", headers=gw.headers(Origin="https://evil.example"))
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_star_disables_credentials(make_gw: MakeGw) -> None:
    gw = await make_gw(env={"GROK2API_SECURITY_CORS_ALLOW_ORIGINS": "*"})
    resp = await gw.http.options("/v1/chat/completions", headers={
        "Origin": "https://any.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-stainless-arch"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in resp.headers


async def test_server_timing_and_admin_security_headers(make_gw: MakeGw) -> None:
    gw = await make_gw()
    resp = await gw.http.get("/v1/models", headers=gw.headers())
    assert re.fullmatch(r"gateway;dur=\d+\.\d", resp.headers["Server-Timing"])
    resp = await gw.http.get("/admin", allow_redirects=False)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
