"""Egress fixtures: two loopback egresses (127.0.0.2, 127.0.0.3), a FlareSolverr-speaking solver, and the
whole gateway (make_app, real curl_cffi client) in front of fakegrok with Cloudflare's binding on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from grok2api.fakegrok import FakeConfig
from tests.egress.loopback import ConnectProxy, Solver
from tests.gateway.conftest import Stack, stack_factory

SOURCES = ("127.0.0.2", "127.0.0.3")


@dataclass
class EgressStack:
    stack: Stack
    proxies: list[ConnectProxy]
    solver: Solver
    solver_url: str

    async def clearances(self) -> dict[str, Any]:
        async with self.stack.http.session.get(self.stack.fake.make_url("/_fake/clearance")) as resp:
            assert resp.status == 200
            return await resp.json()

    async def revoke(self) -> int:
        async with self.stack.http.session.delete(self.stack.fake.make_url("/_fake/clearance")) as resp:
            assert resp.status == 200
            return (await resp.json())["revoked"]


MakeEgressStack = Callable[..., Awaitable[EgressStack]]


@pytest.fixture
async def proxies() -> AsyncIterator[list[ConnectProxy]]:
    started = [ConnectProxy(source) for source in SOURCES]
    for proxy in started:
        await proxy.start()
    yield started
    for proxy in started:
        await proxy.stop()


@pytest.fixture
async def solver(aiohttp_server: Any) -> tuple[Solver, str]:
    found = Solver()
    server = await aiohttp_server(found.app())
    return found, str(server.make_url("/v1"))


@pytest.fixture
async def make_egress_stack(tmp_path: Path, aiohttp_client: Any, aiohttp_server: Any, proxies: list[ConnectProxy],
                            solver: tuple[Solver, str]) -> AsyncIterator[MakeEgressStack]:
    sdks: list[openai.AsyncOpenAI] = []
    factory = stack_factory(tmp_path, aiohttp_client, aiohttp_server, sdks)

    async def make(env: dict[str, str | None] | None = None, *, binding: bool = True, with_solver: bool = True,
                   **kwargs: Any) -> EgressStack:
        full_env = {"GROK2API_PROXY_EGRESS_URLS": ",".join(p.url for p in proxies),
                    **({"GROK2API_PROXY_CLEARANCE_SOLVER_URL": solver[1]} if with_solver else {}),
                    **(env or {})}
        full_env = {k: v for k, v in full_env.items() if v is not None}  # None: leave that key unset
        stack = await factory(full_env, fake_config=FakeConfig(cloudflare_binding=binding), **kwargs)
        return EgressStack(stack, proxies, solver[0], solver[1])

    yield make
    for sdk in sdks:
        await sdk.close()
