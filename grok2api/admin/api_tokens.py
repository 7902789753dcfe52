"""The tokens JSON API (/api/v1/admin/tokens, /batch): adds merge, never replace the pool."""

from __future__ import annotations

import json
import time

from aiohttp import web

from ..edge.body import read_object
from ..keys import ADMIN_STATE
from ..pool import ops as pool_ops
from ..pool.options import PoolConfig
from ..storage.base import account_id_for
from .batch import JobState
from .sse import sse_response
from .token_actions import change_pool, export_response, start_batch
from .view_models import AdminInputError, TokenFilter, matching_ids, settings_of, storage_of, token_row

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()


async def _json(request: web.Request) -> dict[str, object]:
    return await read_object(request, empty_ok=True)


def _ids_from_body(body: dict[str, object]) -> list[str] | None:
    """Accounts named by id (`ids`) or by raw token (`token`/`tokens`, the seed's form); None = all."""
    ids: list[str] = []
    for key in ("ids", "tokens"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AdminInputError(f"`{key}` must be a list of strings")
            ids.extend(value if key == "ids" else [account_id_for(t.strip()) for t in value])
    if isinstance(body.get("token"), str):
        ids.append(account_id_for(str(body["token"]).strip()))
    return ids or None


@api_routes.get("/tokens", name="api.tokens")
async def api_tokens(request: web.Request) -> web.StreamResponse:
    q = dict(request.query)
    try:
        offset, limit = int(q.get("offset", 0)), min(1000, max(1, int(q.get("limit", 100))))
    except ValueError:
        raise AdminInputError("offset and limit must be integers") from None
    flt = TokenFilter.from_query(q)
    records, total = await storage_of(request).list_accounts(flt.query(offset=offset, limit=limit))
    now = time.time()
    return web.json_response({"total": total, "offset": offset, "limit": limit,
                              "items": [token_row(r, now).to_json() for r in records]})


@api_routes.post("/tokens", name="api.tokens_add")
async def api_tokens_add(request: web.Request) -> web.StreamResponse:
    """Adds or merges; accounts not in the body are never touched (no full replace)."""
    body = await _json(request)
    pool = str(body.get("pool") or "basic")
    if "tokens" in body:
        tokens = body["tokens"]
        if not isinstance(tokens, list) or not all(isinstance(t, (str, dict)) for t in tokens):
            raise AdminInputError("`tokens` must be a list of token strings or {token, pool, tags, note} objects")
        text = json.dumps(tokens) if any(isinstance(t, dict) for t in tokens) else "\n".join(tokens)
    elif isinstance(body.get("text"), str):
        text = str(body["text"])
    else:
        # The seed's {ssoBasic: [...], ssoSuper: [...]} map, merged the same way.
        text = json.dumps(body)
    try:
        result = await pool_ops.import_tokens(storage_of(request), text, default_pool=pool,
                                              config=PoolConfig.from_settings(settings_of(request)))
    except ValueError as exc:
        raise AdminInputError(str(exc)) from None
    return web.json_response({"status": "success", "added": result.added, "updated": result.updated,
                              "skipped": result.skipped, "ids": result.ids, "repooled": result.repooled})


@api_routes.patch("/tokens/{id}", name="api.tokens_patch")
async def api_tokens_patch(request: web.Request) -> web.StreamResponse:
    aid = request.match_info["id"]
    body = await _json(request)
    storage = storage_of(request)
    if await storage.get_account(aid) is None:
        raise web.HTTPNotFound(text="no such account")
    if "note" in body:
        await pool_ops.set_note(storage, aid, str(body["note"]))
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise AdminInputError("`tags` must be a list of strings")
        await pool_ops.set_tags(storage, aid, tags)
    if "enabled" in body:
        await pool_ops.set_enabled(storage, [aid], bool(body["enabled"]))
    moved: dict[str, object] = {}
    if "pool" in body:
        if not isinstance(body["pool"], str):
            raise AdminInputError("`pool` must be basic, super or heavy")
        change = await change_pool(request, aid, body["pool"])
        if change.moved:
            moved = {"pool_changed": True, "quotas_reread": aid in change.refreshed,
                     "quota_error": change.errors.get(aid, "")}
    rec = await storage.get_account(aid)
    assert rec is not None
    return web.json_response(token_row(rec, time.time()).to_json() | moved)


@api_routes.delete("/tokens/{id}", name="api.tokens_delete_one")
async def api_tokens_delete_one(request: web.Request) -> web.StreamResponse:
    deleted = await pool_ops.delete_accounts(storage_of(request), [request.match_info["id"]])
    if not deleted:
        raise web.HTTPNotFound(text="no such account")
    return web.json_response({"status": "success", "deleted": deleted})


async def _api_batch(request: web.Request, action: str) -> web.StreamResponse:
    body = await _json(request)
    ids = _ids_from_body(body)
    if ids is None:
        ids = await matching_ids(storage_of(request), TokenFilter.from_query(
            {k: str(v) for k, v in body.items() if isinstance(v, str)}))
    job = await start_batch(request, action, ids)
    return _started(job)


def _started(job: JobState) -> web.Response:
    return web.json_response({"status": "started", "batch_id": job.id, "total": job.total,
                              "skipped": job.skipped, "skip_reasons": job.skip_reasons, "message": job.message,
                              "stream": f"/api/v1/admin/batch/{job.id}/stream"}, status=202)


@api_routes.post("/tokens/refresh", name="api.tokens_refresh")
async def api_tokens_refresh(request: web.Request) -> web.StreamResponse:
    return await _api_batch(request, "refresh")


@api_routes.post("/tokens/nsfw/enable", name="api.tokens_nsfw")
async def api_tokens_nsfw(request: web.Request) -> web.StreamResponse:
    return await _api_batch(request, "nsfw")


@api_routes.post("/tokens/tos/accept", name="api.tokens_tos")
async def api_tokens_tos(request: web.Request) -> web.StreamResponse:
    return await _api_batch(request, "tos")


@api_routes.post("/tokens/delete", name="api.tokens_delete")
async def api_tokens_delete(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    if _ids_from_body(body) is None and body.get("all") is not True:
        raise AdminInputError('name the accounts (`ids` or `tokens`), or send "all": true to delete every '
                              "account matching the filters")
    ids = _ids_from_body(body)
    if ids is None:
        ids = await matching_ids(storage_of(request), TokenFilter.from_query(
            {k: str(v) for k, v in body.items() if isinstance(v, str)}))
    return _started(await start_batch(request, "delete", ids))


@api_routes.get("/tokens/export", name="api.tokens_export")
async def api_tokens_export(request: web.Request) -> web.StreamResponse:
    ids = await matching_ids(storage_of(request), TokenFilter.from_query(dict(request.query)))
    return await export_response(request, ids, request.query.get("format", "json"))


@api_routes.get("/batch/{id}", name="api.batch")
async def api_batch(request: web.Request) -> web.StreamResponse:
    job = await request.config_dict[ADMIN_STATE].batches.get(request.match_info["id"])
    if job is None:
        raise web.HTTPNotFound(text="unknown or expired batch job")
    return web.json_response(job.to_dict())


@api_routes.get("/batch/{id}/stream", name="api.batch_stream")
async def api_batch_stream(request: web.Request) -> web.StreamResponse:
    """SSE: `progress` events with the job as JSON, then one `done` (or `error`/`cancelled`)."""
    manager = request.config_dict[ADMIN_STATE].batches
    job_id = request.match_info["id"]
    if await manager.get(job_id) is None:
        raise web.HTTPNotFound(text="unknown or expired batch job")
    resp = await sse_response(request)
    async for job in manager.watch(job_id):
        data = json.dumps(job.to_dict())
        if job.finished:
            await resp.send(job.status, data)
        else:
            await resp.send("progress", data)
    await resp.close()
    return resp.response


@api_routes.post("/batch/{id}/cancel", name="api.batch_cancel")
async def api_batch_cancel(request: web.Request) -> web.StreamResponse:
    if not request.config_dict[ADMIN_STATE].batches.cancel(request.match_info["id"]):
        raise web.HTTPNotFound(text="no such job running in this server process")
    return web.json_response({"status": "cancelling"})
