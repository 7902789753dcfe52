"""`serve --demo`: the gateway wired to an in-process simulated grok.com with demo accounts."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from .admin.middleware import authenticate
from .config import settings as settings_mod
from .config.settings import Settings
from .keys import LIVE_SETTINGS, POOL, STORAGE, UNMETERED
from .pool.ops import import_tokens

log = logging.getLogger(__name__)

PREFIX = "/_demo/grok"
# Tier by prefix is fakegrok's documented rule (super… = SuperGrok, heavy… = Heavy, else basic).
DEMO_TOKENS = {"basic": ["demo-basic-account-0001", "demo-basic-account-0002"],
               "super": ["super-demo-account-0001"], "heavy": ["heavy-demo-account-0001"]}


def demo_settings(settings: Settings) -> Settings:
    """Point every upstream host at the fake mounted on this same server, and mint a demo key."""
    server = settings.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    base = f"http://{host}:{server.port}{PREFIX}"
    env = dict(settings.environ)
    env.update({
        "GROK2API_NETWORK_GROK_URL": base, "GROK2API_NETWORK_ASSETS_URL": base,
        "GROK2API_NETWORK_ACCOUNTS_URL": base, "GROK2API_NETWORK_LIVEKIT_URL": base.replace("http", "ws", 1),
        "GROK2API_APP_APP_URL": f"http://{host}:{server.port}",
        # The fake lives on this same server, which is not listening yet when the refresher's
        # first round would run; the fake's quotas are known anyway.
        "GROK2API_TOKEN_AUTO_REFRESH": "false",
    })
    if not settings.app.api_key:
        env["GROK2API_APP_API_KEY"] = "sk-demo-" + secrets.token_urlsafe(16)
    return settings_mod.load(server, env)


def fake_app(settings: Settings) -> web.Application:
    """The simulated grok.com, to be mounted under PREFIX (settings from demo_settings)."""
    # Optional, like a storage driver: only `serve --demo` loads the simulator.
    from .fakegrok import FakeConfig
    from .fakegrok import make_app as make_fake

    base = settings.network.grok_url
    # A little pacing so the demo streams visibly, like the real site.
    fake = make_fake(FakeConfig(first_frame_delay=0.2, token_interval=0.03, assets_origin=base,
                                imagine_origin=base, livekit_url=settings.network.livekit_url, path_prefix=PREFIX))
    fake[UNMETERED] = True  # its requests are the gateway's own upstream calls, not client traffic
    fake.middlewares.append(control_guard)
    return fake


def from_this_machine(request: web.Request) -> bool:
    """The peer is loopback and no proxy stands in between (a reverse proxy on this host would make
    every caller loopback, so a forwarded request does not count)."""
    if any(h in request.headers for h in ("X-Forwarded-For", "X-Real-IP", "Forwarded")):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@web.middleware
async def control_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The fake's control API (`_fake/...`: every user's prompts, scenarios that break every chat) only
    from this machine or with the admin's session or Bearer password; the simulated grok.com itself
    stays open, since the gateway (and the browser showing its media) calls it."""
    if request.path.startswith(PREFIX + "/_fake/") and not from_this_machine(request):
        session, _bearer, _cookie = await authenticate(request, allow_bearer=True)
        if session is None or session.anonymous:
            return web.json_response({"error": {"message": "the demo's control API answers only this machine or "
                                                           "the logged-in admin", "type": "admin_error",
                                                "code": "admin_auth_required"}}, status=403)
    return await handler(request)


async def demo_ctx(app: web.Application) -> AsyncIterator[None]:
    """Imports the demo accounts into storage, then tells the operator this is a simulation."""
    s = app[LIVE_SETTINGS].current
    for pool, tokens in DEMO_TOKENS.items():
        await import_tokens(app[STORAGE], "\n".join(tokens), default_pool=pool)
    await app[POOL].sync()
    log.warning("DEMO MODE: grok.com is SIMULATED by the built-in fakegrok at %s; no real Grok account is "
                "used and every answer is made up", s.network.grok_url)
    log.warning("demo: %d simulated accounts; try:\n  curl %s/v1/chat/completions -H 'Authorization: Bearer %s' "
                "-H 'Content-Type: application/json' -d '{\"model\": \"grok-4\", \"messages\": "
                "[{\"role\": \"user\", \"content\": \"Hello\"}]}'", sum(map(len, DEMO_TOKENS.values())),
                s.app.app_url,
                s.app.api_key)
    yield
