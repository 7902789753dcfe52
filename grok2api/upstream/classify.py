"""Turn every upstream failure (HTTP status, in-band error, gRPC status, curl error) into one UpstreamError."""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from .errors import ErrorKind, UpstreamError

# Protocol §12.1: these markers mean the SSO itself is bad, whatever the status (400/401/403).
_CREDENTIAL_MARKERS = (
    "invalid-credentials", "bad-credentials", "failed to look up session id", "session not found",
    "token revoked", "token expired", "account suspended", "email-domain-rejected",
)
_BLOCKED_MARKERS = ("blocked-user", "user is blocked")
_CLOUDFLARE_MARKERS = ("just a moment", "challenge-platform", "__cf_chl", "cf-chl-", "cf-mitigated",
                       "attention required! | cloudflare")
_ANTI_BOT_MARKERS = ("anti-bot", "anti_bot")
_STALE_MARKERS = ("page is out of date", "reload to continue")
_MEDIA_CREDIT_MARKERS = ("media generation credits", "usagepoolexhausted", "usage pool exhausted")
_CONVERSATION_GONE = ("conversation_not_found", "conversation not found", "session_not_found",
                      "conversation_expired", "response_not_found")
# Typed in-stream errors (C9), matched on the kind with everything but letters removed, so
# `STREAM_ERROR_KIND_USAGE_POOL_EXHAUSTED`, `usagePoolExhausted` and `usage-pool-exhausted` agree.
_TYPED_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("usagepoolexhausted", ErrorKind.RATE_LIMITED),
    ("usagelimitreached", ErrorKind.RATE_LIMITED),
    ("usagelimit", ErrorKind.RATE_LIMITED),
    ("concurrencylimit", ErrorKind.TRANSIENT),
    ("globalratelimit", ErrorKind.TRANSIENT),
    ("contentmoderated", ErrorKind.MODERATED),
    ("moderated", ErrorKind.MODERATED),
    ("modelnotavailable", ErrorKind.MODEL_UNAVAILABLE),
    ("modelunavailable", ErrorKind.MODEL_UNAVAILABLE),
)
_TYPED_FIELDS = ("kind", "type", "errorKind", "error_kind", "streamErrorKind")
_SAFETY_MARKERS = ("content violates usage guidelines", "safety_check_type")
_USAGE_LIMIT_MARKERS = ("usage limit", "usage quota", "too many requests", "rate limit", "rate_limit")
_MAX_MESSAGE = 300

# curl error codes (libcurl-errors): 28 = operation timed out; 18/92 = the peer ended the transfer
# early / HTTP/2 stream reset, which the predecessors treated as "upstream closed unexpectedly".
_CURL_TIMEOUT = frozenset({28})
_CURL_UPSTREAM_CLOSED = frozenset({18, 92})
# Failures before the request left: proxy/host resolution (5, 6), connect (7), proxy handshake (97),
# TLS handshake and certificate (35, 60). grok.com never saw these calls.
_CURL_BEFORE_SEND = frozenset({5, 6, 7, 35, 60, 97})
_CONNECT_TIMEOUT = ("connection timed out", "connection timeout", "resolving timed out")
_UPGRADE_REFUSED = re.compile(r"Refused WebSocket upgrade: (\d{3})")

# PY-A's gRPC -> HTTP mapping (§10.1), so gRPC answers share one classifier with REST.
_GRPC_TO_HTTP = {0: 200, 3: 400, 4: 504, 7: 403, 8: 429, 14: 503, 16: 401}


