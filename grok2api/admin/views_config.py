"""Config: every section as a form (value, source, env lock, inline errors) and its JSON API."""

from __future__ import annotations

import functools

from aiohttp import web

from ..config.live import save_overrides
from ..config.settings import applies_after_restart
from ..config.schema import SECTIONS
from ..edge.body import read_object, read_form
from ..keys import LIVE_SETTINGS
from . import render
from .config_forms import (
    config_sections,
    field_help,
    flatten_config_body,
    prepare_change,
    redacted_config,
)
from .view_models import settings_of, storage_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()


@functools.cache
def _helps() -> dict[str, str]:
    return field_help()


@routes.get("/config", name="admin.config")
async def config_page(request: web.Request) -> web.StreamResponse:
    sections = config_sections(settings_of(request), _helps())
    return render.page(request, "admin/config.html", {"sections": sections})


@routes.post("/config/{section}", name="admin.config_save")
async def config_save(request: web.Request) -> web.StreamResponse:
    name = request.match_info["section"]
    if name not in SECTIONS:
        raise web.HTTPNotFound(text=f"There is no configuration section {name!r}.")
    form = await read_form(request)
    s = settings_of(request)
    submitted: dict[str, object] = {}
    for section in config_sections(s, only=name):
        for f in section.fields:
            if f.readonly:
                continue
            if f.kind == "bool":
                submitted[f.dotted] = "true" if form.get(f.dotted) else "false"
            elif f.dotted in form:
                submitted[f.dotted] = str(form[f.dotted])
    change = prepare_change(s, submitted, from_form=True)
    if not change.errors and change.values:
        await save_overrides(storage_of(request), request.config_dict[LIVE_SETTINGS], change.values)
        s = settings_of(request)
    (section,) = config_sections(s, _helps(), only=name)
    if change.errors:
        # Show what was typed next to its message, not the stored value.
        for f in section.fields:
            if f.dotted in change.errors:
                f.error = change.errors[f.dotted]
                if not f.secret:
                    f.value = str(form.get(f.dotted, f.value))
        section.errors = len(change.errors)
        section.message = "Nothing was saved: fix the values marked below."
    elif change.values:
        section.saved = True
        section.message = saved_message(change.values)
    else:
        section.message = "No changes."
    return render.fragment(request, "admin/_config_section.html", {"section": section})


def saved_message(values: dict[str, object]) -> str:
    """What saving did: live in every worker within a second, but name what waits for a restart."""
    later = [k for k in values if applies_after_restart(k)]
    message = f"Saved {len(values)} value(s); every worker applies them within a second"
    if later:
        message += f", except {', '.join(later)}: applies after a restart"
    return message + "."


# -- JSON API --------------------------------------------------------------------
@api_routes.get("/config", name="api.config")
async def api_config(request: web.Request) -> web.StreamResponse:
    return web.json_response(redacted_config(settings_of(request)))


@api_routes.post("/config", name="api.config_save")
async def api_config_save(request: web.Request) -> web.StreamResponse:
    """Merges the given keys; redacted placeholders sent back unchanged keep the secret."""
    body = await read_object(request)
    s = settings_of(request)
    change = prepare_change(s, flatten_config_body(body), from_form=False)
    if change.errors:
        return web.json_response({"error": {"message": "invalid configuration", "type": "admin_error",
                                            "code": "invalid_config", "problems": change.errors}}, status=400)
    if change.values:
        await save_overrides(storage_of(request), request.config_dict[LIVE_SETTINGS], change.values)
    return web.json_response({"status": "success", "saved": sorted(change.values),
                              "after_restart": sorted(k for k in change.values if applies_after_restart(k)),
                              "ignored_env_fixed": change.ignored,
                              "config": redacted_config(settings_of(request))})
