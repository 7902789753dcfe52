"""Gateway benchmarks: added latency, CPU per completion and per chunk, throughput, memory per stream,
pool acquire. fakegrok and the load generator run as separate processes; every gateway figure is set
against the same client calling fakegrok directly in the same run.

    .venv/bin/python -m tests.benchmarks.run [--quick] [--out bench-results/latest.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-bench-key-0123456789"
TOKEN = "heavy-bench-account-0001"
PROMPT = "[[tokens:20]] bench"
FAKE_HEADERS = {"x-statsig-id": "YmVuY2g=", "Origin": "https://grok.com", "Referer": "https://grok.com/"}
FAKE_COOKIES = {"sso": TOKEN, "sso-rw": TOKEN}
CPUS = os.cpu_count() or 1


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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Rig:
    """fakegrok on one core, the gateway on the other, a SQLite DATA_DIR with one big account."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fake_port, self.gw_port = free_port(), free_port()
        self.fake = f"http://127.0.0.1:{self.fake_port}"
        self.gw = f"http://127.0.0.1:{self.gw_port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gw_proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
        env.update(DATA_DIR=str(self.tmp), SERVER_HOST="127.0.0.1", SERVER_PORT=str(self.gw_port),
                   LOG_LEVEL="WARNING", GROK2API_APP_API_KEY=KEY, GROK2API_APP_APP_PASSWORD="bench-password-1",
                   GROK2API_NETWORK_GROK_URL=self.fake, GROK2API_NETWORK_ASSETS_URL=self.fake,
                   GROK2API_NETWORK_ACCOUNTS_URL=self.fake, GROK2API_SECURITY_RATE_LIMIT_ENABLED="false",
                   GROK2API_STATS_FLUSH_INTERVAL_SEC="2", GROK2API_TOKEN_AUTO_REFRESH="false")
        return env

    def start(self) -> None:
        fake_cmd = [sys.executable, "-c", "from grok2api.fakegrok import FakeConfig, run; "
                    f"run('127.0.0.1', {self.fake_port}, FakeConfig(record_limit=10))"]
        self.procs.append(subprocess.Popen(pinned(fake_cmd, 1), env=self.env(), stdout=subprocess.DEVNULL))
        wait_http(self.fake + "/_fake/config", time.time() + 30)
        body = json.dumps({"token": TOKEN, "tier": "heavy", "quotas": {m: 10**9 for m in
                                                                       ("fast", "auto", "expert", "heavy")}})
        urllib.request.urlopen(urllib.request.Request(self.fake + "/_fake/accounts", body.encode(),
                                                      {"Content-Type": "application/json"}), timeout=5).read()
        subprocess.run([sys.executable, "-m", "grok2api", "tokens", "add", "--pool", "heavy", TOKEN],
                       env=self.env(), check=True, capture_output=True)
        asyncio.run(self._big_quota())
        self.gw_proc = subprocess.Popen(pinned([sys.executable, "-m", "grok2api", "serve"], 0), env=self.env(),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.gw_proc)
        wait_http(self.gw + "/health", time.time() + 30)

    async def _big_quota(self) -> None:
        from grok2api.storage import make_storage
        from grok2api.storage.base import Quota, account_id_for

        storage = make_storage("sqlite", "", self.tmp)
        await storage.open()
        for bucket in ("fast", "auto", "expert", "heavy"):
            await storage.set_quota(account_id_for(TOKEN), bucket, Quota(10**9, 10**9, 7200, 0.0))
        await storage.close()

    def set_fake(self, **config: Any) -> None:
        req = urllib.request.Request(self.fake + "/_fake/config", json.dumps(config).encode(),
                                     {"Content-Type": "application/json"}, method="PATCH")
        urllib.request.urlopen(req, timeout=5).read()

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def chat_body(stream: bool) -> dict[str, Any]:
    return {"model": "grok-4", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}


def fake_body() -> dict[str, Any]:
    return {"message": PROMPT, "modeId": "fast", "temporary": True, "fileAttachments": [], "imageAttachments": []}


