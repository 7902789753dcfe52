"""API keys: create (shown once), edit limits, enable/disable, delete — pages and JSON API."""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiohttp import web

from ..access import api_keys as apikeys
from ..edge.body import read_form, read_object
from ..keys import CATALOG
from ..storage.base import Storage
from . import render
from .view_models import AdminInputError, key_fields, key_json, key_row, repeated_names, storage_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()


async def _rows(storage: Storage) -> list[object]:
    now = time.time()
    keys = await apikeys.list_keys(storage)
    repeated = repeated_names(keys)
    return [key_row(k, now, repeated) for k in keys]


async def _one_row(request: web.Request, editing: bool) -> web.Response:
    storage = storage_of(request)
    rec = await storage.get_key(request.match_info["id"])
    if rec is None:
        raise web.HTTPNotFound(text="That key no longer exists.")
    row = key_row(rec, time.time(), repeated_names(await storage.list_keys()))
    return render.fragment(request, "admin/_key_row.html", {"row": row, "editing": editing})


async def create(request: web.Request, data: dict[str, object]) -> apikeys.NewKey:
    fields = key_fields(data, creating=True, catalog=request.config_dict[CATALOG])
    try:
        return await apikeys.create_key(storage_of(request), fields.pop("name"), **fields)
    except apikeys.KeyNameTaken as exc:
        raise AdminInputError(str(exc)) from None


async def update(request: web.Request, key_id: str, data: dict[str, object]) -> None:
    fields = key_fields(data, creating=False, catalog=request.config_dict[CATALOG])
    try:
        found = await apikeys.update_key(storage_of(request), key_id, **fields)
    except apikeys.KeyNameTaken as exc:
        raise AdminInputError(str(exc)) from None
    if not found:
        raise web.HTTPNotFound(text="That key no longer exists.")


async def delete(storage: Storage, key_id: str) -> None:
    if not await apikeys.delete_key(storage, key_id):
        raise web.HTTPNotFound(text="That key no longer exists.")


@routes.get("/keys", name="admin.keys")
async def keys_page(request: web.Request) -> web.StreamResponse:
    models = [r.id for r in request.config_dict[CATALOG].all()]
    return render.page(request, "admin/keys.html", {"rows": await _rows(storage_of(request)), "created": None,
                                                    "models": models}, fragment="admin/_keys_table.html")


def _form_data(form: Mapping[str, object]) -> dict[str, object]:
    data: dict[str, object] = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if "expires_at" in data and data["expires_at"] == "":
        data["expires_at"] = ""
    return data


@routes.post("/keys", name="admin.keys_create")
async def keys_create(request: web.Request) -> web.StreamResponse:
    new = await create(request, _form_data(await read_form(request)))
    return render.fragment(request, "admin/_key_created.html",
                           {"created": new, "row": key_row(new.record, time.time())},
                           headers={"HX-Trigger": "keys-changed"})


@routes.get("/keys/{id}/edit", name="admin.keys_edit")
async def key_edit(request: web.Request) -> web.StreamResponse:
    return await _one_row(request, editing=True)


@routes.get("/keys/{id}", name="admin.keys_row")
async def key_row_view(request: web.Request) -> web.StreamResponse:
    return await _one_row(request, editing=False)


@routes.post("/keys/{id}/edit", name="admin.keys_save")
async def key_save(request: web.Request) -> web.StreamResponse:
    key_id = request.match_info["id"]
    form = _form_data(await read_form(request))
    form.setdefault("allowed_models", "")
    await update(request, key_id, form)
    return await key_row_view(request)


@routes.post("/keys/{id}/enable", name="admin.keys_enable")
@routes.post("/keys/{id}/disable", name="admin.keys_disable")
async def key_toggle(request: web.Request) -> web.StreamResponse:
    await update(request, request.match_info["id"], {"enabled": request.path.endswith("/enable")})
    return await key_row_view(request)


@routes.post("/keys/{id}/delete", name="admin.keys_delete")
async def key_delete(request: web.Request) -> web.StreamResponse:
    await delete(storage_of(request), request.match_info["id"])
    return web.Response(text="", content_type="text/html")


# -- JSON API --------------------------------------------------------------------
async def _body(request: web.Request) -> dict[str, object]:
    return await read_object(request)


@api_routes.get("/keys", name="api.keys")
async def api_keys(request: web.Request) -> web.StreamResponse:
    keys = await apikeys.list_keys(storage_of(request))
    return web.json_response({"data": [key_json(k) for k in keys]})


@api_routes.post("/keys", name="api.keys_create")
async def api_keys_create(request: web.Request) -> web.StreamResponse:
    new = await create(request, await _body(request))
    return web.json_response(key_json(new.record) | {"key": new.key}, status=201)


@api_routes.patch("/keys/{id}", name="api.keys_patch")
async def api_keys_patch(request: web.Request) -> web.StreamResponse:
    await update(request, request.match_info["id"], await _body(request))
    rec = await storage_of(request).get_key(request.match_info["id"])
    if rec is None:
        raise web.HTTPNotFound(text="no such key")
    return web.json_response(key_json(rec))


@api_routes.delete("/keys/{id}", name="api.keys_delete")
async def api_keys_delete(request: web.Request) -> web.StreamResponse:
    await delete(storage_of(request), request.match_info["id"])
    return web.json_response({"status": "success"})
