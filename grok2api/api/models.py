"""GET /v1/models and /v1/models/{id}: the catalog in OpenAI's list shape, filtered by the key.

Every catalog model is listed, not only those an account can serve this minute: clients use
the list as a connection test and cache it, and availability changes with cooldowns and quota
resets. A model that cannot be served right now answers 503 with Retry-After at request time.
Extra fields (`kind`, `description`, `thinks`) are tolerated by OpenAI clients.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import ModelNotFound
from ..keys import CATALOG
from ..security import API_KEY, model_visible

# Catalog entries carry no creation date; one fixed date keeps the list stable across restarts.
CREATED = 1735689600  # 2025-01-01T00:00:00Z
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


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    key = request.get(API_KEY)
    data = [model_object(r) for r in request.app[CATALOG].all() if model_visible(key, r.id)]
    return web.json_response({"object": "list", "data": data})


@routes.get("/v1/models/{model_id:.+}")
async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    route = request.app[CATALOG].get(model_id)
    # A model hidden from this key is reported as missing, as in the list.
    if route is None or not model_visible(request.get(API_KEY), model_id):
        raise ModelNotFound(f"The model `{model_id}` does not exist.", param="model")
    return web.json_response(model_object(route))
