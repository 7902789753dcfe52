"""Conformance tests run the whole stack (make_app against fakegrok) with one super account."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import KEY, MakeStack, Stack, make_stack  # noqa: F401

__all__ = ["KEY", "Stack"]
SUPER = "super-conformance-acct-" + "c" * 32


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:  # noqa: F811
    stack = await make_stack({"GROK2API_APP_APP_URL": "http://gw.example"})
    await stack.add_tokens([SUPER], pool="super")
    return stack
