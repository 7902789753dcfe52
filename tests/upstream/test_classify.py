"""classify(), classify_inband(), classify_grpc() and classify_exception() over every documented signal (§12)."""

from __future__ import annotations

import asyncio

import pytest
from curl_cffi import CurlError
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError

from grok2api.upstream.classify import (
    classify,
    classify_exception,
    classify_grpc,
    classify_inband,
    error_message,
    grpc_to_http,
    parse_retry_after,
    upgrade_refused_status,
)
from grok2api.upstream.errors import ErrorKind

CF_HTML = ('<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body>'
           '<script src="/cdn-cgi/challenge-platform/h/g/orchestrate"></script></body></html>')


@pytest.mark.parametrize(("status", "body", "headers", "kind"), [
    (401, '{"error":{"code":16,"message":"invalid-credentials: failed to look up session id","details":[]}}', {},
     ErrorKind.AUTH),
    (401, "", {}, ErrorKind.AUTH),
    (400, '{"error":{"code":3,"message":"bad-credentials"}}', {}, ErrorKind.AUTH),
    (403, '{"error":{"code":7,"message":"token revoked"}}', {}, ErrorKind.AUTH),
    (403, '{"error":{"code":7,"message":"blocked-user","details":[]}}', {}, ErrorKind.AUTH),
    (403, "<html>user is blocked</html>", {}, ErrorKind.AUTH),
    (403, CF_HTML, {}, ErrorKind.CLOUDFLARE),
    (403, "<html><body>__cf_chl_rt_tk</body></html>", {}, ErrorKind.CLOUDFLARE),
    (403, "", {}, ErrorKind.CLOUDFLARE),
    (403, "   ", {}, ErrorKind.CLOUDFLARE),
    (403, '{"x":1}', {"cf-mitigated": "challenge"}, ErrorKind.CLOUDFLARE),
    # C1: the anti-bot answer, and any other code 7 that is neither a block nor a safety refusal.
    (403, '{"error":{"code":7,"message":"Request rejected by anti-bot rules.","details":[]}}', {},
     ErrorKind.ANTI_BOT),
    (403, '{"error":{"code":7,"message":"permission denied"}}', {}, ErrorKind.ANTI_BOT),
    # C3: a replayed x-statsig-id on a media path.
    (403, '{"error":{"code":7,"message":"This page is out of date. Reload to continue."}}', {},
     ErrorKind.STALE_PAGE),
    (403, "<html><title>Attention Required! | Cloudflare</title></html>", {}, ErrorKind.CLOUDFLARE),
    (403, '{"error":{"code":7,"message":"Content violates usage guidelines. [SAFETY_CHECK_TYPE_CSAM]"}}', {},
     ErrorKind.MODERATED),
    (403, '{"error":{"code":5,"message":"permission denied"}}', {}, ErrorKind.UPSTREAM),
    (429, '{"error":{"code":8,"message":"Too many requests","details":[]}}', {"Retry-After": "60"},
     ErrorKind.RATE_LIMITED),
    (400, '{"error":{"code":3,"message":"malformed"}}', {}, ErrorKind.BAD_REQUEST),
    (404, "Model not found", {}, ErrorKind.BAD_REQUEST),
    (413, "", {}, ErrorKind.BAD_REQUEST),
    (408, "", {}, ErrorKind.TIMEOUT),
    (500, '{"error":{"code":13,"message":"internal"}}', {}, ErrorKind.UPSTREAM),
    (502, "<html>bad gateway</html>", {}, ErrorKind.UPSTREAM),
    (503, "", {}, ErrorKind.UPSTREAM),
    (504, "", {}, ErrorKind.UPSTREAM),
    (302, "", {}, ErrorKind.UPSTREAM),
])
def test_classify_statuses(status: int, body: str, headers: dict[str, str], kind: ErrorKind) -> None:
    err = classify(status, body, headers)
    assert err.kind is kind
    assert err.status == status


def test_classify_keeps_the_message_and_hides_the_challenge_page() -> None:
    assert classify(401, '{"error":{"code":16,"message":"invalid-credentials"}}').message == "invalid-credentials"
    assert "Cloudflare" in classify(403, CF_HTML).message
    assert "<html" not in classify(403, CF_HTML).message


