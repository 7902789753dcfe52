"""make_app() and run(): one aiohttp application serving every simulated host on one port."""

from __future__ import annotations

import secrets
import socket

from aiohttp import web

from . import account_api, chat, cloudflare, control, files, imagine, media_gen, mgw
from .guards import record_requests
from .keys import FAKE_STATE, REPLAY
from .options import FakeConfig
from .replay import Replay, replay_middleware
from .state import FakeState


def make_app(config: FakeConfig | None = None, replay: Replay | None = None) -> web.Application:
    """The fake grok.com + assets + accounts.x.ai + Imagine CDN; synchronous, no I/O. With `replay`,
    requests that match a recorded exchange get the recorded answer (replay.py)."""
    config = config or FakeConfig()
    # The record sees every call, also those Cloudflare's gate refuses.
    middlewares = [record_requests, cloudflare.cloudflare_gate]
    if replay is not None:
        middlewares.append(replay_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body_bytes)
    app[FAKE_STATE] = FakeState(config)
    if replay is not None:
        app[REPLAY] = replay
    for module in (chat, media_gen, mgw, imagine, files, account_api, control, cloudflare):
        app.add_routes(module.routes())
    app.on_response_prepare.append(_edge_cookie)
    return app


async def _edge_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Cloudflare's bot-management cookie (C5): set on any answer to a client that did not send it back;
    and the Accept-CH header when configured (C11)."""
    config = request.app[FAKE_STATE].config
    if request.path.startswith("/_fake/"):
        return
    if config.accept_ch:
        response.headers["Accept-CH"] = config.accept_ch
    if config.edge_cookies and "__cf_bm" not in request.cookies:
        # A header, not set_cookie(): by the time this signal runs the cookies were already rendered.
        response.headers.add("Set-Cookie", f"__cf_bm={secrets.token_urlsafe(32)}; Path=/; Max-Age=1800; HttpOnly; "
                                           "Secure; SameSite=None")


def run(host: str, port: int, config: FakeConfig | None = None, replay: Replay | None = None) -> None:
    """Serve the fake until interrupted (what `grok2api fake-grok --host --port` calls). Port 0 picks a
    free port; the line printed at start names the real one."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    what = f"replaying {len(replay.store.recordings)} recorded exchanges from {replay.store.directory}" \
        if replay is not None else "simulated grok.com"
    web.run_app(make_app(config, replay), sock=sock, access_log=None, backlog=4096,
                print=lambda _msg: print(f"fakegrok ({what}) listening on http://{host}:{bound}", flush=True))
