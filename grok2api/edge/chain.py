"""The edge as one middleware and one prepare hook: request id, metrics, CORS, errors, limits, API key."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..config.settings import Settings
from ..errors import ApiError
from ..keys import API_KEYS, CLIENT_IP, KEY_LIMITS, LIMITER, LIVE_SETTINGS, METRICS, REQUEST_ID, STARTED_AT_REQ
from ..stats.metrics import unmetered
from . import api_auth, hygiene, rate_limit
from .client_ip import client_ip
from .envelope import error_response, http_error_response, internal_error_response, request_id

# One middleware instead of a chain of seven: aiohttp wraps each middleware in a partial and a
# coroutine per request, and each used to look its objects up through request.config_dict (a new
# ChainMapProxy per call). The steps and their nesting are the chain's, outermost first:
#   request id      every answer, errors included, carries X-Request-Id
#   metrics         counts every request, rejected ones too (not an UNMETERED sub-app's)
#   hygiene         arrival time; CORS preflights answered here
#   error envelope  domain errors -> the client's error envelope
#   per-IP limit    before any body is read; a refused API request is recorded once
#   body limit      413 before a handler reads the body
#   API key         innermost: the key, its per-key limits and concurrency slot


def edge_middleware(app: web.Application) -> Middleware:
    """The root app's middleware; it reads the app's objects directly (in the root's own middleware
    request.config_dict is a view of this one app)."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request[REQUEST_ID] = request_id(request)
        if unmetered(request):
            resp = await _answer(app, request, handler)
        else:
            metrics = app[METRICS]
            started = time.perf_counter()
            status = 500
            metrics.in_flight.inc()
            try:
                resp = await _answer(app, request, handler)
                status = resp.status
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                metrics.in_flight.dec()
                metrics.on_http(request, status, time.perf_counter() - started)
        if not resp.prepared:
            resp.headers["X-Request-Id"] = rid
        return resp

    return edge


async def _answer(app: web.Application, request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hygiene and the error envelope around the admitted handler."""
    request[STARTED_AT_REQ] = time.perf_counter()
    settings = app[LIVE_SETTINGS].current
    if hygiene.is_preflight(request):
        return hygiene.preflight(request, settings.security.cors_allow_origins)
    try:
        return await _admitted(app, settings, request, handler)
    except ApiError as exc:
        return error_response(request, exc.status, exc.message, exc.type, exc.code, exc.param, exc.headers)
    except web.HTTPException as exc:
        answer = http_error_response(request, exc)
        if answer is None:
            raise
        return answer
    except Exception:
        return internal_error_response(request)


async def _admitted(app: web.Application, settings: Settings, request: web.Request,
                    handler: Handler) -> web.StreamResponse:
    """The per-IP limit, the body limit and the API key, then the handler (one settings snapshot)."""
    s = settings.security
    ip = request[CLIENT_IP] = client_ip(request, s.trusted_proxy_ips)
    try:
        await rate_limit.admit(request, ip, s, app[LIMITER])
        refused = hygiene.declared_too_large(request, s.max_body_size_mb)
        if refused is not None:
            raise refused
        try:
            record = await api_auth.admit(request, settings, app[API_KEYS], app[KEY_LIMITS])
            if record is None:
                return await handler(request)
            async with app[KEY_LIMITS].slot(record):
                return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            raise hygiene.too_large(s.max_body_size_mb) from None
    except ApiError as exc:
        await rate_limit.note_refusal(request, ip, exc)
        raise


def prepare_hook(app: web.Application) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """on_response_prepare of the root app: the headers every response gets, and the time to them."""

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        hygiene.decorate_response(request, response, app[LIVE_SETTINGS].current.security.cors_allow_origins)
        started = request.get(STARTED_AT_REQ)
        if started is not None and not unmetered(request):
            app[METRICS].overhead.observe(time.perf_counter() - started)

    return on_prepare
