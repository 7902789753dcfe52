"""Running the gateway: one process, or N worker processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from aiohttp import web

from .app import make_app
from .config import settings as settings_mod
from .config.settings import ConfigError, Settings
from .edge.connections import EdgeSite, connection_cap, raise_fd_limit
from .storage import make_storage
from .stats.metrics import mark_dead_worker

log = logging.getLogger(__name__)

# How long in-flight requests (streams included) may run after SIGTERM before they are ended.
DRAIN_TIMEOUT = 30.0
# The supervisor's grace beyond a worker's shutdown (up to 2 x drain: aiohttp waits `drain` for
# handlers, cancels them, then waits up to `drain` again) before it SIGKILLs a worker that hangs.
KILL_GRACE = 15.0
# The cyclic collector's young-generation threshold once serving. At Python's default (700 net new
# container objects) it ran about every 30 REST completions, and its promotions a full collection every
# second: ~210 ms a second at 1,200 completions/s, to find next to nothing, since a request's objects go by
# reference counting (a stream holds no cycle: upstream/wakeup.py). Measured on the benchmark's REST chats
# (c=32, three 8 s windows each): 792-904 us of CPU per completion at 700, 750-771 us at 20,000.
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Once started: what start-up built (modules, settings, the app) is moved out of the collector's
    reach for good, and young collections come every GC_YOUNG_THRESHOLD net new objects."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def drain_timeout(settings: Settings) -> float:
    return settings.server.drain_timeout


def handler_options(settings: Settings) -> dict[str, Any]:
    """What every client connection's handler is built with (one place: runner and site alike)."""
    return {
        "access_log": None,
        # aiohttp's keep-alive timer closes a connection without a complete request head this long
        # after it opened or answered: slow headers and idle keep-alive alike (edge/connections.py).
        "keepalive_timeout": settings.security.client_header_timeout_sec,
    }


async def start_site(runner: web.AppRunner, settings: Settings, reuse_port: bool) -> EdgeSite:
    """Listen on SERVER_HOST:SERVER_PORT with the connection cap derived from the open-file limit."""
    fd_limit = raise_fd_limit()
    cap, backlog = connection_cap(settings.security.max_connections, fd_limit)
    server = settings.server
    site = EdgeSite(runner, server.host, server.port, cap=cap, handler_options=handler_options(settings),
                    reuse_port=reuse_port, backlog=backlog)
    await site.start()
    log.info("grok2api listening on http://%s:%s (pid %s; at most %d connections, open-file limit %d)",
             server.host, site.port, os.getpid(), cap, fd_limit)
    return site


async def with_saved_values(settings: Settings) -> Settings:
    """`settings` with the values saved from the admin, read before the app is built: what is sized once
    at start (the body limit for chunked uploads, the media slots) follows them after a restart. A stored
    value that no longer validates is reported and left out, as the running workers do."""
    server = settings.server
    storage = make_storage(server.storage_type, server.storage_url, server.data_dir)
    await storage.open()
    try:
        overrides = await storage.get_config_overrides()
    finally:
        await storage.close()
    try:
        return settings_mod.with_overrides(settings, overrides)
    except ConfigError as exc:
        log.error("ignoring saved configuration: %s", exc)
        return settings


async def _serve_async(settings: Settings, reuse_port: bool) -> None:
    settings = await with_saved_values(settings)
    app = make_app(settings)
    drain = drain_timeout(settings)
    # On cleanup the runner stops listening, closes idle keep-alive connections, lets in-flight
    # requests (streams included) run up to `drain` seconds, then cancels what is left; the app's
    # cleanup contexts then release reservations and flush stats and logs.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=drain, **handler_options(settings))
    await runner.setup()
    await start_site(runner, settings, reuse_port)
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (pid %s): draining in-flight requests up to %.0fs", os.getpid(), drain)
    await runner.cleanup()
    log.info("stopped (pid %s)", os.getpid())


def serve_one(settings: Settings, reuse_port: bool = False) -> None:
    asyncio.run(_serve_async(settings, reuse_port))


def worker_command(argv: list[str]) -> list[str]:
    """The command that starts this same program as a worker, frozen or not."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *argv]
    return [sys.executable, "-m", "grok2api", *argv]


def serve_workers(settings: Settings, argv: list[str]) -> int:
    """Supervise N workers; forward SIGTERM/SIGINT and wait for all of them."""
    n = settings.server.workers
    children = [subprocess.Popen(worker_command([*argv, "--worker-child"])) for _ in range(n)]
    log.info("started %d workers: %s", n, ", ".join(str(c.pid) for c in children))
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    kill_at = 0.0
    restarts = 0
    started_at = time.monotonic()
    # A worker that dies unexpectedly is restarted; the others keep serving meanwhile.
    while True:
        alive = False
        for i, child in enumerate(children):
            code = child.poll()
            if code is None:
                alive = True
            elif not stopping:
                # Back off when workers keep dying at start (bad config, port taken): no busy loop.
                delay = min(30.0, 0.5 * 2 ** min(restarts, 6))
                log.warning("worker %s exited with %s; restarting it in %.1fs", child.pid, code, delay)
                mark_dead_worker(child.pid)
                time.sleep(delay)
                restarts += 1
                children[i] = subprocess.Popen(worker_command([*argv, "--worker-child"]))
                started_at = time.monotonic()
                alive = True
        if not alive:
            break
        if restarts and time.monotonic() - started_at > 60:
            restarts = 0  # a minute of health forgives earlier crashes
        if stopping:
            kill_at = kill_at or time.monotonic() + 2 * drain_timeout(settings) + KILL_GRACE
            if time.monotonic() > kill_at:  # a worker stuck past its drain: do not hang forever
                for child in children:
                    if child.poll() is None:
                        log.error("worker %s did not stop in time; killing it", child.pid)
                        child.kill()
        time.sleep(0.2)
    return 0 if stopping else max((c.returncode or 0) for c in children)
