"""GET /v1/models and /v1/models/{id}: the catalog in OpenAI's list shape, filtered by the key.

Every catalog model is listed, not only those an account can serve this minute: clients use
the list as a connection test and cache it, and availability changes with cooldowns and quota
resets. A model that cannot be served right now answers 503 with Retry-After at request time.
Extra fields (`kind`, `description`, `thinks`) are tolerated by OpenAI clients. With
`?client_version=` (Codex) the chat models come as Codex's `{"models": [ModelInfo…]}` catalogue;
with an `anthropic-version` header, in Anthropic's list shape.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ..edge.api_auth import model_visible
from ..errors import ModelNotFound
from ..keys import API_KEY, CATALOG

# Catalog entries carry no creation date; one fixed date keeps the list stable across restarts.
CREATED = 1735689600  # 2025-01-01T00:00:00Z
# Codex catalogue constants (also Anthropic's max_input_tokens): the web app publishes no context
# size; Grok 4's is at least this.
CODEX_CONTEXT_WINDOW = 128_000
CODEX_INSTRUCTIONS = (
    "You are a coding agent running in Codex, a terminal-based coding assistant, reached through "
    "Grok. Work in the user's workspace with the tools provided: inspect files and run commands "
    "before changing code, keep edits focused, and explain briefly what you did. Be precise, "
    "safe and helpful."
)
routes = web.RouteTableDef()


def model_object(route: Any) -> dict[str, Any]:
    return {
        "id": route.id,
        "object": "model",
        "created": CREATED,
        "owned_by": route.owned_by,
        "kind": route.kind,
        "description": route.description,
        "thinks": bool(route.thinks),
    }


def codex_model(route: Any, priority: int) -> dict[str, Any]:
    """One entry of Codex's catalogue (its `ModelInfo`), with only values current Codex decodes.

    Tools are emulated in the prompt: the shell is the `shell_command` function and `apply_patch`
    is a freeform (`custom`) tool, answered with a `custom_tool_call` (see grok2api.api.tools).
    `supports_reasoning_summaries` is no longer read by Codex 0.171 but older releases require it."""
    efforts = [{"effort": e, "description": f"{e.capitalize()} reasoning"} for e in ("low", "medium", "high")]
    return {
        "slug": route.id,
        "display_name": route.id,
        "description": route.description,
        "default_reasoning_level": "medium" if route.thinks else None,
        "supported_reasoning_levels": efforts if route.thinks else [],
        "shell_type": "shell_command",
        "visibility": "list",
        "supported_in_api": True,
        "priority": priority,
        "availability_nux": None,
        "upgrade": None,
        "base_instructions": CODEX_INSTRUCTIONS,
        "supports_reasoning_summaries": bool(route.thinks),
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": "freeform",
        "web_search_tool_type": "text",
        "truncation_policy": {"mode": "bytes", "limit": 10_000},
        "supports_parallel_tool_calls": True,
        "supports_image_detail_original": False,
        "context_window": CODEX_CONTEXT_WINDOW,
        "effective_context_window_percent": 95,
        "experimental_supported_tools": [],
        "input_modalities": ["text", "image"],
        "supports_search_tool": False,
    }


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    key = request.get(API_KEY)
    routes_ = [r for r in request.app[CATALOG].all() if model_visible(key, r.id)]
    if "client_version" in request.query:
        # Codex asks with ?client_version= and reads a `models` catalogue, not OpenAI's `data` list;
        # only chat models can drive it.
        chat = [r for r in routes_ if r.kind == "chat"]
        return web.json_response({"models": [codex_model(r, i) for i, r in enumerate(chat)]})
    if "anthropic-version" in request.headers:
        # Anthropic clients (Claude Code's gateway model discovery) read Anthropic's list shape.
        data = [anthropic_model(r) for r in routes_ if r.kind == "chat"]
        return web.json_response({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})
    return web.json_response({"object": "list", "data": [model_object(r) for r in routes_]})


def _support(value: bool) -> dict[str, bool]:
    return {"supported": value}


def anthropic_model(route: Any) -> dict[str, Any]:
    """Anthropic's ModelInfo: what /v1/messages does with this model (images and PDFs go upstream as
    attachments; thinking when the model thinks; no batches, citations, code execution, effort
    levels, context editing or validated structured output). No output limit is published: null."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(CREATED))
    thinks = bool(route.thinks)
    capabilities = {
        "batch": _support(False), "citations": _support(False), "code_execution": _support(False),
        "context_management": {"supported": False, "clear_thinking_20251015": None,
                               "clear_tool_uses_20250919": None, "compact_20260112": None},
        "effort": {"supported": False, **{level: _support(False) for level in ("low", "medium", "high", "max")},
                   "xhigh": None},
        "image_input": _support(True), "pdf_input": _support(True), "structured_outputs": _support(False),
        "thinking": {"supported": thinks, "types": {"enabled": _support(thinks), "adaptive": _support(thinks)}},
    }
    return {"type": "model", "id": route.id, "display_name": route.id, "created_at": created,
            "capabilities": capabilities, "max_input_tokens": CODEX_CONTEXT_WINDOW, "max_tokens": None}


@routes.get("/v1/models/{model_id:.+}")
async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    route = request.app[CATALOG].get(model_id)
    # A model hidden from this key is reported as missing, as in the list.
    if route is None or not model_visible(request.get(API_KEY), model_id):
        raise ModelNotFound(f"The model `{model_id}` does not exist.", param="model")
    return web.json_response(model_object(route))
