"""The control API under `/_fake/`: accounts, scenario switches, pacing config, request record, reset."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from aiohttp import web

from .keys import FAKE_STATE
from .state import FakeState


def _fail(message: str, status: int = 400) -> web.HTTPException:
    kind = web.HTTPNotFound if status == 404 else web.HTTPBadRequest
    return kind(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.body_exists else {}
    except ValueError:
        raise _fail("malformed JSON") from None
    if not isinstance(body, dict):
        raise _fail("body must be a JSON object")
    return body


def _switches_json(state: FakeState, token: str | None) -> dict[str, Any]:
    table = state.global_switches if token is None else state.account(token).switches
    return {name: dataclasses.asdict(s) for name, s in table.items()}


async def get_state(request: web.Request) -> web.Response:
    state, now = request.app[FAKE_STATE], time.time()
    return web.json_response({
        "config": state.config.to_json(), "switches": _switches_json(state, None),
        "accounts": [a.to_json(now) for a in state.accounts.values()],
        "counts": {"assets": len(state.assets), "conversations": len(state.conversations),
                   "posts": len(state.posts), "records": len(state.records)}})


async def list_accounts(request: web.Request) -> web.Response:
    state, now = request.app[FAKE_STATE], time.time()
    token = request.query.get("token")
    if token is not None:
        if token not in state.accounts:
            raise _fail("no such account", 404)
        return web.json_response(state.accounts[token].to_json(now))
    return web.json_response({"accounts": [a.to_json(now) for a in state.accounts.values()]})


async def upsert_account(request: web.Request) -> web.Response:
    """`{"token", "tier"?, "quotas"?: {bucket: n | {remaining,total,window}}, "nsfw"?, "tos_version"?,
    "birth_date"?, "grpc_tos_accepted"?, "switches"?}` → the account."""
    state, body = request.app[FAKE_STATE], await _body(request)
    token = body.pop("token", None)
    if not isinstance(token, str) or not token:
        raise _fail("token (string) is required")
    switches = body.pop("switches", None)
    try:
        account = state.upsert_account(token, body.pop("tier", None), body.pop("quotas", None), **body)
        if switches is not None:
            if not isinstance(switches, dict):
                raise ValueError("switches must be an object")
            state.set_switches(token, switches)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return web.json_response(account.to_json(time.time()))


async def set_scenarios(request: web.Request) -> web.Response:
    """`{"token"?: sso, "switches": {name: true | value | {"value", "times"} | false/null}}`."""
    state, body = request.app[FAKE_STATE], await _body(request)
    token, switches = body.get("token"), body.get("switches")
    if token is not None and not isinstance(token, str):
        raise _fail("token must be a string")
    if not isinstance(switches, dict):
        raise _fail("switches must be an object")
    try:
        state.set_switches(token, switches)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return web.json_response({"token": token, "switches": _switches_json(state, token),
                              "global": _switches_json(state, None)})


async def clear_scenarios(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    state.global_switches.clear()
    for account in state.accounts.values():
        account.switches.clear()
    return web.json_response({})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAKE_STATE].config.to_json())


async def patch_config(request: web.Request) -> web.Response:
    """Partial update of FakeConfig, e.g. `{"first_frame_delay": 0.3, "token_interval": 0.02}`."""
    state, body = request.app[FAKE_STATE], await _body(request)
    try:
        state.config.update(body)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return web.json_response(state.config.to_json())


async def get_requests(request: web.Request) -> web.Response:
    """The request record, oldest first; filters `path` (prefix), `method`, `token`, `limit` (newest N)."""
    state, query = request.app[FAKE_STATE], request.query
    records = list(state.records)
    if "path" in query:
        records = [r for r in records if r["path"].startswith(query["path"])]
    if "method" in query:
        records = [r for r in records if r["method"] == query["method"].upper()]
    if "token" in query:
        records = [r for r in records if r["cookies"].get("sso") == query["token"]]
    if "limit" in query:
        try:
            records = records[-int(query["limit"]):]
        except ValueError:
            raise _fail("limit must be an integer") from None
    return web.json_response({"requests": records})


async def clear_requests(request: web.Request) -> web.Response:
    request.app[FAKE_STATE].records.clear()
    return web.json_response({})


async def reset(request: web.Request) -> web.Response:
    request.app[FAKE_STATE].reset()
    return web.json_response({})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/_fake/state", get_state),
        web.get("/_fake/accounts", list_accounts),
        web.post("/_fake/accounts", upsert_account),
        web.post("/_fake/scenarios", set_scenarios),
        web.delete("/_fake/scenarios", clear_scenarios),
        web.get("/_fake/config", get_config),
        web.patch("/_fake/config", patch_config),
        web.get("/_fake/requests", get_requests),
        web.delete("/_fake/requests", clear_requests),
        web.post("/_fake/reset", reset),
    ]
