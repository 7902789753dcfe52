"""`serve --demo` keeps the fake's control API to this machine or the admin (issue 18, point 7)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from grok2api import demo
from grok2api.access import admin_password as adminauth
from grok2api.app import make_app
from grok2api.cli import serve_host
from grok2api.keys import STORAGE
from tests.conftest import make_settings

PASSWORD = "demo guard horse battery"
CONTROL = demo.PREFIX + "/_fake/requests"


async def _app(tmp_path: Path, aiohttp_client: Any) -> Any:
    app = make_app(make_settings(tmp_path, demo=True, port=8123))

    async def password(app: web.Application) -> None:
        await adminauth.set_password(app[STORAGE], PASSWORD)

    app.on_startup.append(password)
    return await aiohttp_client(app)


async def test_the_control_api_answers_this_machine_and_the_admin_only(tmp_path: Path, aiohttp_client: Any) -> None:
    client = await _app(tmp_path, aiohttp_client)
    assert (await client.get(CONTROL)).status == 200  # this machine, nobody in between
    # Through a proxy (every caller looks like loopback then) or from elsewhere: refused.
    for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"X-Real-IP": "203.0.113.9"}, {"Forwarded": "for=1.2.3.4"}):
        resp = await client.get(CONTROL, headers=headers)
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "admin_auth_required", headers
        assert (await client.post(demo.PREFIX + "/_fake/scenarios", json={"switches": {"server_error": 500}},
                                  headers=headers)).status == 403
    # The logged-in admin (a Bearer password here) may use it from anywhere.
    resp = await client.get(CONTROL, headers={"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {PASSWORD}"})
    assert resp.status == 200
    # The simulated grok.com itself stays open: the gateway and the browser showing its media call it.
    page = await client.get(demo.PREFIX + "/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert page.status == 200


def test_only_a_loopback_peer_counts_as_this_machine() -> None:
    class Transport:
        def __init__(self, peer: str) -> None:
            self.peer = peer

        def get_extra_info(self, name: str, default: object = None) -> object:
            return (self.peer, 40000) if name == "peername" else default

    elsewhere = make_mocked_request("GET", CONTROL, transport=Transport("203.0.113.5"))
    assert not demo.from_this_machine(elsewhere)
    assert demo.from_this_machine(make_mocked_request("GET", CONTROL, transport=Transport("::1")))


def test_demo_binds_loopback_unless_told_otherwise() -> None:
    def args(host: str | None, demo_mode: bool = True) -> argparse.Namespace:
        return argparse.Namespace(host=host, demo=demo_mode)

    assert serve_host(args(None), {}) == "127.0.0.1"
    assert serve_host(args("0.0.0.0"), {}) == "0.0.0.0"
    assert serve_host(args(None), {"SERVER_HOST": "0.0.0.0"}) is None  # SERVER_HOST applies
    assert serve_host(args(None, demo_mode=False), {}) is None  # serve keeps its default
