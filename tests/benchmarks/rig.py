"""The benchmark rig: fakegrok and a gateway (from this or another checkout) as pinned processes."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-bench-key-0123456789"
TOKEN = "heavy-bench-account-0001"
# The browser's 72-byte x1: fallback: the strict fake's length rule accepts it (chat paths are not replay-checked).
X1_STATSIG = "eDE6VHlwZUVycm9yOiBDYW5ub3QgcmVhZCBwcm9wZXJ0aWVzIG9mIHVuZGVmaW5lZCAocmVhZGluZyAnYWJjZGVmZ2hpaicp"
FAKE_HEADERS = {"x-statsig-id": X1_STATSIG, "Origin": "https://grok.com", "Referer": "https://grok.com/"}
FAKE_COOKIES = {"sso": TOKEN, "sso-rw": TOKEN}
CPUS = os.cpu_count() or 1
KEEP_SOCKET_ENV = "GROK2API_CHAT_MGW_KEEP_SOCKET"
KEEP_SERVING = "mgw_keep_serving"  # the fake's switch: keep serving an mgw socket after response.done

# Gives the one bench account a quota no run can exhaust; run by the gateway's own interpreter, so the
# SQLite file is written by the storage code of the tree under test.
BIG_QUOTA = """
import asyncio, sys
from pathlib import Path
from grok2api.storage import make_storage
from grok2api.storage.base import Quota, account_id_for

async def main():
    storage = make_storage("sqlite", "", Path(sys.argv[1]))
    await storage.open()
    for bucket in ("fast", "auto", "expert", "heavy"):
        await storage.set_quota(account_id_for(sys.argv[2]), bucket, Quota(10**9, 10**9, 7200, 0.0))
    await storage.close()

asyncio.run(main())
"""


@dataclass(frozen=True)
class Tree:
    """A checkout whose gateway is measured: its own .venv's Python, else ours with the checkout first on the path."""

    path: Path
    python: str
    env: dict[str, str] = field(default_factory=dict)
    serve: tuple[str, ...] = ("-m", "grok2api", "serve")  # what the rig runs as the gateway
    name: str = ""  # the table's column head when it is not the checkout's commit

    @classmethod
    def floor(cls) -> Tree:
        """The relay of floor.py in this checkout: the same parts as the gateway, none of its work."""
        return cls(ROOT, sys.executable, serve=("-m", "tests.benchmarks.floor"), name="floor (aiohttp + libcurl relay)")

    @classmethod
    def at(cls, path: Path) -> Tree:
        path = path.resolve()
        if not (path / "grok2api" / "__init__.py").exists():
            raise SystemExit(f"{path} is not a grok2api checkout")
        own = path / ".venv" / "bin" / "python"
        if own.exists():
            return cls(path, str(own))
        return cls(path, sys.executable, {"PYTHONPATH": str(path)})

    @property
    def label(self) -> str:
        """The checkout's commit (and a mark when it has uncommitted changes), else its folder name."""
        if self.name:
            return self.name
        try:
            head = subprocess.run(["git", "-C", str(self.path), "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(self.path), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return self.path.name
        return f"{self.path.name}@{head}{'+' if dirty else ''}" if head else self.path.name

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, *args], env={**env, **self.env}, cwd=self.path, capture_output=True,
                              text=True, timeout=120)

    def lacks_setting(self, env_name: str, env: dict[str, str]) -> str:
        """Why the tree cannot take `env_name=true`, "" when it can: `grok2api config check` warns about an
        environment name that names no key of the tree's schema, and fails on a value the key refuses."""
        done = self.run(["-m", "grok2api", "config", "check"], {**env, env_name: "true"})
        if done.returncode:
            return f"n/a (config check failed: {done.stderr.strip().splitlines()[-1:]})"
        return "n/a (setting not present)" if env_name in done.stderr else ""


