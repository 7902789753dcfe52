"""What an open stream keeps: not the request body's bytes once the body is parsed."""

from __future__ import annotations

import tracemalloc

from tests.gateway.conftest import Stack

BIG = 1_000_000  # an agent-sized prompt, large enough to tell its copies from everything else
# Where the server side of aiohttp allocates what it reads of a request (not its client, which sent the body).
AIOHTTP_SERVER_READS = ("aiohttp/web_request.py", "aiohttp/streams.py", "aiohttp/http_parser.py")


def live_copies(snapshot: tracemalloc.Snapshot, where: tuple[str, ...]) -> list[str]:
    """Live blocks of at least BIG bytes allocated in a file named by `where` (the traceback's most recent frame)."""
    return [str(stat.traceback[-1]) for stat in snapshot.statistics("traceback")
            if stat.size >= BIG and stat.traceback[-1].filename.endswith(where)]


async def test_an_open_stream_holds_no_copy_of_the_request_body(stack: Stack) -> None:
    """aiohttp's request.read() keeps the bytes for the request's life, which for a stream is the
    stream's: the body reader does not (tests/admin/test_log_reasons.py: a refusal's log line still
    names the model the body asked for)."""
    await stack.add_tokens(["sso-open-stream-memory-" + "m" * 24])
    stack.state.config.token_interval = 0.1  # the answer is still streaming while the snapshot is taken
    prompt = "[[tokens:8]] " + "x" * BIG
    tracemalloc.start(40)
    try:
        async with stack.http.post("/v1/chat/completions", headers=stack.headers(), json={
                "model": "grok-4", "stream": True, "messages": [{"role": "user", "content": prompt}]}) as resp:
            assert resp.status == 200
            first = await resp.content.readline()
            assert first.startswith(b"data:")
            snapshot = tracemalloc.take_snapshot()
            assert live_copies(snapshot, AIOHTTP_SERVER_READS) == []
            # The check itself sees a prompt-sized block where one is held: the parsed message is.
            assert live_copies(snapshot, ("grok2api/edge/body.py",))
            await resp.read()
    finally:
        tracemalloc.stop()

