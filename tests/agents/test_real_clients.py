"""The released coding agents against `grok2api serve --demo`: Codex edits a file with apply_patch,
Claude Code with Write, and a greeting makes neither touch the disk.

Optional: needs `node` and `npm`. The clients are installed once with npm into a cache folder
outside the repository (`GROK2API_AGENTS_CACHE`, default ~/.cache/grok2api-agents) and reused;
the versions are pinned (override with `GROK2API_AGENTS_CODEX` / `GROK2API_AGENTS_CLAUDE`, npm
specs). Without node/npm, or when npm cannot install a client, the tests skip with the reason.
The clients talk only to the demo gateway on 127.0.0.1 (telemetry and update checks are off).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_cli import free_port

CACHE = Path(os.environ.get("GROK2API_AGENTS_CACHE") or Path.home() / ".cache" / "grok2api-agents")
CODEX = os.environ.get("GROK2API_AGENTS_CODEX", "@openai/codex@0.171.0")
CLAUDE = os.environ.get("GROK2API_AGENTS_CLAUDE", "@anthropic-ai/claude-code@2.1.332")
KEY = "sk-demo-real-clients-0123456789"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+Hello from grok2api\n*** End Patch"
RUN_TIMEOUT = 180


def _package(spec: str) -> tuple[str, str]:
    name, _, version = spec.rpartition("@")
    return (name, version) if name else (spec, "")


def _installed_version(name: str) -> str | None:
    manifest = CACHE / "node_modules" / name / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _present(spec: str) -> bool:
    name, version = _package(spec)
    have = _installed_version(name)
    return have is not None and version in ("", have)


def _ensure_installed(specs: list[str]) -> None:
    """npm-installs the specs into CACHE unless the wanted versions are there (one installer at a time)."""
    if all(_present(s) for s in specs):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [s for s in specs if not _present(s)]
        if not missing:
            return
        done = subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund",
                               "--loglevel", "error", *missing], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"npm could not install {' '.join(missing)}: {done.stderr.strip()[-400:]}")


@pytest.fixture(scope="module")
def bins() -> dict[str, Path]:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed; the real-client tests need Node.js and npm")
    _ensure_installed([CODEX, CLAUDE])
    found = {name: CACHE / "node_modules" / ".bin" / name for name in ("codex", "claude")}
    for name, path in found.items():
        probe = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip(f"`{name} --version` fails here: {(probe.stderr or probe.stdout).strip()[-400:]}")
    return found


@dataclass
class Demo:
    url: str
    log: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
    env.update(DATA_DIR=str(data), SERVER_HOST="127.0.0.1", SERVER_PORT=str(port), GROK2API_APP_API_KEY=KEY)
    log_path = data / "demo.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grok2api", "serve", "--demo"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield Demo(f"http://127.0.0.1:{port}", log_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log_path.read_text()
    assert " ERROR " not in text and "Traceback" not in text, text


def _scratch_repo(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def _files(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.iterdir() if p.name != ".git")


def test_codex_applies_a_patch(bins: dict[str, Path], demo: Demo, tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "grok-4"\nmodel_provider = "grok2api"\ncheck_for_update_on_startup = false\n\n'
        "[model_providers.grok2api]\n"
        f'name = "grok2api"\nbase_url = "{demo.url}/v1"\nenv_key = "GROK2API_KEY"\nwire_api = "responses"\n'
        f'model_catalog_url = "{demo.url}/v1/models"\n\n[analytics]\nenabled = false\n')
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home), "GROK2API_KEY": KEY}
    repo = _scratch_repo(tmp_path / "repo")
    codex = [str(bins["codex"]), "exec", "--dangerously-bypass-approvals-and-sandbox", "-C", str(repo)]
    hello = _run([*codex, "say hi"], repo, env)
    assert "Echo: say hi" in hello and _files(repo) == []
    # The catalogue decoded: no fallback to default model metadata.
    for out in (hello, _run([*codex, f"Use apply_patch to add the file:\n```\n{PATCH}\n```"], repo, env)):
        assert "failed to decode models response" not in out and "Model metadata for" not in out, out
    assert (repo / "hello.txt").read_text() == "Hello from grok2api\n"


def test_claude_code_writes_a_file(bins: dict[str, Path], demo: Demo, tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_BASE_URL": demo.url,
           "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_MODEL": "grok-4", "ANTHROPIC_DEFAULT_HAIKU_MODEL": "grok-4",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
    repo = _scratch_repo(tmp_path / "repo")
    claude = str(bins["claude"])
    hello = _run([claude, "-p", "say hi"], repo, env)
    assert re.search(r"^Echo: say hi$", hello, re.M), hello
    assert _files(repo) == []  # a greeting writes nothing and ends after one answer
    target = repo / "hello.txt"
    out = _run([claude, "-p", "--permission-mode", "acceptEdits",
                f'Use Write to create "{target}" with "Hello from Claude"'], repo, env)
    assert "File created successfully" in out, out
    assert target.read_text() == "Hello from Claude" and _files(repo) == ["hello.txt"]
