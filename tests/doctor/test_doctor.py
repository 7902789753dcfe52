"""`grok2api doctor` against fakegrok: the full table, anti-bot strategies, an expired account, the request budget."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from grok2api import fakegrok
from grok2api.doctor import WORDS, Doctor, Options, Report, budget, plan, table_text, word_of
from grok2api.egress.model import egress_name
from grok2api.fakegrok import FakeConfig
from grok2api.fakegrok.replay import Replay
from grok2api.fakegrok.transcripts import TranscriptStore
from grok2api.storage import make_storage
from grok2api.storage.base import AccountRecord, account_id_for
from grok2api.upstream import GrokClient, UpstreamConfig
from grok2api.upstream.errors import ErrorKind, UpstreamError

ServerFactory = Callable[..., Awaitable[TestServer]]
TOKEN = "basic-doctor-" + "d" * 30
REPO = Path(__file__).resolve().parents[2]


async def start_fake(aiohttp_server: ServerFactory, config: FakeConfig | None = None) -> tuple[TestServer, str]:
    server = await aiohttp_server(fakegrok.make_app(config or FakeConfig()))
    base = str(server.make_url("")).rstrip("/")
    cfg = server.app[fakegrok.FAKE_STATE].config
    cfg.assets_origin = cfg.imagine_origin = base
    return server, base


def client_for(base: str, **overrides: Any) -> GrokClient:
    values: dict[str, Any] = {"grok_url": base, "assets_url": base, "accounts_url": base, "timeout": 20.0,
                              "first_byte_timeout": 5.0, "idle_timeout": 5.0, "connect_timeout": 5.0}
    values.update(overrides)
    return GrokClient(UpstreamConfig(**values))


async def check(base: str, token: str = TOKEN, options: Options | None = None, **overrides: Any) -> Report:
    async with client_for(base, **overrides) as client:
        options = options or Options(strategies=client.config.statsig_strategies)
        return await Doctor(client, token, options, account="test").run_all()


def rows(report: Report) -> dict[str, Any]:
    return {r.id: r for r in report.results}


def recorded(server: TestServer) -> int:
    return len(server.app[fakegrok.FAKE_STATE].records)


async def test_every_step_passes_against_the_fake(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    report = await check(base)
    by_id = rows(report)
    assert list(by_id) == ["egress", "page", "session", "statsig", "rate_limits", "modes", "chat_mgw", "mgw_reuse",
                           "chat_rest", "upload", "imagine", "quota"]
    assert {i: r.result for i, r in by_id.items() if r.result != "ok"} == {}
    assert report.exit_code == 0
    # Strict anti-bot rules are on by default: the table names the strategies that pass.
    assert "local passes" in by_id["statsig"].detail and "fallback passes" in by_id["statsig"].detail
    assert "signer unavailable" in by_id["statsig"].detail
    # The fake serves a second conversation on a socket, as grok.com does today (C8).
    assert by_id["mgw_reuse"].detail.startswith("works: a second chat completed on the same socket")
    assert "chat.mgw_keep_socket = true" in by_id["mgw_reuse"].next
    assert by_id["egress"].detail.startswith("direct")
    # Spent exactly what the fake received, and no more than listed up front.
    assert report.spent[0] == recorded(server) == sum(r.spent for r in report.results)
    assert report.spent[0] <= report.planned[0]
    assert all(r.result in WORDS for r in report.results)
    text = table_text(report)
    assert "STEP" in text and "ENDPOINT" in text and "LATENCY" in text and "every step the gateway needs passed" in text


@pytest.mark.parametrize("keep_on", [False, True])
async def test_mgw_reuse_row_when_grok_closes_after_each_chat(aiohttp_server: ServerFactory, keep_on: bool) -> None:
    _, base = await start_fake(aiohttp_server, FakeConfig(mgw_keep_serving=False))
    report = await check(base, options=Options(only=frozenset({"mgw_reuse"})), mgw_keep_socket=keep_on)
    row = rows(report)["mgw_reuse"]
    assert row.result == "not supported" and report.exit_code == 0  # informational: the gateway does without
    assert row.detail == ("not supported: grok.com closed the socket after response.done "
                          f"(chat.mgw_keep_socket is {'on' if keep_on else 'off'})")
    assert row.next.startswith("Keep chat.mgw_keep_socket off")
    text = table_text(report)
    assert "not supported: grok.com closed the socket after response.done" in text
    assert "next: Keep chat.mgw_keep_socket off" in text


async def test_statsig_row_shows_refused_and_passing_strategies(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    bogus = base64.b64encode(bytes(range(1, 71))).decode()  # 70 bytes, no signature of this page: C3 refuses it
    report = await check(base, statsig_strategies=("manual", "local", "fallback"), statsig_value=bogus)
    statsig = rows(report)["statsig"]
    assert statsig.result == "ok"
    assert statsig.detail == "manual refused · local passes · fallback passes"
    # Later signed calls start with a passing strategy: no request lost on the refused one.
    later = [r for r in server.app[fakegrok.FAKE_STATE].records if r["path"] == "/rest/rate-limits"]
    assert [r["headers"]["x-statsig-id"] == bogus for r in later].count(True) == 1
    assert report.spent[0] <= report.planned[0]


async def test_anti_bot_on_chat_tries_each_strategy(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    server.app[fakegrok.FAKE_STATE].set_switches(TOKEN, {"anti_bot": True})
    report = await check(base, chat_transport="rest")
    by_id = rows(report)
    chat = by_id["chat_rest"]
    assert chat.result == "anti-bot" and chat.required
    assert "local refused" in chat.detail and "fallback refused" in chat.detail
    assert chat.next.startswith("x-statsig-id refused")
    assert by_id["statsig"].result == "ok"  # rate-limits is not refused: only chat is (as grok.com did, C1)
    assert report.exit_code == 1
    assert report.spent[0] == recorded(server) <= report.planned[0]


async def test_expired_account_fails_at_the_session_and_spends_nothing_more(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    server.app[fakegrok.FAKE_STATE].set_switches(TOKEN, {"invalid_token": True})
    report = await check(base)
    by_id = rows(report)
    assert by_id["session"].result == "expired" and "sign in" in by_id["session"].next
    assert [r.result for r in report.results[3:]] == ["skipped"] * (len(report.results) - 3)
    assert report.exit_code == 1 and report.spent[0] == recorded(server) == 3


async def test_cloudflare_and_rate_limits_are_named(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    state = server.app[fakegrok.FAKE_STATE]
    state.set_switches(TOKEN, {"rate_limited": 40})
    limited = rows(await check(base, options=Options(only=frozenset({"media"}))))
    assert limited["imagine"].result == "rate-limited"
    state.set_switches(None, {"cloudflare": True})
    challenged = rows(await check(base, options=Options(only=frozenset({"egress", "session"}))))
    assert challenged["egress"].result == "Cloudflare" and "proxy" in challenged["egress"].next


async def test_only_selects_steps_and_their_needs(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    config = UpstreamConfig(grok_url=base)
    assert [s.id for s in plan(config, Options(only=frozenset({"chat"})))] == ["session", "chat_mgw", "mgw_reuse",
                                                                               "chat_rest"]
    assert "video" not in [s.id for s in plan(config, Options())]
    assert [s.id for s in plan(config, Options(only=frozenset({"media"}), media=True))] == ["imagine", "video"]
    with pytest.raises(ValueError, match="unknown step or group nope"):
        plan(config, Options(only=frozenset({"nope"})))
    report = await check(base, options=Options(only=frozenset({"media"}), media=True))
    assert [(r.id, r.result) for r in report.results] == [("imagine", "ok"), ("video", "ok")]
    assert report.spent[0] == recorded(server) <= budget(plan(config, Options(only=frozenset({"media"}),
                                                                              media=True)))[0]


async def test_an_unreachable_proxy_is_a_network_failure_and_stops_the_run(aiohttp_server: ServerFactory) -> None:
    server, base = await start_fake(aiohttp_server)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    report = await check(base, proxy_url=f"http://user:secret@127.0.0.1:{port}")
    by_id = rows(report)
    assert by_id["egress"].result == "network" and "DNS, firewall and the proxy" in by_id["egress"].next
    assert report.egress == f"proxy http://127.0.0.1:{port}"  # the proxy, without its credentials
    assert "secret" not in table_text(report)
    assert all(r.result == "skipped" for r in report.results[1:]) and report.exit_code == 1
    assert recorded(server) == 0


async def test_error_texts_never_show_the_token(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    token = "basic-leaky-" + "t" * 30
    # A grok.com that quotes the cookie and the e-mail in its error (replayed from a hand-written transcript).
    (tmp_path / "session.json").write_text(json.dumps({
        "format": "grok2api-transcript/1", "kind": "http",
        "request": {"method": "GET", "url": "https://grok.com/api/auth/session", "headers": {}},
        "response": {"status": 401, "headers": {"content-type": "application/json"},
                     "text": json.dumps({"error": {"code": 16, "message": f"session of sso={token} "
                                                                         f"(alice@example.com) revoked"}})}}))
    server = await aiohttp_server(fakegrok.make_app(FakeConfig(), Replay(TranscriptStore(tmp_path), speed=0)))
    report = await check(str(server.make_url("")).rstrip("/"), token=token,
                         options=Options(only=frozenset({"session"})))
    session = rows(report)["session"]
    assert session.result == "expired" and "revoked" in session.detail
    shown = table_text(report) + json.dumps(report.to_json())
    assert token not in shown and "alice@example.com" not in shown


def test_words_of_every_error_kind() -> None:
    expected = {ErrorKind.AUTH: "expired", ErrorKind.CLOUDFLARE: "Cloudflare", ErrorKind.ANTI_BOT: "anti-bot",
                ErrorKind.STALE_PAGE: "anti-bot", ErrorKind.RATE_LIMITED: "rate-limited",
                ErrorKind.NETWORK: "network", ErrorKind.TIMEOUT: "network", ErrorKind.BAD_REQUEST: "changed shape",
                ErrorKind.MODERATED: "changed shape", ErrorKind.TRANSIENT: "rate-limited"}
    for kind, word in expected.items():
        assert word_of(UpstreamError(kind, "x")) == word
    assert word_of(UpstreamError(ErrorKind.UPSTREAM, "5xx", status=502)) == "network"
    assert word_of(UpstreamError(ErrorKind.UPSTREAM, "unexpected /rest/modes answer")) == "changed shape"


# -- the command line ---------------------------------------------------------------------
async def cli(base: str, tmp_path: Path, *args: str, **extra_env: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
    env.update({"GROK2API_NETWORK_GROK_URL": base, "GROK2API_NETWORK_ASSETS_URL": base,
                "GROK2API_NETWORK_ACCOUNTS_URL": base, "PYTHONPATH": str(REPO), **extra_env})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "grok2api", "doctor", "--data-dir", str(tmp_path / "data"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_prints_the_table_and_exits_zero(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    server, base = await start_fake(aiohttp_server)
    code, out, err = await cli(base, tmp_path, "--token", TOKEN)
    assert code == 0, out + err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("STEP"))
    assert header.split() == ["STEP", "ENDPOINT", "RESULT", "LATENCY"]
    for step in ("egress", "page", "session", "statsig", "rate_limits", "modes", "chat_mgw", "chat_rest", "upload",
                 "imagine", "quota"):
        row = next(line for line in lines if line.startswith(step + " "))
        assert " ok " in row, row
    assert TOKEN not in out + err
    assert f"{recorded(server)} of at most" in out


async def test_cli_json_dry_run_and_expired(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    server, base = await start_fake(aiohttp_server)
    code, out, _ = await cli(base, tmp_path, "--token", TOKEN, "--dry-run")
    assert code == 0 and "at most" in out and "/rest/rate-limits" in out
    code, out, _ = await cli(base, tmp_path, "--token", TOKEN, "--dry-run", "--json", "--only", "chat")
    planned = json.loads(out)
    assert [s["id"] for s in planned["steps"]] == ["session", "chat_mgw", "mgw_reuse", "chat_rest"]
    assert recorded(server) == 0  # a dry run spends nothing
    server.app[fakegrok.FAKE_STATE].set_switches(TOKEN, {"invalid_token": True})
    code, out, _ = await cli(base, tmp_path, "--token", TOKEN, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    session = next(s for s in report["steps"] if s["id"] == "session")
    assert session["result"] == "expired"
    assert report["requests"]["spent"] == recorded(server) <= report["requests"]["planned_max"]
    code, _, err = await cli(base, tmp_path, "--token", TOKEN, "--only", "nope")
    assert code == 2 and "unknown step or group" in err


async def test_cli_capture_writes_redacted_transcripts(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    _, base = await start_fake(aiohttp_server)
    directory = tmp_path / "capture"
    code, _, err = await cli(base, tmp_path, "--token", TOKEN, "--only", "session,chat", "--capture", str(directory))
    assert code == 0, err
    files = sorted(directory.glob("*.json"))
    assert {json.loads(p.read_text())["step"] for p in files} >= {"session", "chat_mgw", "chat_rest"}
    assert f"transcripts: {len(files)} files" in err
    assert TOKEN not in "".join(p.read_text() for p in files)


async def test_cli_checks_a_stored_account_through_its_egress(tmp_path: Path) -> None:
    """With egresses configured, the command checks the first active account through the egress the
    gateway binds it to (Cloudflare clearance is bound to the egress: another one would tell nothing)."""
    first, second = "http://127.0.0.1:18081", "http://127.0.0.1:18082"
    storage = make_storage("sqlite", "", tmp_path / "data")
    await storage.open()
    try:
        await storage.upsert_accounts([AccountRecord(id=account_id_for(TOKEN), token=TOKEN, egress=egress_name(second))])
    finally:
        await storage.close()
    code, out, err = await cli("http://127.0.0.1:9", tmp_path, "--dry-run",
                               GROK2API_PROXY_EGRESS_URLS=f'["{first}", "{second}"]')
    assert code == 0, out + err
    assert "proxy http://127.0.0.1:18082" in out and "18081" not in out
