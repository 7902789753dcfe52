"""Tokens page "Upstream check": the doctor run for the selected accounts, its table streamed row by row over SSE.

The POST stores what to check (account ids, never tokens) as a storage document and answers the table
with every planned step pending; the SSE stream (any worker may serve it) claims the run with a storage
lock, runs the doctor with a Grok client of its own and sends each row as its step finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from aiohttp import web

from ..doctor import Doctor, FixedEgress, Options, Result, budget, own_client, plan
from ..doctor.plan import DEFAULT_MODES
from ..edge.body import read_form
from ..keys import CAPTURE, CATALOG, EGRESS, GROK_CLIENT, PROXIES, WORKER_ID
from ..pool.model import mask_token
from . import render
from .sse import EventStream, sse_response
from .view_models import AdminInputError, storage_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

DOC_NS = "admin_doctor"
DOC_TTL_SEC = 900.0  # a run not started within this is forgotten
MAX_ACCOUNTS = 5  # each account costs up to the plan's requests: keep a click bounded
KEEPALIVE_SEC = 15.0


def _base(request: web.Request) -> Any:
    base = request.config_dict.get(GROK_CLIENT)
    if base is None:
        raise AdminInputError("The upstream Grok client is not running in this server, so the upstream check "
                              "is unavailable.")
    return base


async def _client(request: web.Request, account_id: str, bound: str) -> Any:
    """A client of its own on the gateway's config, leaving through the account's egress with that egress's
    clearance (as the gateway's calls for it do); transcripts too, when capture.enabled."""
    capture = request.config_dict.get(CAPTURE)
    taps = (capture,) if capture is not None else ()
    egresses = request.config_dict.get(EGRESS)
    if egresses is None:
        return own_client(_base(request), request.config_dict.get(PROXIES), taps)
    proxy = await egresses.route(account_id, bound)
    return own_client(_base(request), FixedEgress(proxy or ""), taps, hooks=egresses)


def _options(request: web.Request, media: bool) -> Options:
    catalog = request.config_dict.get(CATALOG)
    modes = tuple(dict.fromkeys(r.mode for r in catalog.all() if r.kind == "chat" and r.mode)) if catalog else ()
    base = request.config_dict.get(GROK_CLIENT)
    strategies = base.config.statsig_strategies if base is not None else Options().strategies
    return Options(media=media, modes=modes or DEFAULT_MODES, strategies=strategies)


@routes.post("/tokens/check", name="admin.tokens_check")
async def start_check(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    ids = list(dict.fromkeys(str(i) for i in form.getall("ids", [])))
    if not ids:
        raise AdminInputError("no account selected: tick the rows to check")
    if len(ids) > MAX_ACCOUNTS:
        raise AdminInputError(f"select at most {MAX_ACCOUNTS} accounts for one upstream check (each spends up to "
                              f"a few dozen requests)")
    storage = storage_of(request)
    accounts = []
    for account_id in ids:
        rec = await storage.get_account(account_id)
        if rec is None:
            raise AdminInputError(f"account {account_id} no longer exists")
        accounts.append({"id": rec.id, "label": mask_token(rec.token), "pool": rec.pool})
    media = str(form.get("media", "")) in ("1", "on", "true")
    steps = plan(_base(request).config, _options(request, media))
    run_id = secrets.token_urlsafe(9)
    await storage.doc_put(DOC_NS, run_id, {"accounts": accounts, "media": media}, ttl_sec=DOC_TTL_SEC)
    return render.fragment(request, "admin/_doctor.html", {
        "run_id": run_id, "accounts": accounts, "steps": steps, "planned": budget(steps)[0]})


async def _keepalive(stream: EventStream) -> None:
    while await stream.comment():
        await asyncio.sleep(KEEPALIVE_SEC)


@routes.get("/doctor/{id}/stream", name="admin.doctor_stream")
async def check_stream(request: web.Request) -> web.StreamResponse:
    """Rows as `r<account>-<step>` events, a summary per account as `s<account>`, then `done`."""
    storage = storage_of(request)
    run_id = request.match_info["id"]
    doc = await storage.doc_get(DOC_NS, run_id)
    if doc is None:
        raise web.HTTPNotFound(text="That upstream check is unknown or expired.")
    stream = await sse_response(request)
    if not await storage.acquire_lock(f"doctor:{run_id}", request.config_dict[WORKER_ID], DOC_TTL_SEC):
        await stream.send("done", '<p class="notice">This upstream check already ran; start a new one.</p>')
        await stream.close()
        return stream.response
    keepalive = asyncio.create_task(_keepalive(stream))
    try:
        for index, account in enumerate(doc["accounts"]):
            if not await _check_account(request, stream, index, account, bool(doc.get("media"))):
                break  # the page went away: spend nothing more
        else:
            await stream.send("done", '<p class="muted doctor-done">Upstream check finished.</p>')
    finally:
        keepalive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keepalive
        await storage.doc_delete(DOC_NS, run_id)
    await stream.close()
    return stream.response


async def _check_account(request: web.Request, stream: EventStream, index: int, account: dict[str, Any],
                         media: bool) -> bool:
    """One account's rows and summary; False once the page stopped listening."""
    rec = await storage_of(request).get_account(str(account["id"]))
    if rec is None:
        return await stream.send(f"s{index}", '<span class="error">This account no longer exists.</span>')
    client = await _client(request, rec.id, rec.egress)
    try:
        doctor = Doctor(client, rec.token, _options(request, media), catalog=request.config_dict.get(CATALOG),
                        account=str(account["label"]))
        async for result in doctor.run():
            if not await stream.send(f"r{index}-{result.id}", _row(request, result)):
                return False
    finally:
        await client.close()
    report = doctor.report
    return await stream.send(f"s{index}", render.render_string(request, "admin/_doctor_summary.html",
                                                               {"report": report}))


def _row(request: web.Request, result: Result) -> str:
    return render.render_string(request, "admin/_doctor_row.html", {"row": result})