@pytest.mark.parametrize(("body", "headers", "wait", "remaining"), [
    ('{"error":{"code":8,"message":"Too many requests"}}', {"Retry-After": "30"}, 30.0, None),
    ('{"error":{"code":8,"message":"Too many requests"}}', {"retry-after": "2.5"}, 2.5, None),
    ('{"windowSizeSeconds":86400,"remainingQueries":0,"totalQueries":30,"waitTimeSeconds":2429}', {}, 2429.0, 0),
    ('{"error":{"code":8,"message":"x","waitTimeSeconds":12,"remainingTokens":5}}', {}, 12.0, 5),
    ('{"remainingTokens":-1}', {}, 0.0, -1),
    ("not json", {}, 0.0, None),
])
def test_rate_limit_wait_and_remaining(body: str, headers: dict[str, str], wait: float, remaining: int | None) -> None:
    err = classify(429, body, headers)
    assert err.kind is ErrorKind.RATE_LIMITED
    assert err.retry_after == wait
    assert err.remaining == remaining


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412460.0) == 20.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("soon") == 0.0
    assert parse_retry_after("") == 0.0


@pytest.mark.parametrize(("error", "kind"), [
    ({"message": "You've reached your usage limit. Please try again later."}, ErrorKind.RATE_LIMITED),
    ({"message": "usage quota exceeded"}, ErrorKind.RATE_LIMITED),
    ({"code": 8, "message": "whatever"}, ErrorKind.RATE_LIMITED),
    ({"err_code": "rate_limit_exceeded", "err_msg": "Too many requests"}, ErrorKind.RATE_LIMITED),
    ({"code": "anti_bot", "message": "anti-bot rejected"}, ErrorKind.ANTI_BOT),
    ({"code": 7, "message": "Request rejected by anti-bot rules.", "details": []}, ErrorKind.ANTI_BOT),
    ({"code": 7, "message": "This page is out of date. Reload to continue."}, ErrorKind.STALE_PAGE),
    # mgw session errors (§4): the conversation is gone; a fresh one elsewhere serves the request.
    ({"code": "conversation_not_found", "message": "conversation not found"}, ErrorKind.CONVERSATION_GONE),
    ({"code": "not_found", "message": "conversation not found"}, ErrorKind.CONVERSATION_GONE),
    # Peers' markers inside a 200 stream (C9).
    ({"message": "You have run out of media generation credits."}, ErrorKind.RATE_LIMITED),
    ({"code": "usagePoolExhausted", "message": "pool"}, ErrorKind.RATE_LIMITED),
    ({"code": 7, "message": "blocked-user"}, ErrorKind.AUTH),
    ({"code": 16, "message": "unauthenticated"}, ErrorKind.AUTH),
    ({"message": "invalid-credentials"}, ErrorKind.AUTH),
    ({"message": "Content violates usage guidelines. [SAFETY_CHECK_TYPE_X]"}, ErrorKind.MODERATED),
    ({"code": "content_moderated", "message": "image moderated"}, ErrorKind.MODERATED),
    ({"code": "invalid_request", "message": "conversation.item.create before session.created"},
     ErrorKind.BAD_REQUEST),
    ({"code": 3, "message": "bad field"}, ErrorKind.BAD_REQUEST),
    ({"code": 13, "message": "internal"}, ErrorKind.UPSTREAM),
    ("generation failed", ErrorKind.UPSTREAM),
    ({}, ErrorKind.UPSTREAM),
])
def test_classify_inband(error: object, kind: ErrorKind) -> None:
    assert classify_inband(error).kind is kind