def error_message(body_text: str) -> str:
    """The human part of an error body: `error.message` of JSON bodies, else the trimmed text."""
    data = _json(body_text)
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:_MAX_MESSAGE]
        if isinstance(err, str):
            return err[:_MAX_MESSAGE]
        if isinstance(data.get("message"), str):
            return data["message"][:_MAX_MESSAGE]
    return " ".join(body_text.split())[:_MAX_MESSAGE]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _has(text: str, markers: tuple[str, ...]) -> bool:
    low = text.lower()
    return any(m in low for m in markers)


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    if not headers:
        return ""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def parse_retry_after(value: str, now: float | None = None) -> float:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; 0 when absent or unreadable."""
    value = value.strip()
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(data: Any, *keys: str) -> float | None:
    if not isinstance(data, dict):
        return None
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _rate_limit_details(body_text: str, headers: Mapping[str, str] | None) -> tuple[float, int | None]:
    """Wait seconds and remaining quota from a 429: header first, then the body (flat or under `error`)."""
    wait = parse_retry_after(_header(headers, "retry-after"))
    data = _json(body_text)
    candidates = [data]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        candidates.append(data["error"])
    remaining: int | None = None
    for obj in candidates:
        if not wait:
            wait = _number(obj, "waitTimeSeconds", "retryAfterSeconds", "retryAfter") or 0.0
        left = _number(obj, "remainingTokens", "remainingQueries")
        if remaining is None and left is not None:
            remaining = int(left)
    return wait, remaining


def classify(status: int, body_text: str = "", headers: Mapping[str, str] | None = None) -> UpstreamError:
    """Classify a non-success HTTP answer per protocol §12 (the caller knows it failed)."""
    message = error_message(body_text) or f"HTTP {status}"
    if status == 401 or (status in (400, 403) and _has(body_text, _CREDENTIAL_MARKERS)):
        return UpstreamError(ErrorKind.AUTH, message, status=status)
    if status == 403:
        return _classify_403(body_text, headers, message)
    if status == 429:
        wait, remaining = _rate_limit_details(body_text, headers)
        return UpstreamError(ErrorKind.RATE_LIMITED, message, status=status, retry_after=wait, remaining=remaining)
    if status == 408:
        return UpstreamError(ErrorKind.TIMEOUT, message, status=status)
    if 400 <= status < 500:
        return UpstreamError(ErrorKind.BAD_REQUEST, message, status=status)
    if status >= 500:
        return UpstreamError(ErrorKind.UPSTREAM, message, status=status)
    return UpstreamError(ErrorKind.UPSTREAM, f"unexpected HTTP {status}: {message}", status=status)


def _classify_403(body_text: str, headers: Mapping[str, str] | None, message: str) -> UpstreamError:
    # Order matters: a blocked account is the account's fault even if the page is HTML; a
    # challenge page (or an empty body, which Cloudflare also sends) is the egress's fault.
    if _has(body_text, _BLOCKED_MARKERS):
        return UpstreamError(ErrorKind.AUTH, message, status=403)
    if _has(body_text, _SAFETY_MARKERS):
        return UpstreamError(ErrorKind.MODERATED, message, status=403)
    if not body_text.strip() or _has(body_text, _CLOUDFLARE_MARKERS) or _header(headers, "cf-mitigated"):
        return UpstreamError(ErrorKind.CLOUDFLARE, "Cloudflare challenge (HTTP 403)", status=403)
    if _has(body_text, _STALE_MARKERS):
        # C3: a replayed x-statsig-id; a fresh value passes. Never the account's fault.
        return UpstreamError(ErrorKind.STALE_PAGE, message, status=403)
    data = _json(body_text)
    if _has(body_text, _ANTI_BOT_MARKERS) or _code(data) == 7:
        # C1: any other code 7 is the anti-bot layer refusing the x-statsig-id / fingerprint:
        # fixable by the egress (another strategy, new clearance), never the account's fault.
        return UpstreamError(ErrorKind.ANTI_BOT, message, status=403)
    if data is None:
        # Any other HTML/text 403 comes from the edge (WAF block pages), not from grok.com's API.
        return UpstreamError(ErrorKind.CLOUDFLARE, f"edge refused the request (HTTP 403): {message}", status=403)
    return UpstreamError(ErrorKind.UPSTREAM, message, status=403)


def _code(data: Any) -> Any:
    """`error.code` (or a top-level `code`) of a JSON error body."""
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    code: Any = err.get("code") if isinstance(err, dict) else data.get("code")
    if isinstance(code, (int, str)) and not isinstance(code, bool):
        try:
            return int(code)
        except ValueError:
            return code
    return code


def _letters(value: Any) -> str:
    return "".join(ch for ch in str(value).lower() if ch.isalpha())


def typed_kind(error: Any) -> ErrorKind | None:
    """The kind of a typed stream error (C9) from its `kind`-like field, or None."""
    if not isinstance(error, dict):
        return None
    for field in _TYPED_FIELDS:
        value = error.get(field)
        if not value:
            continue
        letters = _letters(value)
        for marker, kind in _TYPED_KINDS:
            if marker in letters:
                return kind
    return None


def classify_inband(error: Any, *, status: int = 200) -> UpstreamError:
    """Classify an error object found inside a 200 stream or a WebSocket (REST, mgw, Imagine)."""
    if isinstance(error, dict):
        code = error.get("code", error.get("err_code"))
        text = str(error.get("message") or error.get("err_msg") or error.get("error") or error.get("detail") or "")
    else:
        code, text = None, str(error)
    text = text[:_MAX_MESSAGE] or f"upstream error {code}"
    code_text = str(code).lower() if code is not None else ""
    blob = f"{code_text} {text}"
    if code in (16, "16") or _has(blob, _CREDENTIAL_MARKERS) or code_text == "unauthenticated":
        return UpstreamError(ErrorKind.AUTH, text, status=status)
    if _has(blob, _BLOCKED_MARKERS):
        return UpstreamError(ErrorKind.AUTH, text, status=status)
    typed = typed_kind(error)
    if typed is not None:
        wait = _number(error, "waitTimeSeconds", "retryAfterSeconds") or 0.0
        return UpstreamError(typed, text, status=status, retry_after=wait if typed is ErrorKind.RATE_LIMITED else 0.0)
    if _has(blob, _CONVERSATION_GONE):
        return UpstreamError(ErrorKind.CONVERSATION_GONE, text, status=status)
    if (code in (8, "8") or _has(blob, _USAGE_LIMIT_MARKERS) or _has(blob, _MEDIA_CREDIT_MARKERS)
            or code_text == "resource_exhausted"):
        wait = _number(error, "waitTimeSeconds", "retryAfterSeconds") or 0.0
        return UpstreamError(ErrorKind.RATE_LIMITED, text, status=status, retry_after=wait)
    if _has(blob, _SAFETY_MARKERS) or "moderat" in blob or "content_policy" in blob:
        return UpstreamError(ErrorKind.MODERATED, text, status=status)
    if _has(blob, _STALE_MARKERS):
        return UpstreamError(ErrorKind.STALE_PAGE, text, status=status)
    if _has(blob, _ANTI_BOT_MARKERS) or code in (7, "7"):
        return UpstreamError(ErrorKind.ANTI_BOT, text, status=status)
    if code in (3, "3") or code_text == "invalid_request":
        return UpstreamError(ErrorKind.BAD_REQUEST, text, status=status)
    return UpstreamError(ErrorKind.UPSTREAM, text, status=status)


def grpc_to_http(grpc_status: int) -> int:
    """PY-A's mapping of gRPC status codes to HTTP statuses (§10.1)."""
    return _GRPC_TO_HTTP.get(grpc_status, 502)


