"""Typed app and request keys of the fake."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .state import Account, FakeState

if TYPE_CHECKING:
    from .replay import Replay

FAKE_STATE: web.AppKey[FakeState] = web.AppKey("fakegrok_state", FakeState)
ACCOUNT: web.RequestKey[Account] = web.RequestKey("fakegrok_account", Account)
RECORD: web.RequestKey[dict[str, Any]] = web.RequestKey("fakegrok_record", dict)
BODY: web.RequestKey[Any] = web.RequestKey("fakegrok_body", object)
# Set only in replay mode (`fake-grok --replay DIR`).
REPLAY: web.AppKey[Replay] = web.AppKey("fakegrok_replay")
