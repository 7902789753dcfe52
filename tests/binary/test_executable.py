"""The downloadable executable: build it when stale, then run it the way a newcomer would.

Builds `dist/grok2api` with `bash build/binary.sh` when it is missing or older than any source
(about a minute on two cores), so CI always tests the current code. Prints the executable's size
and its time from start to the first `/health` 200 (goal: <= 25 MB and <= 1 s).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / "dist" / "grok2api"
SOURCES = [ROOT / "grok2api", ROOT / "templates", ROOT / "static", ROOT / "grok2api.spec",
           ROOT / "build" / "binary.sh", ROOT / "setup.cfg", ROOT / "pyproject.toml"]

pytestmark = pytest.mark.slow


def _newest_source() -> float:
    newest = 0.0
    for src in SOURCES:
        paths = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        newest = max([newest, *(p.stat().st_mtime for p in paths)])
    return newest


@pytest.fixture(scope="module")
def executable() -> Path:
    if not EXE.exists() or EXE.stat().st_mtime < _newest_source():
        started = time.monotonic()
        res = subprocess.run(["bash", "build/binary.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                             check=False)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        print(f"\nbuilt {EXE} in {time.monotonic() - started:.1f}s")
    return EXE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(data_dir: Path) -> dict[str, str]:
    """No Python paths or developer settings leak into the executable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GROK2API_", "SERVER_", "PYTHON", "VIRTUAL_ENV")) and k != "DATA_DIR"}
    env["DATA_DIR"] = str(data_dir)
    return env


def children_of(pid: int) -> list[int]:
    """Direct children (the onefile launcher runs the program in one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(1200)
def test_executable_serves_demo_chat_and_admin_then_stops_cleanly(executable: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(data)
    made = subprocess.run([str(executable), "keys", "create", "--name", "ci"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-"), made.stdout

    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        started = time.monotonic()
        proc = subprocess.Popen([str(executable), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    workers: list[int] = []
    try:
        startup = None
        deadline = started + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        startup = time.monotonic() - started
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.01)
        assert startup is not None, log_path.read_text()
        size_mb = executable.stat().st_size / 1e6
        print(f"\nexecutable size {size_mb:.1f} MB; start to first /health 200: {startup:.2f}s")
        workers = children_of(proc.pid)

        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0) as sdk:
            stream = sdk.chat.completions.create(
                model="grok-4", stream=True, messages=[{"role": "user", "content": "hello from the binary"}])
            pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
            assert "hello from the binary" in "".join(pieces) and len(pieces) > 2, pieces

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login", timeout=10) as r:
            page = r.read().decode()
            assert r.status == 200 and "<form" in page.lower()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=45) == 0, log_path.read_text()[-3000:]
        time.sleep(0.2)
        assert not [p for p in workers if alive(p)], f"left running: {workers}"
        assert (data / "grok2api.db").exists() and (data / "config.toml").exists()
        assert "Traceback" not in log_path.read_text(), log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found += kids
        todo += kids
    return found


@pytest.mark.timeout(1200)
def test_executable_runs_workers_and_every_process_stops_on_sigterm(executable: Path, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(executable), "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
                                env=clean_env(tmp_path / "data"), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    tree: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text().count("grok2api listening") < 2:
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert r.status == 200
        tree = descendants(proc.pid)
        assert len(tree) >= 2, tree
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        time.sleep(0.3)
        assert not [p for p in tree if alive(p)], f"left running: {tree}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in tree:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
