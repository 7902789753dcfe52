"""What grok.com checks before a handler runs: SSO cookies, scenario switches, recording, JSON bodies."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .antibot import ANTI_BOT_MESSAGE, STALE_MESSAGE, statsig_problem
from .keys import ACCOUNT, BODY, FAKE_STATE, RECORD
from .state import FakeState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RECORDED_HEADERS = (
    "user-agent", "origin", "referer", "x-statsig-id", "x-xai-request-id", "content-type",
    "accept", "accept-language", "accept-encoding", "baggage", "priority", "cache-control",
    "pragma", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user",
    "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "upgrade-insecure-requests",
    "x-grpc-web", "x-user-agent", "upgrade", "sec-ch-ua-arch", "sec-ch-ua-bitness", "sec-ch-ua-model",
    "sec-ch-ua-full-version-list",
)

CLOUDFLARE_HTML = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
    '<meta name="robots" content="noindex,nofollow"></head><body>'
    '<div class="main-wrapper" role="main"><div class="main-content">'
    '<h1 class="zone-name-title h1">grok.com</h1><h2 class="h2" id="challenge-running">'
    'Checking if the site connection is secure</h2><noscript><div class="h2">Enable JavaScript '
    'and cookies to continue</div></noscript></div></div><script>(function(){window._cf_chl_opt='
    '{cvId: "3",cZone: "grok.com",cType: "managed",cRay: "8f00000000000000",'
    'cH: "fakegrok",cUPMDTk: "/?__cf_chl_tk=fakegrok"};var cpo=document.createElement("script");'
    'cpo.src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f00000000000000";'
    'document.getElementsByTagName("head")[0].appendChild(cpo);}());</script></body></html>'
)

USAGE_LIMIT_MESSAGE = "You've reached your usage limit. Please try again later."
SAFETY_MESSAGE = "Content violates usage guidelines. [SAFETY_CHECK_TYPE_CONTENT_POLICY]"


async def cut_websocket(request: web.Request, ws: web.WebSocketResponse, cut: str) -> None:
    """The `stream_cut` scenario on a WebSocket: "abort" drops the TCP connection, anything else
    closes the socket cleanly (both mid-answer)."""
    if cut == "abort" and request.transport is not None:
        request.transport.abort()
    else:
        await ws.close()


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": []}}


def json_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(code, message), status=status, headers=headers)


def bad_request(message: str) -> web.HTTPException:
    """A 400 with the gRPC-style INVALID_ARGUMENT body, raisable from deep inside a handler."""
    return web.HTTPBadRequest(text=json.dumps(error_body(3, message)), content_type="application/json")


def not_found(message: str) -> web.HTTPException:
    return web.HTTPNotFound(text=json.dumps(error_body(5, message)), content_type="application/json")


def unauthorized() -> web.Response:
    return json_error(401, 16, "invalid-credentials: failed to look up session id")


def cloudflare() -> web.Response:
    return web.Response(status=403, text=CLOUDFLARE_HTML, content_type="text/html",
                        headers={"cf-mitigated": "challenge", "server": "cloudflare"})


def rate_limited(wait: int | float) -> web.Response:
    return json_error(429, 8, "Too many requests", headers={"Retry-After": str(int(wait))})


def server_error(status: int) -> web.Response:
    code, message = (14, "service unavailable") if status in (502, 503, 504) else (13, "internal error")
    return json_error(status, code, message)


def grpc_status(status: int, message: str) -> web.Response:
    """A trailers-only gRPC-web error (status in the HTTP headers, empty body)."""
    return web.Response(status=200, body=b"", content_type="application/grpc-web+proto",
                        headers={"grpc-status": str(status), "grpc-message": message.replace(" ", "%20")})


def anti_bot() -> web.Response:
    return json_error(403, 7, ANTI_BOT_MESSAGE)


def stale_page() -> web.Response:
    return json_error(403, 7, STALE_MESSAGE)


def replayed(request: web.Request) -> web.Response | None:
    """On a media path, the stale-page 403 for an x-statsig-id seen before (C3), else None."""
    state = request.app[FAKE_STATE]
    value = request.headers.get("x-statsig-id", "")
    if not state.config.statsig_replay or not value:
        return None
    if value in state.seen_statsig:
        return stale_page()
    state.seen_statsig[value] = True
    return None


def sso_token(request: web.Request) -> str | None:
    """The SSO token when both `sso` and `sso-rw` are present and equal (§14.1), else None."""
    sso = request.cookies.get("sso")
    if not sso or request.cookies.get("sso-rw") != sso:
        return None
    return sso


def protected(kind: str) -> Callable[[Handler], Handler]:
    """Gate a handler like grok.com's edge + auth do.

    kind: "chat" (conversations/new, /responses: statsig required, anti-bot, 429, slow first
    byte), "ws" (WebSocket handshakes: 429 before upgrade), "rest", "signed" (REST calls the
    GO client signs; statsig checked only in strict mode), "grpc" (errors as gRPC status),
    "session" (the handler reports invalid/blocked itself), "public" (no cookie needed)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def gated(request: web.Request) -> web.StreamResponse:
            refused = await _gate(request, request.app[FAKE_STATE], kind)
            if refused is not None:
                return refused
            return await handler(request)

        return gated

    return wrap


