"""fakegrok: a simulated grok.com (HTTP + WebSocket) built from docs/grok-web-protocol.md, for tests,
benchmarks and demos.

May import: nothing of grok2api's.
It shares no code with upstream/, so a misreading of the protocol cannot hide in both.
"""

from __future__ import annotations

from .app import make_app, run
from .keys import FAKE_STATE
from .options import FakeConfig
from .state import FakeState, tier_for_token, uid_for_token

__all__ = ["FAKE_STATE", "FakeConfig", "FakeState", "make_app", "run", "tier_for_token", "uid_for_token"]
