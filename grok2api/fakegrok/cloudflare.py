"""Cloudflare in front of the fake: the gate that demands a clearance bound to the caller's address and
User-Agent under `FakeConfig.cloudflare_binding`, and the control calls that mint and revoke them."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .guards import cloudflare
from .keys import FAKE_STATE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def cloudflare_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With `cloudflare_binding` on, every call (WebSocket handshakes too) must present a cf_clearance
    minted for its client address and User-Agent; anything else gets the challenge page."""
    state = request.app[FAKE_STATE]
    if not state.config.cloudflare_binding or request.path.startswith("/_fake/"):
        return await handler(request)
    address = request.remote or ""
    value = request.cookies.get("cf_clearance", "")
    if not state.clearances.honoured(value, address, request.headers.get("User-Agent", ""), time.time()):
        state.clearances.challenged(address)
        return cloudflare()
    return await handler(request)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.body_exists else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


async def mint(request: web.Request) -> web.Response:
    """`{"address"?, "user_agent"?, "ttl"?}` → a clearance for that address and User-Agent (default:
    the caller's own, so a solver calling through an egress earns one for the egress), also set as
    cookies the way Cloudflare sets them after a solved challenge."""
    state, body = request.app[FAKE_STATE], await _body(request)
    address = body.get("address", request.remote or "")
    user_agent = body.get("user_agent", request.headers.get("User-Agent", ""))
    ttl = body.get("ttl", state.config.clearance_seconds)
    if not isinstance(address, str) or not isinstance(user_agent, str) or not user_agent:
        raise web.HTTPBadRequest(text=json.dumps({"error": "address and user_agent must be non-empty strings"}),
                                 content_type="application/json")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        raise web.HTTPBadRequest(text=json.dumps({"error": "ttl must be a positive number of seconds"}),
                                 content_type="application/json")
    now = time.time()
    value = state.clearances.mint(address, user_agent, float(ttl), now)
    resp = web.json_response({"cf_clearance": value, "address": address, "user_agent": user_agent,
                              "expires_at": now + float(ttl)})
    resp.set_cookie("cf_clearance", value, max_age=int(ttl), path="/", httponly=True, secure=True, samesite="None")
    resp.set_cookie("__cf_bm", secrets.token_urlsafe(32), max_age=1800, path="/", httponly=True, secure=True,
                    samesite="None")
    return resp


async def revoke(request: web.Request) -> web.Response:
    """`?address=` revokes one address's clearances; without it, every clearance."""
    address = request.query.get("address")
    return web.json_response({"revoked": request.app[FAKE_STATE].clearances.revoke(address)})


async def listing(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAKE_STATE].clearances.to_json(time.time()))


def routes() -> list[web.RouteDef]:
    return [
        web.post("/_fake/clearance", mint),
        web.delete("/_fake/clearance", revoke),
        web.get("/_fake/clearance", listing),
    ]
