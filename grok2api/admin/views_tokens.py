"""Tokens page: the account table, import, row edits, batch actions with live progress, export."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ..catalog import TIERS
from ..edge.body import read_form
from ..keys import ADMIN_STATE
from ..pool import ops as pool_ops
from ..pool.model import Account
from ..pool.moves import PoolChange
from ..pool.options import PoolConfig
from ..pool.refresher import refresh_account
from ..storage.base import ACCOUNT_STATUSES
from . import render
from .batch import KIND_LABELS
from .pool_summary import tokens_summary
from .sse import sse_response
from .token_actions import change_pool, export_response, plan_batch, run_plan
from .upstream_ops import upstream_actions
from .view_models import (
    AdminInputError,
    TokenFilter,
    list_tokens,
    matching_ids,
    parse_tags,
    settings_of,
    storage_of,
    token_row,
)

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()  # the tokens JSON API lives in api_tokens.py

MAX_IMPORT_BYTES = 32 * 1024 * 1024


def _ctx(page: object) -> dict[str, object]:
    return {"page": page, "pools": TIERS, "statuses": ACCOUNT_STATUSES, "actions": KIND_LABELS}


@routes.get("/tokens", name="admin.tokens")
async def tokens_page(request: web.Request) -> web.StreamResponse:
    flt = TokenFilter.from_query(request.query)
    result = await list_tokens(storage_of(request), flt)
    ctx = _ctx(result)
    if not render.is_htmx(request):
        ctx["summary"] = await tokens_summary(request)
    return render.page(request, "admin/tokens.html", ctx, fragment="admin/_tokens_table.html")


# -- import --------------------------------------------------------------------
async def _import_text(request: web.Request) -> tuple[str, str]:
    form = await read_form(request)
    pool = str(form.get("pool") or "basic")
    parts = [str(form.get("text") or "")]
    upload = form.get("file")
    if isinstance(upload, web.FileField):
        data = upload.file.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise AdminInputError("the file is larger than 32 MB; split it")
        try:
            parts.append(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise AdminInputError(f"{upload.filename} is not UTF-8 text") from None
    texts = [p for p in parts if p.strip()]
    if not texts:
        raise AdminInputError("paste tokens or choose a .txt or .json file")
    if len(texts) == 2 and texts[1].lstrip()[:1] in ("{", "["):
        raise AdminInputError("import a JSON file on its own (leave the text box empty)")
    return "\n".join(texts), pool


@routes.post("/tokens/import", name="admin.tokens_import")
async def tokens_import(request: web.Request) -> web.StreamResponse:
    text, pool = await _import_text(request)
    try:
        result = await pool_ops.import_tokens(storage_of(request), text, default_pool=pool,
                                              config=PoolConfig.from_settings(settings_of(request)))
    except ValueError as exc:
        raise AdminInputError(str(exc)) from None
    return render.fragment(request, "admin/_import_result.html", {"result": result},
                           headers={"HX-Trigger": "tokens-changed"})


@routes.get("/tokens/summary", name="admin.tokens_summary")
async def tokens_summary_view(request: web.Request) -> web.StreamResponse:
    return render.fragment(request, "admin/_tokens_summary.html", {"summary": await tokens_summary(request)})


# -- one account ------------------------------------------------------------------
async def _row(request: web.Request, account_id: str, *, editing: bool = False, notice: str = "",
               failed: bool = False, headers: dict[str, str] | None = None) -> web.Response:
    rec = await storage_of(request).get_account(account_id)
    if rec is None:
        raise web.HTTPNotFound(text="That account no longer exists.")
    return render.fragment(request, "admin/_token_row.html", {
        "row": token_row(rec, time.time()), "editing": editing, "pools": TIERS, "notice": notice,
        "failed": failed}, headers=headers)


def pool_notice(change: PoolChange) -> tuple[str, bool]:
    """What the row says after a pool change: moved and re-read, or why the quotas were not read."""
    if not change.moved:
        return "", False
    if change.errors:
        return f"moved to {change.pool}; quotas not re-read: {next(iter(change.errors.values()))}", True
    return f"moved to {change.pool}; quotas re-read from grok.com", False


@routes.get("/tokens/{id}/edit", name="admin.tokens_edit")
async def token_edit_form(request: web.Request) -> web.StreamResponse:
    return await _row(request, request.match_info["id"], editing=True)


@routes.get("/tokens/{id}", name="admin.tokens_row")
async def token_row_view(request: web.Request) -> web.StreamResponse:
    return await _row(request, request.match_info["id"])


@routes.post("/tokens/{id}/edit", name="admin.tokens_save")
async def token_save(request: web.Request) -> web.StreamResponse:
    aid = request.match_info["id"]
    form = await read_form(request)
    note = str(form.get("note", "")).strip()
    if len(note) > 200:
        raise AdminInputError("the note is longer than 200 characters")
    storage = storage_of(request)
    if not await pool_ops.set_note(storage, aid, note):
        raise web.HTTPNotFound(text="That account no longer exists.")
    await pool_ops.set_tags(storage, aid, parse_tags(str(form.get("tags", ""))))
    notice, failed = "", False
    if form.get("pool"):
        notice, failed = pool_notice(await change_pool(request, aid, str(form["pool"])))
    return await _row(request, aid, notice=notice, failed=failed,
                      headers={"HX-Trigger": "tokens-summary"} if notice else None)


@routes.post("/tokens/{id}/refresh", name="admin.tokens_refresh_one")
async def token_refresh(request: web.Request) -> web.StreamResponse:
    """Re-read one account's quotas from grok.com now; the row says how it went."""
    aid = request.match_info["id"]
    storage = storage_of(request)
    rec = await storage.get_account(aid)
    if rec is None:
        raise web.HTTPNotFound(text="That account no longer exists.")
    if rec.status == "disabled":
        return await _row(request, aid, notice="disabled: enable it to read its quotas", failed=True)
    config = PoolConfig.from_settings(settings_of(request))
    result = await refresh_account(storage, Account.from_record(rec), upstream_actions(request).fetch_limits,
                                   config, time.time())
    await pool_ops.published(storage)
    notice = "quotas re-read from grok.com" if result.ok else f"refresh failed: {result.error}"
    return await _row(request, aid, notice=notice, failed=not result.ok, headers={"HX-Trigger": "tokens-summary"})