def raise_fd_limit() -> int:
    """Open streams need two sockets each in the gateway; children inherit the raised soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cmd: list[str], core: int) -> list[str]:
    """Pin a process to one core when taskset exists: figures drift less on a shared machine."""
    if CPUS > 1 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0:
        return ["taskset", "-c", str(core % CPUS), *cmd]
    return cmd


def wait_http(url: str, deadline: float) -> None:
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (curl's and aiosqlite's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> float:
    """CPU of a process's live threads to the nanosecond (schedstat), for windows too short for clock ticks;
    a thread that ends inside the window takes its time with it, so long windows use cpu_seconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended while being read
    return total / 1e9


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Rig:
    """fakegrok (this checkout's) on one core, the tree's gateway on the other, a SQLite DATA_DIR with one big
    account. `extra_env` adds gateway settings, e.g. the mgw socket reuse switch."""

    def __init__(self, tmp: Path, transport: str = "ws", tree: Tree | None = None,
                 extra_env: dict[str, str] | None = None, records: int = 10) -> None:
        self.tmp = tmp
        self.transport = transport
        self.tree = tree or Tree.at(ROOT)
        self.extra_env = extra_env or {}
        self.records = records  # requests the fake keeps: enough to count a phase's mgw handshakes
        self.uid = ""
        self.fake_port, self.gw_port = free_port(), free_port()
        self.fake = f"http://127.0.0.1:{self.fake_port}"
        self.gw = f"http://127.0.0.1:{self.gw_port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gw_proc: subprocess.Popen[bytes] | None = None

    @property
    def gw_pid(self) -> int:
        assert self.gw_proc is not None
        return self.gw_proc.pid

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
        env.update(DATA_DIR=str(self.tmp), SERVER_HOST="127.0.0.1", SERVER_PORT=str(self.gw_port),
                   LOG_LEVEL="WARNING", GROK2API_APP_API_KEY=KEY, GROK2API_APP_APP_PASSWORD="bench-password-1",
                   GROK2API_NETWORK_GROK_URL=self.fake, GROK2API_NETWORK_ASSETS_URL=self.fake,
                   GROK2API_NETWORK_ACCOUNTS_URL=self.fake, GROK2API_SECURITY_RATE_LIMIT_ENABLED="false",
                   GROK2API_STATS_FLUSH_INTERVAL_SEC="2", GROK2API_TOKEN_AUTO_REFRESH="false",
                   GROK2API_CHAT_TRANSPORT=self.transport)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fake_cmd = [sys.executable, "-c", "from grok2api.fakegrok import FakeConfig, run; "
                    f"run('127.0.0.1', {self.fake_port}, FakeConfig(record_limit={self.records}))"]
        fake_env = {k: v for k, v in self.env().items() if k != "PYTHONPATH"}
        # stderr dropped: cancelled streams make fakegrok log every write to a closed socket.
        self.procs.append(subprocess.Popen(pinned(fake_cmd, 1), env=fake_env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait_http(self.fake + "/_fake/config", time.time() + 30)
        self.post_fake("/_fake/accounts", {"token": TOKEN, "tier": "heavy",
                                           "quotas": {m: 10**9 for m in ("fast", "auto", "expert", "heavy")}})
        session = urllib.request.Request(self.fake + "/api/auth/session", headers={
            "Cookie": f"sso={TOKEN}; sso-rw={TOKEN}", **FAKE_HEADERS})
        self.uid = json.loads(urllib.request.urlopen(session, timeout=5).read())["session"]["userId"]
        for args in (["-m", "grok2api", "tokens", "add", "--pool", "heavy", TOKEN], ["-c", BIG_QUOTA, str(self.tmp),
                                                                                   TOKEN]):
            done = self.tree.run(args, self.env())
            if done.returncode:
                raise SystemExit(f"gateway setup {args[:4]} failed: {done.stderr[-2000:]}")
        self.gw_proc = subprocess.Popen(pinned([self.tree.python, *self.tree.serve], 0),
                                        env={**self.env(), **self.tree.env}, cwd=self.tree.path,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.gw_proc)
        wait_http(self.gw + "/health", time.time() + 30)

    def post_fake(self, path: str, body: dict[str, Any], method: str = "POST") -> Any:
        req = urllib.request.Request(self.fake + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"}, method=method)
        return json.loads(urllib.request.urlopen(req, timeout=5).read())

    def clear_records(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.fake + "/_fake/requests", method="DELETE"),
                               timeout=5).read()

    def gateway_handshakes(self) -> int:
        """mgw WebSocket handshakes the gateway made since clear_records (the load generator's own direct
        calls, aiohttp's User-Agent, are not counted)."""
        with urllib.request.urlopen(self.fake + "/_fake/requests?path=/ws/mgw", timeout=30) as resp:
            records = json.loads(resp.read())["requests"]
        return sum("aiohttp" not in r["headers"].get("user-agent", "") for r in records)

    def set_fake(self, **config: Any) -> None:
        self.post_fake("/_fake/config", config, method="PATCH")

    def fake_switch_on(self, name: str) -> bool:
        """Turn on a fake behaviour that is a config field or a global scenario switch; False when the fake
        knows neither (it answers 400 for an unknown name)."""
        for path, body, method in (("/_fake/config", {name: True}, "PATCH"),
                                   ("/_fake/scenarios", {"switches": {name: True}}, "POST")):
            try:
                self.post_fake(path, body, method)
                return True
            except urllib.error.HTTPError as exc:
                if exc.code != 400:
                    raise
        return False

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
