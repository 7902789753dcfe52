"""Egresses: accounts bound, health, Cloudflare challenges and clearances per egress, and the drain action."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..edge.body import read_form, read_object
from ..egress.pool import EgressError
from . import render
from .view_models import AdminInputError, fmt_ago, optional_service, settings_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class EgressRow:
    """One egress as the page shows it."""

    id: str
    name: str
    kind: str
    state: str
    current: str
    accounts: int
    requests: int
    failures: int
    challenges: int
    solves: int
    solve_failures: int
    last_success: str
    last_challenge: str
    clearance: str
    last_error: str
    solve_error: str
    drainable: bool


def _pool(request: web.Request) -> Any:
    egresses = optional_service(request, "EGRESS")
    if egresses is None:
        raise AdminInputError("The egress pool is not running in this server.")
    return egresses


def _clearance(at: float, expires_at: float, now: float) -> str:
    if not at:
        return "none"
    age = fmt_ago(at, now).removesuffix(" ago")
    return f"{age} old, expires {fmt_ago(expires_at, now)}" if expires_at else f"{age} old"


def rows(egresses: Any, now: float) -> list[EgressRow]:
    out = []
    for v in egresses.snapshot():
        out.append(EgressRow(
            v.id, v.name, v.kind, v.state, v.current, v.accounts, v.requests, v.failures, v.challenges, v.solves,
            v.solve_failures, fmt_ago(v.last_success_at, now), fmt_ago(v.last_challenge_at, now),
            _clearance(v.clearance_at, v.clearance_expires_at, now), v.last_error, v.solve_error, v.kind != "direct"))
    return out


async def _context(request: web.Request, notice: str = "") -> dict[str, Any]:
    egresses = _pool(request)
    pool = optional_service(request, "POOL")
    if pool is not None:
        await pool.sync()  # bindings another worker stored a moment ago
        egresses.sync_bindings((a.id, a.egress) for a in pool.accounts())
    unbound = sum(1 for a in pool.accounts() if not a.egress) if pool is not None else 0
    s = settings_of(request)
    return {"rows": rows(egresses, time.time()), "unbound": unbound, "notice": notice,
            "solver": s.proxy.clearance_solver_url, "threshold": s.proxy.egress_fail_threshold}


@routes.get("/egress", name="admin.egress")
async def egress_page(request: web.Request) -> web.StreamResponse:
    return render.page(request, "admin/egress.html", await _context(request), fragment="admin/_egress_table.html")


async def _drain(request: web.Request, which: str, on: bool) -> tuple[int, str]:
    egresses = _pool(request)
    try:
        moved = await egresses.drain(which, on)
        name = egresses.find(which).name
    except EgressError as exc:
        raise AdminInputError(str(exc)) from None
    if on:
        return moved, f"{name} drained: {moved} accounts moved to the other egresses."
    return moved, f"{name} takes new accounts again."


@routes.post("/egress/{id}/drain", name="admin.egress_drain")
async def egress_drain(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    _, notice = await _drain(request, request.match_info["id"], str(form.get("on", "1")) == "1")
    return render.fragment(request, "admin/_egress_table.html", await _context(request, notice))


@api_routes.get("/egress", name="api.egress")
async def api_egress(request: web.Request) -> web.StreamResponse:
    ctx = await _context(request)
    return web.json_response({"data": [dataclasses.asdict(v) for v in _pool(request).snapshot()],
                              "unbound_accounts": ctx["unbound"], "solver": bool(ctx["solver"])})


@api_routes.post("/egress/drain", name="api.egress_drain")
async def api_egress_drain(request: web.Request) -> web.StreamResponse:
    """`{"egress": name or id, "drain": true|false}` → how many accounts moved."""
    body = await read_object(request)
    which, on = body.get("egress"), body.get("drain", True)
    if not isinstance(which, str) or not which or not isinstance(on, bool):
        raise AdminInputError('send {"egress": "<name or id>", "drain": true|false}')
    moved, message = await _drain(request, which, on)
    return web.json_response({"moved": moved, "message": message,
                              "data": [dataclasses.asdict(v) for v in _pool(request).snapshot()]})
