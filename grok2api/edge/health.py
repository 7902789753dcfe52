"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

import time

from aiohttp import web

from ..keys import POOL, STARTED_AT, STORAGE, WORKER_ID
from ..storage.base import StorageError

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
    """Readiness of this worker: storage reachable and its own pool able to serve a request now (an
    account usable with quota left), so a balancer never sends traffic a worker would answer 503."""
    storage = request.app[STORAGE]
    pool = request.app.get(POOL)
    try:
        await storage.ping()
        if pool is not None and pool.loaded:
            await pool.sync()  # one counter read: accounts added a moment ago anywhere count
    except StorageError as exc:
        return _unavailable(f"storage unreachable: {exc}")
    if pool is None or not pool.loaded:
        return _unavailable("this worker's account pool is not loaded yet")
    accounts = pool.accounts()
    serving = pool.serving()
    if serving == 0:
        why = "no account in the pool" if not accounts else (
            f"none of the {len(accounts)} accounts can serve now (disabled, invalid, cooling or out of quota)")
        return _unavailable(why)
    return web.json_response({"status": "ready", "accounts_serving": serving,
                              "accounts_active": sum(1 for a in accounts if a.status == "active")})


def _unavailable(reason: str) -> web.Response:
    return web.json_response({"status": "unavailable", "reason": reason}, status=503)
