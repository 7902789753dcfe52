"""Issue 21's figures on a running rig: added first byte at c=1, throughput and CPU at c=32, paced streams, memory."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

import aiohttp

from tests.benchmarks.clients import PROMPT, Timing, chat_body, direct, one_gateway
from tests.benchmarks.rig import KEY, Rig, cpu_seconds, rss_bytes, thread_cpu_seconds

SHORT_TOKENS, LONG_TOKENS = 20, 200  # PROMPT's reply, and the long one whose extra tokens give the CPU per chunk
LONG_PROMPT = f"[[tokens:{LONG_TOKENS}]] bench"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _session(total: float = 300) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=total))


async def latency(rig: Rig, n: int) -> dict[str, float]:
    """Gateway and direct calls alternate one at a time; the gateway's CPU over the phase gives the c=1 cost."""
    out: dict[str, float] = {}
    async with _session() as http:
        for _ in range(20):  # warm-up: connections, imports, caches
            await one_gateway(http, rig.gw, False)
            await direct(rig, http)
        for label, stream in (("nonstream", False), ("stream", True)):
            gw: list[Timing] = []
            dr: list[Timing] = []
            if rig.transport == "ws":
                rig.clear_records()
            c0 = thread_cpu_seconds(rig.gw_pid)
            for _ in range(n):
                gw.append(await one_gateway(http, rig.gw, stream))
                dr.append(await direct(rig, http))
            cpu = thread_cpu_seconds(rig.gw_pid) - c0
            if rig.transport == "ws":  # 1 without socket reuse; near 0 when the gateway keeps its socket
                out[f"{label}_sockets_per_chat"] = rig.gateway_handshakes() / n
            for p in (50, 99):
                out[f"{label}_ttfb_p{p}_added_ms"] = (pct([t.ttfb for t in gw], p) - pct([t.ttfb for t in dr], p)) * 1e3
                out[f"{label}_total_p{p}_added_ms"] = (pct([t.total for t in gw], p)
                                                       - pct([t.total for t in dr], p)) * 1e3
                out[f"{label}_direct_total_p{p}_ms"] = pct([t.total for t in dr], p) * 1e3
            # The whole phase, so work after the answer (stats, release) counts; during the direct calls the
            # gateway only runs its timers, a cost it has per completion anyway.
            out[f"{label}_c1_cpu_us"] = cpu / n * 1e6
    return out


async def throughput(rig: Rig, concurrency: int, seconds: float, stream: bool,
                     prompt: str = PROMPT) -> dict[str, float]:
    """Closed loop: `concurrency` clients back to back for `seconds`; the gateway's CPU over the whole window."""
    done, events, lat = 0, 0, []
    async with _session() as http:
        # One connection per client before the clock starts (a short reply: connections, not content).
        await asyncio.gather(*(one_gateway(http, rig.gw, stream) for _ in range(concurrency)))
        deadline = time.perf_counter() + seconds
        cpu0 = cpu_seconds(rig.gw_pid)

        async def worker() -> None:
            nonlocal done, events
            while time.perf_counter() < deadline:
                t = await one_gateway(http, rig.gw, stream, prompt)
                lat.append(t.total)
                events += t.events
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(rig.gw_pid) - cpu0
    return {"rps": done / elapsed, "p99_ms": pct(lat, 99) * 1000, "cpu_us": cpu / done * 1e6,
            "requests": done, "events": events / done}


async def chunk_cpu(rig: Rig, concurrency: int, seconds: float, interval: float) -> dict[str, float]:
    """Marginal CPU per streamed chunk: streamed completions of a 200-token and a 20-token reply with the fake
    pacing tokens `interval` apart, so that each reaches the gateway as its own chunk; the difference in CPU per
    completion over the 180 extra tokens. Per token, not per SSE event: a gateway that falls behind merges tokens
    that arrive together into one event, which would make a per-event figure swing with the machine's load."""
    rig.set_fake(first_frame_delay=0.0, token_interval=interval)
    try:
        short = await throughput(rig, concurrency, seconds, True)
        # At least two long replies per client, or the window holds too few completions to average.
        long = await throughput(rig, concurrency, max(seconds, 2 * interval * LONG_TOKENS), True, LONG_PROMPT)
    finally:
        rig.set_fake(first_frame_delay=0.0, token_interval=0.0)
    return {"chunk_us": (long["cpu_us"] - short["cpu_us"]) / (LONG_TOKENS - SHORT_TOKENS),
            "events_long": long["events"]}


