"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

import time

from aiohttp import web

from ..keys import STARTED_AT, STORAGE, WORKER_ID
from ..storage.base import AccountQuery, StorageError

routes = web.RouteTableDef()


@routes.get("/health", name="health")
async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers. No I/O, so a slow database never restarts a healthy worker."""
    app = request.app
    return web.json_response({
        "status": "ok",
        "worker": app[WORKER_ID],
        "uptime_sec": round(time.time() - app[STARTED_AT], 3),
    })


@routes.get("/ready", name="ready")
async def ready(request: web.Request) -> web.Response:
    """Readiness: storage reachable and at least one usable account; 503 with the reason otherwise."""
    storage = request.app[STORAGE]
    try:
        await storage.ping()
        _, usable = await storage.list_accounts(AccountQuery(status="active", limit=1))
    except StorageError as exc:
        return web.json_response({"status": "unavailable", "reason": f"storage unreachable: {exc}"},
                                 status=503)
    if usable == 0:
        return web.json_response({"status": "unavailable", "reason": "no usable account in the pool"},
                                 status=503)
    return web.json_response({"status": "ready", "accounts_active": usable})