# C9: typed StreamErrors, exactly as fakegrok sends them (REST modelResponse.streamErrors[0], mgw
# response.grok.output.stream_error) and in the other spellings peers report.
@pytest.mark.parametrize(("error", "kind"), [
    ({"kind": "STREAM_ERROR_KIND_USAGE_POOL_EXHAUSTED", "severity": "STREAM_ERROR_SEVERITY_ERROR",
      "message": "Your usage pool is exhausted."}, ErrorKind.RATE_LIMITED),
    ({"kind": "STREAM_ERROR_KIND_USAGE_LIMIT_REACHED", "severity": "STREAM_ERROR_SEVERITY_ERROR",
      "message": "You've reached your usage limit."}, ErrorKind.RATE_LIMITED),
    ({"kind": "STREAM_ERROR_KIND_CONCURRENCY_LIMIT", "severity": "STREAM_ERROR_SEVERITY_ERROR",
      "message": "Too many concurrent requests."}, ErrorKind.TRANSIENT),
    ({"kind": "STREAM_ERROR_KIND_GLOBAL_RATE_LIMIT", "severity": "STREAM_ERROR_SEVERITY_ERROR",
      "message": "Grok is experiencing high demand."}, ErrorKind.TRANSIENT),
    ({"kind": "STREAM_ERROR_KIND_CONTENT_MODERATED", "severity": "STREAM_ERROR_SEVERITY_ERROR",
      "message": "This content was moderated."}, ErrorKind.MODERATED),
    ({"kind": "STREAM_ERROR_KIND_MODEL_NOT_AVAILABLE", "severity": "STREAM_ERROR_SEVERITY_ERROR",
      "message": "This model is not available right now."}, ErrorKind.MODEL_UNAVAILABLE),
    ({"type": "concurrencyLimit", "message": "busy"}, ErrorKind.TRANSIENT),
    ({"errorKind": "model-not-available", "message": "x"}, ErrorKind.MODEL_UNAVAILABLE),
])
def test_typed_stream_errors(error: dict[str, str], kind: ErrorKind) -> None:
    err = classify_inband(error)
    assert err.kind is kind and err.message == error["message"]


@pytest.mark.parametrize(("status", "kind"), [
    (16, ErrorKind.AUTH), (8, ErrorKind.RATE_LIMITED), (3, ErrorKind.BAD_REQUEST), (4, ErrorKind.UPSTREAM),
    (14, ErrorKind.UPSTREAM), (13, ErrorKind.UPSTREAM),
])
def test_classify_grpc(status: int, kind: ErrorKind) -> None:
    assert classify_grpc(status, "msg").kind is kind


def test_grpc_7_follows_the_message() -> None:
    assert classify_grpc(7, "blocked-user").kind is ErrorKind.AUTH
    assert classify_grpc(7, "Request rejected by anti-bot rules.").kind is ErrorKind.ANTI_BOT
    assert [grpc_to_http(s) for s in (0, 16, 7, 8, 4, 14, 2)] == [200, 401, 403, 429, 504, 503, 502]


@pytest.mark.parametrize(("exc", "kind"), [
    (CurlError("Failed to perform, curl: (28) Operation timed out after 5000 ms", 28), ErrorKind.TIMEOUT),
    (CurlError("Failed to perform, curl: (7) Failed to connect to 127.0.0.1 port 1", 7), ErrorKind.NETWORK),
    (CurlConnectionError("Failed to perform, curl: (6) Could not resolve host", 6), ErrorKind.NETWORK),
    (CurlError("curl: (35) TLS connect error", 35), ErrorKind.NETWORK),
    (CurlError("curl: (92) HTTP/2 stream 1 was not closed cleanly", 92), ErrorKind.UPSTREAM),
    (CurlError("curl: (18) transfer closed with outstanding read data remaining", 18), ErrorKind.UPSTREAM),
    (asyncio.TimeoutError(), ErrorKind.TIMEOUT),
    (ConnectionResetError("reset"), ErrorKind.NETWORK),
])
def test_classify_exception(exc: BaseException, kind: ErrorKind) -> None:
    assert classify_exception(exc).kind is kind


def test_refused_upgrade_status_is_read_from_curl_text() -> None:
    exc = CurlError("Failed to perform, curl: (22) Refused WebSocket upgrade: 403. See https://curl.se/x", 22)
    assert upgrade_refused_status(exc) == 403
    assert upgrade_refused_status(CurlError("curl: (7) refused", 7)) == 0


def test_error_message_shapes() -> None:
    assert error_message('{"error":{"message":"a"}}') == "a"
    assert error_message('{"error":"b"}') == "b"
    assert error_message('{"message":"c"}') == "c"
    assert error_message("  plain\n text ") == "plain text"
    assert len(error_message("x" * 1000)) == 300
