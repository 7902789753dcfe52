"""Writing a REST stream: NDJSON frames with pacing, stalls and mid-way cuts (§3.5)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .keys import FAKE_STATE

log = logging.getLogger(__name__)


def frame(obj: Any, prefix: str = "") -> bytes:
    """One compact JSON object per line, no `data:` prefix unless configured (§3.5)."""
    return (prefix + json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


@dataclass(slots=True)
class Plan:
    """The frames of one stream and where a scenario interrupts it."""

    frames: list[bytes]
    cut_at: int | None = None  # keep only frames[:cut_at]
    cut_mode: str = "abort"  # "abort": kill the connection; "clean": end the body normally
    stall_at: int | None = None  # pause before frames[stall_at]
    stall_seconds: float = 0.0


async def send(request: web.Request, plan: Plan) -> web.StreamResponse:
    """Stream `plan` after the configured latency, `token_interval` apart (one write when 0)."""
    config = request.app[FAKE_STATE].config
    if config.first_frame_delay:
        await asyncio.sleep(config.first_frame_delay)
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-store"})
    await response.prepare(request)
    frames = plan.frames if plan.cut_at is None else plan.frames[:plan.cut_at]
    interval = config.token_interval
    try:
        if interval == 0 and plan.stall_at is None:
            await response.write(b"".join(frames))
        else:
            for i, data in enumerate(frames):
                if i == plan.stall_at:
                    await asyncio.sleep(plan.stall_seconds)
                elif i and interval:
                    await asyncio.sleep(interval)
                await response.write(data)
    except ConnectionResetError:  # the client hung up mid-answer: a normal end, not a fault
        log.debug("REST client left during a streamed answer")
        return response
    if plan.cut_at is not None and plan.cut_mode == "abort":
        # An upstream that dies mid-stream: the chunked body never terminates.
        transport = request.transport
        if transport is not None:
            transport.abort()
        return response
    await response.write_eof()
    return response


def middle(count: int) -> int:
    return max(1, count // 2)