async def one_gateway(http: aiohttp.ClientSession, base: str, stream: bool) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    ttfb, chunks = 0.0, 0
    async with http.post(base + "/v1/chat/completions", json=chat_body(stream),
                         headers={"Authorization": f"Bearer {KEY}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"gateway answered {resp.status}: {await resp.text()}")
        async for _ in resp.content.iter_any():
            if not ttfb:
                ttfb = time.perf_counter() - t0
        if stream:
            chunks = PROMPT.count(" ") + 20
    return ttfb, time.perf_counter() - t0, chunks


async def one_direct(http: aiohttp.ClientSession, base: str) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    ttfb = 0.0
    async with http.post(base + "/rest/app-chat/conversations/new", json=fake_body(), headers=FAKE_HEADERS,
                         cookies=FAKE_COOKIES) as resp:
        if resp.status != 200:
            raise RuntimeError(f"fakegrok answered {resp.status}")
        async for _ in resp.content.iter_any():
            if not ttfb:
                ttfb = time.perf_counter() - t0
    return ttfb, time.perf_counter() - t0, 0


async def latency(rig: Rig, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for _ in range(20):  # warm-up: connections, imports, caches
            await one_gateway(http, rig.gw, False)
            await one_direct(http, rig.fake)
        for label, stream in (("nonstream", False), ("stream", True)):
            gw_ttfb, gw_total, d_ttfb, d_total = [], [], [], []
            for _ in range(n):
                a = await one_gateway(http, rig.gw, stream)
                b = await one_direct(http, rig.fake)
                gw_ttfb.append(a[0]); gw_total.append(a[1]); d_ttfb.append(b[0]); d_total.append(b[1])
            for p in (50, 99):
                out[f"{label}_ttfb_p{p}_added_ms"] = (pct(gw_ttfb, p) - pct(d_ttfb, p)) * 1000
                out[f"{label}_total_p{p}_added_ms"] = (pct(gw_total, p) - pct(d_total, p)) * 1000
                out[f"{label}_direct_total_p{p}_ms"] = pct(d_total, p) * 1000
    return out


async def throughput(rig: Rig, concurrency: int, seconds: float, stream: bool) -> dict[str, float]:
    assert rig.gw_proc is not None
    done, lat = 0, []
    deadline = time.perf_counter() + seconds
    cpu0 = cpu_seconds(rig.gw_proc.pid)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                _, total, _ = await one_gateway(http, rig.gw, stream)
                lat.append(total)
                done += 1
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(rig.gw_proc.pid) - cpu0
    return {"rps": done / elapsed, "p99_ms": pct(lat, 99) * 1000, "cpu_ms_per_req": cpu / done * 1000,
            "requests": done}


async def open_streams(rig: Rig, n: int) -> dict[str, float]:
    """Hold n streams open (the fake paces slowly), measure the gateway's RSS growth per stream."""
    assert rig.gw_proc is not None
    rig.set_fake(first_frame_delay=0.0, token_interval=0.5)
    base_rss = rss_bytes(rig.gw_proc.pid)
    opened = 0
    peak = base_rss
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def hold() -> None:
            nonlocal opened
            async with http.post(rig.gw + "/v1/chat/completions", json=chat_body(True),
                                 headers={"Authorization": f"Bearer {KEY}"}) as resp:
                await resp.content.readline()
                opened += 1
                async for _ in resp.content.iter_any():
                    pass

        tasks = [asyncio.create_task(hold()) for _ in range(n)]
        t0 = time.perf_counter()
        while opened < n and time.perf_counter() - t0 < 60:
            await asyncio.sleep(0.2)
            peak = max(peak, rss_bytes(rig.gw_proc.pid))
        peak = max(peak, rss_bytes(rig.gw_proc.pid))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rig.set_fake(first_frame_delay=0.0, token_interval=0.0)
    return {"streams": opened, "kb_per_stream": (peak - base_rss) / max(1, opened) / 1024,
            "rss_mb": peak / 2**20}


async def pool_acquire(n_accounts: int, kind: str, url: str, tmp: Path) -> dict[str, float]:
    """Selection over the in-memory view, and selection + atomic reservation in storage."""
    from grok2api.catalog import load_catalog
    from grok2api.pool.config import PoolConfig
    from grok2api.pool.pool import Pool
    from grok2api.storage import make_storage
    from grok2api.storage.base import AccountRecord, Quota, account_id_for
    from tests.conftest import make_settings

    storage = make_storage(kind, url, tmp)
    await storage.open()
    if kind == "redis":
        await storage._r.flushdb()  # type: ignore[attr-defined]  # a bench-only db
    records = [AccountRecord(id=account_id_for(f"bench-{kind}-{i}"), token=f"bench-{kind}-{i}", pool="basic",
                             quota={"fast": Quota(10**6, 10**6, 86400)}) for i in range(n_accounts)]
    await storage.upsert_accounts(records)
    pool = Pool(storage, PoolConfig.from_settings(make_settings(tmp)), rng=random.Random(1))
    await pool.load()
    route = load_catalog(None).get("grok-4")
    assert route is not None
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        lease = await pool.acquire(route)
        times.append(time.perf_counter() - t0)
        await lease.release()
    await storage.close()
    return {"acquire_p50_us": pct(times, 50) * 1e6, "acquire_p99_us": pct(times, 99) * 1e6,
            "acquire_per_s": 1 / statistics.mean(times)}


def select_only(n_accounts: int) -> dict[str, float]:
    """In-memory selection alone (max_quota), the pool's per-request choice."""
    import timeit

    from grok2api.pool.index import Candidates
    from grok2api.pool.model import Account
    from grok2api.pool.select import select
    from grok2api.storage.base import AccountRecord, Quota

    rng = random.Random(1)
    accounts = [Account.from_record(AccountRecord(id=f"a{i}", token=f"t{i}",
                                                  quota={"fast": Quota(rng.randint(1, 100), 100)}))
                for i in range(n_accounts)]
    cands = Candidates.build(accounts, time.time())
    n = 5000
    sec = timeit.timeit(lambda: select(cands, "fast", "max_quota", rng), number=n)
    return {"select_us": sec / n * 1e6}


def table(rows: list[tuple[str, str, str]]) -> str:
    out = ["| figure | value | goal |", "| :-- | --: | :-- |"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "latest.md"))
    args = ap.parse_args()
    n = 50 if args.quick else 300
    secs = 3.0 if args.quick else 10.0
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp))
        rig.start()
        try:
            lat = asyncio.run(latency(rig, n))
            rows += [
                ("added TTFB, non-stream, c=1, p50 / p99", f"{lat['nonstream_ttfb_p50_added_ms']:.2f} / "
                 f"{lat['nonstream_ttfb_p99_added_ms']:.2f} ms", "≤ 1 / ≤ 3 ms"),
                ("added total, non-stream, c=1, p50 / p99", f"{lat['nonstream_total_p50_added_ms']:.2f} / "
                 f"{lat['nonstream_total_p99_added_ms']:.2f} ms", "≤ 1 / ≤ 3 ms"),
                ("added TTFB, stream, c=1, p50 / p99", f"{lat['stream_ttfb_p50_added_ms']:.2f} / "
                 f"{lat['stream_ttfb_p99_added_ms']:.2f} ms", "≤ 1 / ≤ 3 ms"),
                ("fakegrok direct total, c=1, p50", f"{lat['nonstream_direct_total_p50_ms']:.2f} ms", "(baseline)"),
            ]
            ns = asyncio.run(throughput(rig, 16, secs, False))
            st = asyncio.run(throughput(rig, 16, secs, True))
            rows += [
                ("non-stream completions/s, c=16 (p99)", f"{ns['rps']:.0f} ({ns['p99_ms']:.1f} ms)", "≥ 2,000"),
                ("gateway CPU per non-stream completion", f"{ns['cpu_ms_per_req'] * 1000:.0f} µs", "≤ 250 µs"),
                ("stream completions/s, c=16 (p99)", f"{st['rps']:.0f} ({st['p99_ms']:.1f} ms)", ""),
                ("gateway CPU per streamed chunk (21 chunks)", f"{st['cpu_ms_per_req'] * 1000 / 21:.0f} µs",
                 "≤ 10 µs"),
            ]
            streams = asyncio.run(open_streams(rig, 200 if args.quick else 1000))
            rows.append((f"memory per open stream ({streams['streams']:.0f} open)",
                         f"{streams['kb_per_stream']:.1f} KB (RSS {streams['rss_mb']:.0f} MB)", "≤ 20 KB"))
        finally:
            rig.stop()
        accounts = 10_000 if args.quick else 100_000
        rows.append((f"in-memory selection, {accounts:,} accounts", f"{select_only(accounts)['select_us']:.1f} µs",
                     "≤ 50 µs"))
        for kind, url in (("sqlite", ""), ("redis", "redis://127.0.0.1:6379/9")):
            sub = Path(tmp) / f"pool-{kind}"
            sub.mkdir()
            r = asyncio.run(pool_acquire(accounts, kind, url, sub))
            rows.append((f"acquire (select + reserve + release), {kind}, p50 / p99",
                         f"{r['acquire_p50_us']:.0f} / {r['acquire_p99_us']:.0f} µs ({r['acquire_per_s']:.0f}/s)",
                         ""))
    head = (f"Benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()} "
            f"({CPUS} cores, Python {platform.python_version()}), `python -m tests.benchmarks.run"
            f"{' --quick' if args.quick else ''}`")
    text = head + "\n\n" + table(rows) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
