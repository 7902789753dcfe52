"""Domain errors raised deep, and their OpenAI / Anthropic / HTML envelopes at the edge."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error a client should see, with the status and OpenAI type/code it maps to."""

    status = 400
    type = "invalid_request_error"
    code: str | None = None
    # Set once the request log has this error (the gateway records its own failures): the edge then
    # records only the others, so each refused request is one log line.
    recorded = False

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class InvalidRequest(ApiError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(ApiError):
    # OpenAI's own 401 is an invalid_request_error whose code says what was wrong
    # (Anthropic's envelope maps the status to authentication_error).
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(ApiError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(ApiError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(ApiError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class RequestTooLarge(ApiError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(ApiError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.headers.setdefault("Retry-After", str(max(1, int(retry_after + 0.999))))


class UpstreamFailed(ApiError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class ServiceUnavailable(ApiError):
    status = 503
    type = "service_unavailable"
    code = "no_available_account"


class UpstreamTimeout(ApiError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


def openai_error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# Anthropic's error types by HTTP status (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str, request_id: str) -> dict[str, Any]:
    """Anthropic's error body; `request_id` is the answer's X-Request-Id, as Anthropic's own is."""
    return {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
            "request_id": request_id}