async def _gate(request: web.Request, state: FakeState, kind: str) -> web.StreamResponse | None:
    token = sso_token(request)
    if state.take(token, "cloudflare"):
        return cloudflare()
    if kind == "public":
        return None
    if token is None:
        if kind == "grpc":
            return grpc_status(16, "unauthenticated")
        if kind == "session":
            return web.json_response({"status": "unauthenticated", **error_body(16, "no session")}, status=401)
        return unauthorized()
    account = state.account(token)
    request[ACCOUNT] = account
    if kind != "session":
        if state.take(token, "invalid_token"):
            return grpc_status(16, "invalid-credentials") if kind == "grpc" else unauthorized()
        if state.take(token, "blocked"):
            return grpc_status(7, "blocked-user") if kind == "grpc" else json_error(403, 7, "blocked-user")
    status = state.take(token, "server_error")
    if status:
        return server_error(int(status))
    if kind in ("chat", "ws"):
        wait = state.take(token, "rate_limited")
        if wait is not None:
            return rate_limited(wait)
    if kind in ("chat", "signed"):
        statsig = request.headers.get("x-statsig-id", "")
        if kind == "chat" and not statsig:
            return anti_bot()
        path = request.path[len(state.config.path_prefix):] if state.config.path_prefix else request.path
        if state.config.statsig_strict and statsig_problem(
                statsig, request.method, path, verify=state.config.statsig_verify):
            return anti_bot()
    if kind == "chat":
        if state.take(token, "anti_bot"):
            return anti_bot()
        if state.take(token, "safety_rejected"):
            return json_error(403, 7, SAFETY_MESSAGE)
        delay = state.take(token, "slow_first_byte")
        if delay:
            await asyncio.sleep(float(delay))
    return None


async def json_body(request: web.Request) -> Any:
    """The parsed JSON body (read once by the recorder); malformed or missing → 400."""
    if BODY not in request:
        raw = await request.read()
        try:
            request[BODY] = json.loads(raw) if raw else _MISSING
        except ValueError:
            request[BODY] = _MALFORMED
    body = request[BODY]
    if body is _MISSING:
        raise bad_request("request body is required")
    if body is _MALFORMED:
        raise bad_request("malformed JSON body")
    return body


async def json_object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


_MISSING = object()
_MALFORMED = object()


def _shorten(value: Any) -> Any:
    """Keep records small: long strings (base64 uploads) are replaced by their length."""
    if isinstance(value, str) and len(value) > 4096:
        return f"<{len(value)} chars>"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Append what grok.com would have received to the bounded request record."""
    if request.path.startswith("/_fake/"):
        return await handler(request)
    state = request.app[FAKE_STATE]
    record: dict[str, Any] = {
        "time": time.time(), "method": request.method, "path": request.path, "remote": request.remote or "",
        "query": dict(request.query), "cookies": dict(request.cookies),
        "headers": {h: request.headers[h] for h in RECORDED_HEADERS if h in request.headers},
        "header_order": [name.decode("latin-1").lower() for name, _ in request.raw_headers],
        "http_version": f"{request.version.major}.{request.version.minor}",
        "json": None, "body_size": 0,
    }
    if request.body_exists and not request.content_type.startswith("multipart/"):
        raw = await request.read()
        record["body_size"] = len(raw)
        if request.content_type.startswith("application/grpc"):
            record["body_hex"] = raw[:4096].hex()
        elif raw:
            try:
                request[BODY] = json.loads(raw)
                record["json"] = _shorten(request[BODY])
            except ValueError:
                request[BODY] = _MALFORMED
    request[RECORD] = record
    state.records.append(record)
    return await handler(request)