def classify_grpc(grpc_status: int, grpc_message: str) -> UpstreamError:
    """Classify a non-zero gRPC-web status through its HTTP equivalent."""
    body = json.dumps({"error": {"code": grpc_status, "message": grpc_message or f"grpc-status {grpc_status}"}})
    return classify(grpc_to_http(grpc_status), body)


def upgrade_refused_status(exc: BaseException) -> int:
    """The HTTP status of a refused WebSocket handshake (curl error 22), or 0."""
    match = _UPGRADE_REFUSED.search(str(exc))
    return int(match.group(1)) if match else 0


def classify_exception(exc: BaseException) -> UpstreamError:
    """Classify a transport exception (curl_cffi, asyncio timeouts) as NETWORK, TIMEOUT or UPSTREAM."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return UpstreamError(ErrorKind.TIMEOUT, "timed out waiting for grok.com")
    code = getattr(exc, "code", 0)
    try:
        code = int(code or 0)
    except (TypeError, ValueError):
        code = 0
    text = str(exc).split(" See https://curl.se", 1)[0][:_MAX_MESSAGE] or type(exc).__name__
    low = text.lower()
    if code in _CURL_TIMEOUT or "timed out" in low or type(exc).__name__.endswith("Timeout"):
        return UpstreamError(ErrorKind.TIMEOUT, text, before_send=any(m in low for m in _CONNECT_TIMEOUT))
    if code in _CURL_UPSTREAM_CLOSED:
        return UpstreamError(ErrorKind.UPSTREAM, f"upstream closed the connection unexpectedly: {text}")
    return UpstreamError(ErrorKind.NETWORK, text, before_send=code in _CURL_BEFORE_SEND)
