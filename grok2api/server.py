"""Running the gateway: one process, or N worker processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

from aiohttp import web

from .settings import Settings

log = logging.getLogger(__name__)

# How long in-flight requests (streams included) may run after SIGTERM before they are ended.
DRAIN_TIMEOUT = 30.0


async def _serve_async(settings: Settings, reuse_port: bool) -> None:
    from .app import make_app

    app = make_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=DRAIN_TIMEOUT)
    await runner.setup()
    server = settings.server
    site = web.TCPSite(runner, server.host, server.port, reuse_port=reuse_port, backlog=1024)
    await site.start()
    log.info("grok2api listening on http://%s:%s (pid %s)", server.host, server.port, os.getpid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (pid %s): draining in-flight requests up to %.0fs", os.getpid(), DRAIN_TIMEOUT)
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
    # A worker that dies unexpectedly is restarted; the others keep serving meanwhile.
    while True:
        alive = False
        for i, child in enumerate(children):
            code = child.poll()
            if code is None:
                alive = True
            elif not stopping:
                log.warning("worker %s exited with %s; restarting it", child.pid, code)
                children[i] = subprocess.Popen(worker_command([*argv, "--worker-child"]))
                alive = True
        if not alive:
            break
        time.sleep(0.2)
    return max((c.returncode or 0) for c in children) if not stopping else 0
