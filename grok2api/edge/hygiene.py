"""Request hygiene: CORS (whitelist + preflight), body size (413), security headers, Server-Timing.

Applied by the edge middleware (edge/chain.py):
- outside the error envelopes: CORS preflights are answered here (204 for a whitelisted origin,
  403 otherwise);
- inside them: a declared Content-Length over `security.max_body_size_mb` is refused before
  anything reads it, and aiohttp's own 413 (raised when a chunked body without Content-Length
  outgrows `client_max_size` on read) becomes RequestTooLarge.
Headers (CORS, security headers on the admin, Server-Timing) are added when the response is
prepared (`decorate_response`), so streamed responses and errors raised as HTTPException get them too.
"""

from __future__ import annotations

import time

from aiohttp import web

from ..errors import RequestTooLarge
from ..keys import STARTED_AT_REQ

CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_MAX_AGE = "600"
# Request headers a browser may send cross-origin (plus any x-stainless-* the OpenAI SDKs add).
CORS_HEADERS = frozenset({
    "authorization", "content-type", "x-api-key", "anthropic-version", "anthropic-beta",
    "anthropic-dangerous-direct-browser-access", "openai-organization", "openai-project", "openai-beta",
    "x-request-id", "accept", "accept-language", "cache-control", "idempotency-key",
})
CORS_EXPOSE = "X-Request-Id, Retry-After, Server-Timing, Content-Type"
ADMIN_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def cors_path(path: str) -> bool:
    """Paths open to browser callers (the API), not the admin and its static files."""
    return not path.startswith(("/admin", "/static"))


def allowed_origin(origin: str, allow: list[str]) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not whitelisted."""
    if not origin:
        return None
    if "*" in allow:
        return "*"
    normalized = origin.rstrip("/").lower()
    return origin if any(normalized == a.rstrip("/").lower() for a in allow) else None


def allowed_headers(requested: str) -> list[str]:
    names = [h.strip().lower() for h in requested.split(",") if h.strip()]
    return [h for h in names if h in CORS_HEADERS or h.startswith("x-stainless-")]


def preflight(request: web.Request, allow: list[str]) -> web.Response:
    origin = request.headers.get("Origin", "")
    value = allowed_origin(origin, allow)
    if value is None:
        return web.json_response({"error": {"message": f"Origin {origin!r} is not allowed.",
                                            "type": "invalid_request_error", "param": None,
                                            "code": "cors_origin_not_allowed"}}, status=403,
                                 headers={"Vary": "Origin"})
    headers = {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": ", ".join(
            sorted(CORS_HEADERS) + [h for h in allowed_headers(
                request.headers.get("Access-Control-Request-Headers", "")) if h not in CORS_HEADERS]),
        "Access-Control-Max-Age": CORS_MAX_AGE,
        "Vary": "Origin, Access-Control-Request-Headers",
    }
    if value != "*":
        headers["Access-Control-Allow-Credentials"] = "true"
    return web.Response(status=204, headers=headers)


def is_preflight(request: web.Request) -> bool:
    return (request.method == "OPTIONS" and cors_path(request.path) and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers)


def declared_too_large(request: web.Request, mb: int) -> RequestTooLarge | None:
    """The refusal of a body whose declared length is over the limit, before anything reads it."""
    if mb and request.content_length is not None and request.content_length > mb * 1024 * 1024:
        return too_large(mb)
    return None


def too_large(mb: int) -> RequestTooLarge:
    return RequestTooLarge(f"Request body too large: the limit is {mb} MB (security.max_body_size_mb).")


def decorate_response(request: web.Request, response: web.StreamResponse, cors_allow: list[str]) -> None:
    """The headers every response gets, streamed or not."""
    path = request.path
    started = request.get(STARTED_AT_REQ)
    if started is not None and "Server-Timing" not in response.headers:
        response.headers["Server-Timing"] = f"gateway;dur={(time.perf_counter() - started) * 1000:.1f}"
    if path.startswith(("/admin", "/static")):
        for name, value in ADMIN_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    origin = request.headers.get("Origin", "")
    if not origin or "Access-Control-Allow-Origin" in response.headers:
        return
    allowed = allowed_origin(origin, cors_allow)
    if allowed is None:
        return
    response.headers["Access-Control-Allow-Origin"] = allowed
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
    if allowed != "*":
        response.headers["Access-Control-Allow-Credentials"] = "true"
        vary = response.headers.get("Vary")
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
