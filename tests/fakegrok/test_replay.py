"""fakegrok --replay: transcripts captured from the real client replay with the same answers and pace."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from curl_cffi.requests import AsyncSession

from grok2api import fakegrok
from grok2api.fakegrok import FakeConfig
from grok2api.fakegrok.replay import Replay
from grok2api.fakegrok.transcripts import TranscriptStore, path_matches, shape
from grok2api.upstream import ChatRequest, GrokClient, UpstreamConfig
from grok2api.upstream.capture import Capture, CaptureOptions
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.events import Done, ImageReady, TextDelta

ServerFactory = Callable[..., Awaitable[TestServer]]
TOKEN = "basic-replay-" + "r" * 30


def client_for(base: str, **overrides: Any) -> GrokClient:
    values: dict[str, Any] = {"grok_url": base, "assets_url": base, "accounts_url": base, "timeout": 20.0,
                              "first_byte_timeout": 5.0, "idle_timeout": 5.0, "connect_timeout": 5.0}
    values.update(overrides)
    return GrokClient(UpstreamConfig(**values))


async def serve_fake(aiohttp_server: ServerFactory, config: FakeConfig | None = None,
                     replay: Replay | None = None) -> tuple[TestServer, str]:
    server = await aiohttp_server(fakegrok.make_app(config or FakeConfig(), replay))
    base = str(server.make_url("")).rstrip("/")
    cfg = server.app[fakegrok.FAKE_STATE].config
    cfg.assets_origin = cfg.imagine_origin = base
    return server, base


async def run_both(aiohttp_server: ServerFactory, tmp_path: Path,
                   action: Callable[[GrokClient], Awaitable[Any]], *, config: FakeConfig | None = None,
                   switches: dict[str, Any] | None = None, speed: float = 0.0,
                   **client_options: Any) -> tuple[Any, Any, TestServer]:
    """Run `action` against the simulator with capture on, then against a replay of what was captured."""
    live, live_base = await serve_fake(aiohttp_server, config)
    if switches:
        live.app[fakegrok.FAKE_STATE].set_switches(TOKEN, switches)
    capture = Capture(CaptureOptions(directory=str(tmp_path / "t")))
    client = client_for(live_base, **client_options)
    client.transport.taps.append(capture)
    try:
        first = await action(client)
    finally:
        await client.close()
        await capture.close()
    replayed, replay_base = await serve_fake(
        aiohttp_server, replay=Replay(TranscriptStore(tmp_path / "t"), speed=speed, strict=True))
    again = client_for(replay_base, **client_options)
    try:
        second = await action(again)
    finally:
        await again.close()
    return first, second, replayed


async def outcome(coro: Awaitable[Any]) -> Any:
    try:
        return await coro
    except UpstreamError as err:
        return ("error", err.kind, err.status, err.message)


async def events_of(agen: Any) -> list[Any]:
    return [e async for e in agen]


def plain(events: list[Any]) -> list[Any]:
    """Events without the per-run ids (conversation/response ids come from the recording anyway)."""
    return [(type(e).__name__, getattr(e, "text", None), getattr(e, "data", b"")[:64],
             getattr(e, "slot", None)) for e in events]


async def records(server: TestServer) -> list[dict[str, Any]]:
    return list(server.app[fakegrok.FAKE_STATE].records)


def test_shapes_and_paths() -> None:
    assert shape({"a": 1, "b": ["x", "y"], "c": {"d": None}}) == shape({"b": ["z"], "a": 2.5, "c": {"d": None}})
    assert shape({"a": 1}) != shape({"a": "1"}) and shape({"a": 1}) != shape({"a": 1, "b": 2})
    assert path_matches("/rest/app-chat/conversations/3f9c2a1e-7b4d-4e8f-9a2b-1c3d5e7f9a0b/responses",
                        "/rest/app-chat/conversations/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/responses")
    assert not path_matches("/rest/rate-limits", "/rest/modes")
    assert not path_matches("/http/upload-file-v2/direct", "/http/upload-file-v1/direct")


async def test_chat_over_mgw_replays_identically(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    async def chat(client: GrokClient) -> Any:
        return plain(await events_of(client.chat(TOKEN, ChatRequest(message="replay me [[render]]", mode="auto"))))

    first, second, server = await run_both(aiohttp_server, tmp_path, chat)
    assert first == second
    assert "Echo: replay me" in "".join(t for kind, t, _, _ in first if kind == "TextDelta" and t)
    kinds = [r.get("replayed", "") for r in await records(server)]
    assert all(kinds) and len(kinds) == 2  # session and the socket: nothing simulated


async def test_rest_chat_with_anti_bot_refusal_replays(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    async def chat(client: GrokClient) -> Any:
        return await outcome(events_of(client.chat(TOKEN, ChatRequest(message="hi", mode_id="fast", transport="rest"))))

    first, second, server = await run_both(aiohttp_server, tmp_path, chat, switches={"anti_bot": True})
    assert first[0] == "error" and first[1] is ErrorKind.ANTI_BOT
    assert first == second
    paths = [r["path"] for r in await records(server)]
    assert paths.count("/rest/app-chat/conversations/new") == 2  # the refusal and the one retry, both replayed


async def test_imagine_image_replays_with_the_same_bytes(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    async def image(client: GrokClient) -> Any:
        return [(e.slot, e.data) for e in await events_of(client.imagine(TOKEN, "a red fox", n=1))
                if isinstance(e, ImageReady)]

    first, second, _ = await run_both(aiohttp_server, tmp_path, image)
    assert len(first) == 1 and len(first[0][1]) > 100_000
    assert first == second


async def test_refused_socket_and_status_errors_replay(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    async def both(client: GrokClient) -> Any:
        return [await outcome(events_of(client.imagine(TOKEN, "a cat", n=1))),
                await outcome(client.rate_limits(TOKEN, "fast"))]

    first, second, _ = await run_both(aiohttp_server, tmp_path, both, switches={"rate_limited": 9})
    assert first[0][1] is ErrorKind.RATE_LIMITED
    assert first == second


async def test_frames_keep_their_recorded_pace(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    async def chat(client: GrokClient) -> Any:
        loop = asyncio.get_running_loop()
        times = []
        async for event in client.chat(TOKEN, ChatRequest(message="[[tokens:6]]", mode_id="fast", transport="rest")):
            if isinstance(event, (TextDelta, Done)):
                times.append(loop.time())
        return times[-1] - times[0]

    paced = FakeConfig(token_interval=0.05)
    first, second, _ = await run_both(aiohttp_server, tmp_path, chat, config=paced, speed=1.0)
    assert first >= 0.2 and second >= 0.2  # 6 frames, 50 ms apart, as recorded


async def test_unmatched_requests_are_simulated_or_refused_in_strict_mode(aiohttp_server: ServerFactory,
                                                                          tmp_path: Path) -> None:
    directory = tmp_path / "one"
    directory.mkdir()
    (directory / "a.json").write_text(json.dumps({
        "format": "grok2api-transcript/1", "kind": "http",
        "request": {"method": "POST", "url": "https://grok.com/rest/rate-limits", "headers": {},
                    "json": {"modelName": "fast"}},
        "response": {"status": 200, "headers": {"content-type": "application/json"},
                     "text": json.dumps({"remainingQueries": 3, "totalQueries": 7, "windowSizeSeconds": 60})}}))
    for strict in (False, True):
        _, base = await serve_fake(aiohttp_server, replay=Replay(TranscriptStore(directory), speed=0, strict=strict))
        client = client_for(base, statsig_strategies=("fallback",))
        try:
            limits = await client.rate_limits(TOKEN, "fast")
            assert (limits.remaining, limits.total) == (3, 7)  # replayed, whatever the account
            result = await outcome(client.modes(TOKEN))
        finally:
            await client.close()
        if strict:
            assert result[0] == "error" and result[2] == 501 and "no recorded exchange" in result[3]
        else:
            assert [m.id for m in result][:2] == ["auto", "fast"]  # simulated


def test_a_directory_without_transcripts_is_refused(tmp_path: Path) -> None:
    (tmp_path / "case.json").write_text("{}")
    with pytest.raises(ValueError, match="no grok2api transcript"):
        TranscriptStore(tmp_path)


async def test_cli_serves_a_replay_on_a_free_port(tmp_path: Path) -> None:
    directory = tmp_path / "cli"
    directory.mkdir()
    (directory / "a.json").write_text(json.dumps({
        "format": "grok2api-transcript/1", "kind": "http",
        "request": {"method": "GET", "url": "https://grok.com/api/auth/session", "headers": {}},
        "response": {"status": 401, "headers": {"content-type": "application/json"},
                     "text": '{"status":"unauthenticated"}'}}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "grok2api", "fake-grok", "--port", "0", "--replay", str(directory), "--speed", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = ""
        while "listening on" not in line:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "fake-grok exited before it listened"
        assert "replaying 1 recorded exchanges" in line
        url = line.rsplit(" ", 1)[-1].strip()
        async with AsyncSession() as http:
            resp = await http.get(url + "/api/auth/session")
            assert resp.status_code == 401 and resp.json() == {"status": "unauthenticated"}
    finally:
        proc.terminate()
        await proc.wait()
