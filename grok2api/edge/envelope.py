"""Request id and the one error middleware: OpenAI, Anthropic or admin shapes by path."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import ApiError, anthropic_error, openai_error
from ..keys import REQUEST_ID

log = logging.getLogger(__name__)



def is_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages")


def error_response(request: web.Request, status: int, message: str, type_: str,
                   code: str | None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """Render an error in the caller's own format."""
    path = request.path
    body: dict[str, Any]
    if is_anthropic(path):
        body = anthropic_error(status, message, request.get(REQUEST_ID, ""))
    else:
        body = openai_error(message, type_, code, param)
    resp = web.json_response(body, status=status, headers=headers)
    return resp


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id", "")
    # Accept a caller's id only when it is short and printable; otherwise make our own.
    if not rid or len(rid) > 64 or not rid.isprintable():
        rid = secrets.token_hex(8)
    request[REQUEST_ID] = rid
    resp = await handler(request)
    if not resp.prepared:
        resp.headers["X-Request-Id"] = rid
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(request, exc.status, exc.message, exc.type, exc.code, exc.param, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path.startswith("/admin") or request.path.startswith("/static"):
            raise
        type_ = "invalid_request_error" if exc.status < 500 else "server_error"
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status)
        message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
        return error_response(request, exc.status, message, type_, code, headers={
            k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")})
    except Exception:
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path,
                      request.get(REQUEST_ID, "-"))
        return error_response(request, 500, "internal server error; see the server log for request "
                              + str(request.get(REQUEST_ID, "-")), "server_error", "internal_error")
