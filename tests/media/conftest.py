"""The real app (make_app: gateway, pool, upstream client, media cache) against fakegrok, with
accounts already imported and links on a public app URL, driven by the official openai SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.gateway.conftest import KEY, MakeStack, Stack, stack_factory

__all__ = ["BASIC", "KEY", "SUPER", "Stack"]
BASIC = "sso-media-basic-" + "b" * 32
SUPER = "super-media-acct-" + "s" * 32


@pytest.fixture
async def make_stack(tmp_path: Path, aiohttp_client: Any, aiohttp_server: Any) -> AsyncIterator[MakeStack]:
    sdks: list[openai.AsyncOpenAI] = []
    build = stack_factory(tmp_path, aiohttp_client, aiohttp_server, sdks)

    async def factory(env: dict[str, str] | None = None, tokens: tuple[str, ...] = (SUPER,),
                      pool: str = "super") -> Stack:
        stack = await build({"GROK2API_APP_APP_URL": "http://gw.example", **(env or {})})
        await stack.add_tokens(list(tokens), pool=pool)
        return stack

    yield factory
    for sdk in sdks:
        await sdk.close()


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    return await make_stack()
