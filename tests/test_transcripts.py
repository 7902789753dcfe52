"""Transcripts through the whole gateway: what it captured replays (fake-grok --replay) into the same answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.replaycase import Case, answer_from_replay, answer_from_simulator, cases

CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "Tell me something [[render]]"}]}
IMAGE = {"model": "grok-imagine-1.0", "prompt": "a lighthouse at dusk", "n": 1, "response_format": "b64_json"}


@pytest.mark.parametrize("case", cases())
async def test_example_transcripts_replay_into_the_recorded_answer(case: Case, tmp_path: Path) -> None:
    status, body, received = await answer_from_replay(case, tmp_path)
    assert (status, body) == (case.expect["status"], case.expect["json"])
    assert received and all(r.get("replayed") for r in received)  # every upstream call was answered from the files


@pytest.mark.parametrize(("name", "path", "body", "env", "switches"), [
    ("chat", "/v1/chat/completions", CHAT, {}, {}),
    ("image", "/v1/images/generations", IMAGE, {}, {}),
    ("anti_bot", "/v1/chat/completions", CHAT, {"GROK2API_CHAT_TRANSPORT": "rest"}, {"anti_bot": True}),
])
async def test_captured_run_replays_into_the_same_answer(tmp_path: Path, name: str, path: str, body: dict[str, Any],
                                                         env: dict[str, str], switches: dict[str, Any]) -> None:
    case = Case(tmp_path / name, {"method": "POST", "path": path, "json": body}, env=env)
    captured = await answer_from_simulator(case, case.directory, tmp_path / "first", switches)
    files = sorted(case.directory.glob("*.json"))
    assert files
    text = "".join(p.read_text() for p in files)
    assert case.token not in text  # redacted before it was written
    status, answer, received = await answer_from_replay(case, tmp_path / "second")
    assert (status, answer) == captured
    assert len(received) == len(files) and all(r.get("replayed") for r in received)
    if name == "image":
        assert status == 200 and len(answer["data"][0]["b64_json"]) > 100_000
    elif name == "anti_bot":
        assert status == 503 and answer["error"]["code"] == "upstream_anti_bot"
        steps = [json.loads(p.read_text())["outcome"] for p in files if "chat_rest" in p.name]
        assert steps == ["anti_bot", "anti_bot"]
    else:
        assert status == 200 and answer["choices"][0]["message"]["content"].startswith("Echo: Tell me something")


async def test_capture_is_off_by_default(tmp_path: Path) -> None:
    case = Case(tmp_path / "unused", {"method": "POST", "path": "/v1/chat/completions", "json": CHAT})
    status, _ = await answer_from_simulator(case, None, tmp_path / "data")
    assert status == 200
    assert not (tmp_path / "data" / "transcripts").exists() and not case.directory.exists()
