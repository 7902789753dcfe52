"""200 concurrent paced streaming chats through curl_cffi: all complete, none interleave wrongly."""

from __future__ import annotations

import asyncio
import time

from curl_cffi.requests import AsyncSession

from .conftest import Fake, g2_body, ndjson

NEW = "/rest/app-chat/conversations/new"


async def test_200_concurrent_streaming_chats(fake: Fake) -> None:
    await fake.control("PATCH", "/config", {"first_frame_delay": 0.2, "token_interval": 0.005})
    await fake.control("POST", "/accounts", {"token": "load", "tier": "heavy", "quotas": {"fast": 1000}})

    async def one(http: AsyncSession, i: int) -> str:
        resp = await http.post(fake.url(NEW), json=g2_body(f"[[tokens:20]] chat {i}"), cookies=fake.cookies("load"),
                               headers=fake.headers(), stream=True)
        assert resp.status_code == 200
        lines = [line async for line in resp.aiter_lines() if line]
        await resp.aclose()
        frames = ndjson(b"\n".join(lines).decode() + "\n")
        return next(f["result"]["response"]["modelResponse"]["message"] for f in frames
                    if "modelResponse" in f["result"].get("response", {}))

    started = time.perf_counter()
    async with AsyncSession(max_clients=200, timeout=30) as http:
        messages = await asyncio.gather(*(one(http, i) for i in range(200)))
    elapsed = time.perf_counter() - started
    assert all(m == "Echo:" + "".join(f" w{k}" for k in range(1, 20)) for m in messages)
    assert elapsed < 10, f"200 paced chats took {elapsed:.1f}s: they did not run concurrently"
    assert fake.state.accounts["load"].quotas["fast"].remaining == 800
