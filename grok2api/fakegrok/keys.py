"""Typed app and request keys of the fake."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .state import Account, FakeState

FAKE_STATE: web.AppKey[FakeState] = web.AppKey("fakegrok_state", FakeState)
ACCOUNT: web.RequestKey[Account] = web.RequestKey("fakegrok_account", Account)
RECORD: web.RequestKey[dict[str, Any]] = web.RequestKey("fakegrok_record", dict)
BODY: web.RequestKey[Any] = web.RequestKey("fakegrok_body", object)
