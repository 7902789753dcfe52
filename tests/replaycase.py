"""Turn a transcript into a pytest case against the real gateway.

A case is a directory: the transcript files of one run (as `capture.enabled` or `doctor --capture`
wrote them) and `case.json`:

    {"request": {"method": "POST", "path": "/v1/chat/completions", "json": {...}},
     "expect": {"status": 200, "json": {...}},       # the gateway's answer, volatile fields normalised
     "pool": "basic",                                 # optional: the pool of the one account
     "env": {"GROK2API_CHAT_TRANSPORT": "rest"}}      # optional: settings of the run

`answer_from_replay(case_dir, ...)` serves the transcripts with fakegrok in strict replay mode, points
the real gateway (make_app, real curl_cffi client) at it and sends the request; `cases()` lists the
case directories under tests/transcripts for `pytest.mark.parametrize`.

From a real failure to a test: copy the transcripts of the failing request from the capture directory
into tests/transcripts/<name>/, then

    .venv/bin/python -m tests.replaycase expect tests/transcripts/<name> '{"model": "grok-4", "messages": [...]}'

replays them through the gateway and writes case.json with the answer it got (review it: it is what
the test will hold the gateway to). The examples were recorded from the simulator with `record`:

    .venv/bin/python -m tests.replaycase record tests/transcripts/chat_mgw '{"model": "grok-4", ...}'
    .venv/bin/python -m tests.replaycase record tests/transcripts/anti_bot_rest '{...}' \
        --env GROK2API_CHAT_TRANSPORT=rest --switch anti_bot
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from grok2api import fakegrok
from grok2api.app import make_app
from grok2api.fakegrok.replay import Replay
from grok2api.fakegrok.transcripts import TranscriptStore
from grok2api.keys import CAPTURE, POOL, STORAGE
from grok2api.pool.ops import import_tokens
from tests.conftest import make_settings

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
KEY = "sk-replay-case-key-0123456789"
ANY = "<any>"
# Values that differ on every run whatever grok.com said: ids minted by the gateway, clocks.
VOLATILE_KEYS = frozenset({"id", "created", "created_at", "completed_at", "system_fingerprint", "request_id"})


@dataclass(slots=True)
class Case:
    directory: Path
    request: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    pool: str = "basic"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str:
        # fakegrok picks the tier from the token's prefix, so the account is of the case's pool on both runs.
        return f"{self.pool}-replay-case-account-0001"


def load_case(directory: Path) -> Case:
    data = json.loads((directory / "case.json").read_text(encoding="utf-8"))
    return Case(directory, data["request"], data.get("expect", {}), data.get("pool", "basic"), data.get("env", {}))


def write_case(case: Case) -> None:
    body = {"request": case.request, "expect": case.expect, "pool": case.pool}
    if case.env:
        body["env"] = case.env
    (case.directory / "case.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def cases(root: Path = TRANSCRIPTS) -> list[Any]:
    return [pytest.param(load_case(d), id=d.name) for d in sorted(root.iterdir()) if (d / "case.json").exists()]


def normalize(value: Any) -> Any:
    """The answer without what differs on every run (ids the gateway mints, timestamps)."""
    if isinstance(value, dict):
        return {k: ANY if k in VOLATILE_KEYS else normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


async def _gateway_answer(upstream: str, case: Case, data_dir: Path, env: dict[str, str]) -> tuple[int, Any]:
    full_env = {
        "GROK2API_APP_API_KEY": KEY, "GROK2API_NETWORK_GROK_URL": upstream, "GROK2API_NETWORK_ASSETS_URL": upstream,
        "GROK2API_NETWORK_ACCOUNTS_URL": upstream, "GROK2API_SECURITY_RATE_LIMIT_ENABLED": "false",
        "GROK2API_TOKEN_AUTO_REFRESH": "false", "GROK2API_RETRY_MAX_RETRY": "0", **case.env, **env,
    }
    app = make_app(make_settings(data_dir, env=full_env))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await import_tokens(app[STORAGE], case.token, default_pool=case.pool)
        await app[POOL].sync()
        request = case.request
        resp = await client.request(request.get("method", "POST"), request["path"], json=request.get("json"),
                                    headers={"Authorization": f"Bearer {KEY}"})
        text = await resp.text()
        await app[CAPTURE].flush()
    finally:
        await client.close()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return resp.status, normalize(body)


async def _fake(replay: Replay | None = None) -> TestServer:
    server = TestServer(fakegrok.make_app(fakegrok.FakeConfig(), replay))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    config = server.app[fakegrok.FAKE_STATE].config
    config.assets_origin = config.imagine_origin = base
    return server


async def answer_from_simulator(case: Case, capture_dir: Path | None, data_dir: Path,
                                switches: dict[str, Any] | None = None) -> tuple[int, Any]:
    """The gateway's answer against the simulated grok.com, each exchange captured into `capture_dir`
    (None: the settings' default, capture off)."""
    server = await _fake()
    try:
        if switches:
            server.app[fakegrok.FAKE_STATE].set_switches(case.token, switches)
        base = str(server.make_url("")).rstrip("/")
        env = {} if capture_dir is None else {"GROK2API_CAPTURE_ENABLED": "true",
                                              "GROK2API_CAPTURE_DIR": str(capture_dir)}
        return await _gateway_answer(base, case, data_dir, env)
    finally:
        await server.close()


async def answer_from_replay(case: Case, data_dir: Path) -> tuple[int, Any, list[dict[str, Any]]]:
    """The gateway's answer when grok.com is the case's transcripts replayed (strict: nothing simulated),
    and what the replay server received."""
    server = await _fake(Replay(TranscriptStore(case.directory), speed=0.0, strict=True))
    try:
        status, body = await _gateway_answer(str(server.make_url("")).rstrip("/"), case, data_dir, {})
        return status, body, list(server.app[fakegrok.FAKE_STATE].records)
    finally:
        await server.close()


def main(argv: list[str]) -> int:
    """`record` a case against the simulator (the examples), or write the `expect` of copied real transcripts."""
    parser = argparse.ArgumentParser(prog="python -m tests.replaycase", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("record", "expect"),
                        help="record: capture a new case from the simulated grok.com; expect: replay DIR's "
                             "transcripts and write the answer as the expectation")
    parser.add_argument("directory", type=Path)
    parser.add_argument("body", help="the request's JSON body")
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--pool", default="basic", choices=("basic", "super", "heavy"))
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a setting of the run")
    parser.add_argument("--switch", action="append", default=[], metavar="NAME",
                        help="record: a fakegrok scenario switch for the account (e.g. anti_bot)")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    case = Case(args.directory, {"method": "POST", "path": args.path, "json": json.loads(args.body)}, {}, args.pool, env)
    if args.action == "expect" and (args.directory / "case.json").exists() and not args.env:
        old = load_case(args.directory)
        case.pool, case.env = old.pool, old.env
    with tempfile.TemporaryDirectory() as data_dir:
        if args.action == "record":
            if any(args.directory.glob("*.json")):
                parser.error(f"{args.directory} already holds files: record into an empty directory")
            status, body = asyncio.run(answer_from_simulator(case, args.directory, Path(data_dir),
                                                             dict.fromkeys(args.switch, True)))
        else:
            status, body, _ = asyncio.run(answer_from_replay(case, Path(data_dir)))
    case.expect = {"status": status, "json": body}
    write_case(case)
    print(f"wrote {args.directory / 'case.json'}: HTTP {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