@routes.post("/tokens/{id}/token", name="admin.tokens_copy")
async def token_copy(request: web.Request) -> web.StreamResponse:
    """The full token, for the row's Copy button to put on the clipboard: never rendered in a page,
    only answered to this POST (CSRF-checked, no-store), like an export of one account."""
    rec = await storage_of(request).get_account(request.match_info["id"])
    if rec is None:
        raise web.HTTPNotFound(text="That account no longer exists.")
    return web.Response(text=rec.token, content_type="text/plain", headers={"Cache-Control": "no-store"})


@routes.post("/tokens/{id}/enable", name="admin.tokens_enable")
@routes.post("/tokens/{id}/disable", name="admin.tokens_disable")
async def token_toggle(request: web.Request) -> web.StreamResponse:
    aid = request.match_info["id"]
    enabled = request.path.endswith("/enable")
    if not await pool_ops.set_enabled(storage_of(request), [aid], enabled):
        raise web.HTTPNotFound(text="That account no longer exists.")
    return await _row(request, aid)


@routes.post("/tokens/{id}/delete", name="admin.tokens_delete")
async def token_delete(request: web.Request) -> web.StreamResponse:
    await pool_ops.delete_accounts(storage_of(request), [request.match_info["id"]])
    return web.Response(text="", content_type="text/html", headers={"HX-Trigger": "tokens-changed"})


# -- batch actions and export -------------------------------------------------------
async def _selected_ids(request: web.Request, form: MultiDictProxy[Any]) -> list[str]:
    """The ticked rows, or every account matching the filters sent along (scope=all)."""
    if str(form.get("scope", "selected")) == "all":
        flt = TokenFilter.from_query({k: str(v) for k, v in form.items() if isinstance(v, str)})
        return await matching_ids(storage_of(request), flt)
    return list(dict.fromkeys(str(i) for i in form.getall("ids", [])))


_FILTER_FIELDS = ("pool", "status", "tag", "nsfw", "q")


@routes.post("/tokens/batch", name="admin.tokens_batch")
async def tokens_batch(request: web.Request) -> web.StreamResponse:
    """First a confirmation saying how many accounts the action touches and which it skips (and why);
    the confirmation posts back with `confirm=1` and the job starts."""
    form = await read_form(request)
    action = str(form.get("action", ""))
    plan = await plan_batch(request, action, await _selected_ids(request, form))
    if form.get("confirm") != "1":
        scope = "all" if str(form.get("scope", "selected")) == "all" else "selected"
        carried = ([(k, str(form[k])) for k in _FILTER_FIELDS if form.get(k)] if scope == "all"
                   else [("ids", str(i)) for i in dict.fromkeys(form.getall("ids", []))])
        return render.fragment(request, "admin/_batch_confirm.html", {
            "plan": plan, "fields": [("action", action), ("scope", scope), ("confirm", "1"), *carried]})
    job = await run_plan(request, plan)
    return render.fragment(request, "admin/_batch.html", {"job": job, "poll": False})


@routes.get("/batch/{id}", name="admin.batch")
async def batch_view(request: web.Request) -> web.StreamResponse:
    """The job's card; `?poll=1` renders it polling itself every second (the page's fallback when its
    event stream fails) until the job ends."""
    job = await request.config_dict[ADMIN_STATE].batches.get(request.match_info["id"])
    if job is None:
        raise web.HTTPNotFound(text="That batch job is unknown or expired.")
    return render.fragment(request, "admin/_batch.html", {"job": job, "poll": request.query.get("poll") == "1"})


@routes.get("/batch/{id}/stream", name="admin.batch_stream")
async def batch_stream(request: web.Request) -> web.StreamResponse:
    """SSE for the htmx sse extension: each event's data is the re-rendered progress fragment."""
    manager = request.config_dict[ADMIN_STATE].batches
    job_id = request.match_info["id"]
    if await manager.get(job_id) is None:
        raise web.HTTPNotFound(text="That batch job is unknown or expired.")
    resp = await sse_response(request)
    async for job in manager.watch(job_id):
        html = render.render_string(request, "admin/_batch_progress.html", {"job": job})
        await resp.send("progress", html)
        if job.finished:  # the whole card again, finished: no Cancel, the summary, the table reloads
            await resp.send("done", render.render_string(request, "admin/_batch.html", {"job": job, "poll": False}))
    await resp.close()
    return resp.response


@routes.post("/batch/{id}/cancel", name="admin.batch_cancel")
async def batch_cancel(request: web.Request) -> web.StreamResponse:
    manager = request.config_dict[ADMIN_STATE].batches
    job_id = request.match_info["id"]
    if not await manager.stop(job_id):
        raise AdminInputError("this job is not running in this server process (finished, or run by another worker)")
    job = await manager.get(job_id)
    return render.fragment(request, "admin/_batch.html", {"job": job, "poll": False})


@routes.post("/tokens/export", name="admin.tokens_export")
async def tokens_export(request: web.Request) -> web.StreamResponse:
    """A download (never HTML): the export holds full tokens so it can be imported back."""
    form = await read_form(request)
    ids = await _selected_ids(request, form)
    fmt = str(form.get("format", "json"))
    return await export_response(request, ids, fmt)