async def paced(rig: Rig, streams: int, interval: float, delay: float = 0.0, ramp: float = 0.0) -> dict[str, float]:
    """`streams` streamed chats opened at once (or evenly over `ramp` seconds) while the fake paces frames
    `interval` apart (after `delay`): time to the first content through the gateway minus the same through
    fakegrok directly (its own batch of `streams`). Each side's own percentile is subtracted, so p99 can come out
    below p50."""
    async def later(i: int, call: Callable[[], Awaitable[Timing]]) -> Timing:
        if ramp:
            await asyncio.sleep(i * ramp / streams)
        return await call()

    rig.set_fake(first_frame_delay=delay, token_interval=interval)
    try:
        async with _session() as http:
            await one_gateway(http, rig.gw, True)  # warm: the client's first connection and the gateway's imports
            gw = await asyncio.gather(*(later(i, lambda: one_gateway(http, rig.gw, True, content=True))
                                        for i in range(streams)))
        async with _session() as http:
            await direct(rig, http)
            dr = await asyncio.gather(*(later(i, lambda: direct(rig, http, content=True)) for i in range(streams)))
    finally:
        rig.set_fake(first_frame_delay=0.0, token_interval=0.0)
    g = [t.first_content for t in gw]
    d = [t.first_content for t in dr]
    if not all(g) or not all(d):
        raise RuntimeError("a paced stream ended without content")
    return {f"added_p{p}_ms": (pct(g, p) - pct(d, p)) * 1e3 for p in (50, 99)} | {
        "direct_p50_ms": pct(d, 50) * 1e3}


async def open_streams(rig: Rig, n: int, interval: float = 5.0) -> dict[str, float]:
    """Hold n streams open (the fake sends a frame every `interval` s), measure the gateway's RSS growth per
    stream. A stream counts as open at its first line, which a REST stream shows only with the first token (the
    fake's fourth frame), and only when it is a 200 with an SSE event: a refusal (503 past the connection cap,
    502 when a descriptor ran out) has a first line too, and holds next to nothing. Refusals are counted."""
    rig.set_fake(first_frame_delay=0.0, token_interval=interval)
    base_rss = rss_bytes(rig.gw_pid)
    opened = refused = 0
    peak = base_rss
    async with _session(600) as http:
        async def hold() -> None:
            nonlocal opened, refused
            try:
                async with http.post(rig.gw + "/v1/chat/completions", json=chat_body(True),
                                     headers={"Authorization": f"Bearer {KEY}"}) as resp:
                    if resp.status != 200 or not (await resp.content.readline()).startswith(b"data:"):
                        refused += 1
                        return
                    opened += 1
                    async for _ in resp.content.iter_any():
                        pass
            except aiohttp.ClientError:
                refused += 1

        tasks = [asyncio.create_task(hold()) for _ in range(n)]
        t0 = time.perf_counter()
        while opened + refused < n and time.perf_counter() - t0 < 60 + n / 50:
            await asyncio.sleep(0.2)
            peak = max(peak, rss_bytes(rig.gw_pid))
        open_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # every stream open and idle: the steady state
        peak = max(peak, rss_bytes(rig.gw_pid))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rig.set_fake(first_frame_delay=0.0, token_interval=0.0)
    return {"streams": opened, "refused": refused, "kb_per_stream": (peak - base_rss) / max(1, opened) / 1024,
            "rss_mb": peak / 2**20, "open_per_s": opened / open_s}
