"""Admin fixtures: the real application (make_app) with a known admin password."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from grok2api.access import admin_password as adminauth
from grok2api.app import make_app
from grok2api.config.settings import Settings
from grok2api.keys import ADMIN_STATE, STORAGE
from tests.conftest import make_settings

from .html import attr, one, parse

PASSWORD = "correct horse battery staple"
ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def build_app(settings: Settings) -> web.Application:
    """The real factory (it sets up the admin itself)."""
    app = make_app(settings)
    assert ADMIN_STATE in app
    return app


async def _set_password(app: web.Application) -> None:
    await adminauth.set_password(app[STORAGE], PASSWORD)


def make_admin_app(tmp_path: Path) -> web.Application:
    """Settings from the GROK2API_* variables the test set with monkeypatch.setenv, as a process would."""
    env = {k: v for k, v in os.environ.items() if k.startswith("GROK2API_")}
    app = build_app(make_settings(tmp_path, env=env))
    app.on_startup.append(_set_password)
    return app


@pytest.fixture
def admin_app(tmp_path: Path) -> web.Application:
    return make_admin_app(tmp_path)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, admin_app: web.Application) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(admin_app)


async def login(client: TestClient[Any, Any], password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the session."""
    resp = await client.post("/admin/login", data={"username": "admin", "password": password, "next": "/admin/tokens"},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await client.get("/admin/tokens")
    assert page.status == 200
    csrf = attr(one(parse(await page.text()), "[data-csrf]"), "data-csrf")
    assert csrf
    return csrf


@pytest.fixture
async def logged_in(client: TestClient[Any, Any]) -> tuple[TestClient[Any, Any], str]:
    return client, await login(client)
