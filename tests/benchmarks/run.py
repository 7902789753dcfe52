"""Gateway benchmarks: added latency, CPU per completion and per chunk, throughput, memory per stream,
pool acquire on every backend, executable size and start. fakegrok, the gateway and this load generator
are separate processes; every gateway figure is set against the same client calling fakegrok directly,
over the same upstream protocol, in the same run.

    .venv/bin/python -m tests.benchmarks.run [--quick] [--out bench-results/latest.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
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
# The browser's 72-byte x1: fallback: the strict fake's length rule accepts it (chat paths are not replay-checked).
X1_STATSIG = "eDE6VHlwZUVycm9yOiBDYW5ub3QgcmVhZCBwcm9wZXJ0aWVzIG9mIHVuZGVmaW5lZCAocmVhZGluZyAnYWJjZGVmZ2hpaicp"
FAKE_HEADERS = {"x-statsig-id": X1_STATSIG, "Origin": "https://grok.com", "Referer": "https://grok.com/"}
FAKE_COOKIES = {"sso": TOKEN, "sso-rw": TOKEN}
CPUS = os.cpu_count() or 1
# Bench-only databases on the servers the storage tests use (created if missing, emptied first).
BENCH_DB = "grok2api_bench"
BACKENDS = (("sqlite", ""), ("redis", "redis://127.0.0.1:6379/9"),
            ("postgres", os.environ.get("GROK2API_BENCH_PG_URL", f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}")),
            ("mysql", os.environ.get("GROK2API_BENCH_MYSQL_URL", f"mysql://root@127.0.0.1:3306/{BENCH_DB}")))


async def ensure_database(kind: str, url: str) -> None:
    """CREATE DATABASE for the bench URL (its server's admin database is reached with the same user)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if kind == "postgres":
        import asyncpg

        conn = await asyncpg.connect(parts._replace(path="/postgres").geturl())
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
    elif kind == "mysql":
        import aiomysql

        conn = await aiomysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                      user=parts.username or "root", password=parts.password or "")
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        finally:
            conn.close()


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

    def __init__(self, tmp: Path, transport: str = "ws") -> None:
        self.tmp = tmp
        self.transport = transport
        self.uid = ""
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
                   GROK2API_STATS_FLUSH_INTERVAL_SEC="2", GROK2API_TOKEN_AUTO_REFRESH="false",
                   GROK2API_CHAT_TRANSPORT=self.transport)
        return env

    def start(self) -> None:
        fake_cmd = [sys.executable, "-c", "from grok2api.fakegrok import FakeConfig, run; "
                    f"run('127.0.0.1', {self.fake_port}, FakeConfig(record_limit=10))"]
        # stderr dropped: cancelled streams make fakegrok log every write to a closed socket.
        self.procs.append(subprocess.Popen(pinned(fake_cmd, 1), env=self.env(), stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait_http(self.fake + "/_fake/config", time.time() + 30)
        body = json.dumps({"token": TOKEN, "tier": "heavy", "quotas": {m: 10**9 for m in
                                                                       ("fast", "auto", "expert", "heavy")}})
        urllib.request.urlopen(urllib.request.Request(self.fake + "/_fake/accounts", body.encode(),
                                                      {"Content-Type": "application/json"}), timeout=5).read()
        session = urllib.request.Request(self.fake + "/api/auth/session", headers={
            "Cookie": f"sso={TOKEN}; sso-rw={TOKEN}", **FAKE_HEADERS})
        self.uid = json.loads(urllib.request.urlopen(session, timeout=5).read())["session"]["userId"]
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


def _mgw(event: dict[str, Any], session_id: str | None = None) -> str:
    return json.dumps({"event": event} if session_id is None else {"session_id": session_id, "event": event})


async def one_direct_ws(http: aiohttp.ClientSession, base: str, uid: str) -> tuple[float, float, int]:
    """The mgw turn the gateway makes (§4.3): session.create, item + response.create, read to done."""
    t0 = time.perf_counter()
    ttfb = 0.0
    cookies = f"sso={TOKEN}; sso-rw={TOKEN}; x-userid={uid}"
    async with http.ws_connect("ws" + base[4:] + f"/ws/mgw/?uid={uid}",
                               headers={"Cookie": cookies, "Origin": "https://grok.com"}) as ws:
        await ws.send_str(_mgw({"type": "session.create", "event_id": "evt_init_bench", "session": {
            "model": "fast", "x_grok": {"is_temporary": True, "disable_memory": True, "disable_artifact": True}}}))
        ready = 0
        async for msg in ws:
            frame = json.loads(msg.data)
            kind = frame["event"]["type"]
            if kind in ("session.created", "conversation.attached"):
                ready += 1
                if ready == 2:
                    sid = frame["session_id"]
                    await ws.send_str(_mgw({"type": "conversation.item.create", "event_id": "evt_msg_1", "item": {
                        "type": "message", "role": "user", "x_grok": {
                            "client_message_id": "bench", "input_chunks": [{"text": {"text": PROMPT}}]}}}, sid))
                    await ws.send_str(_mgw({"type": "response.create", "event_id": "evt_resp_1"}, sid))
            elif kind == "response.chunk" and not ttfb:
                ttfb = time.perf_counter() - t0
            elif kind in ("response.done", "error", "session.ended"):
                if kind != "response.done":
                    raise RuntimeError(f"fakegrok mgw answered {frame}")
                break
    return ttfb, time.perf_counter() - t0, 0


async def direct(rig: Rig, http: aiohttp.ClientSession) -> tuple[float, float, int]:
    if rig.transport == "ws":
        return await one_direct_ws(http, rig.fake, rig.uid)
    return await one_direct(http, rig.fake)


async def latency(rig: Rig, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for _ in range(20):  # warm-up: connections, imports, caches
            await one_gateway(http, rig.gw, False)
            await direct(rig, http)
        for label, stream in (("nonstream", False), ("stream", True)):
            gw_ttfb, gw_total, d_ttfb, d_total = [], [], [], []
            for _ in range(n):
                a = await one_gateway(http, rig.gw, stream)
                b = await direct(rig, http)
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
    rig.set_fake(first_frame_delay=0.0, token_interval=5.0)
    base_rss = rss_bytes(rig.gw_proc.pid)
    opened = 0
    peak = base_rss
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=300)) as http:
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
        while opened < n and time.perf_counter() - t0 < 120:
            await asyncio.sleep(0.2)
            peak = max(peak, rss_bytes(rig.gw_proc.pid))
        open_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # every stream open and idle: the steady state
        peak = max(peak, rss_bytes(rig.gw_proc.pid))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rig.set_fake(first_frame_delay=0.0, token_interval=0.0)
    return {"streams": opened, "kb_per_stream": (peak - base_rss) / max(1, opened) / 1024,
            "rss_mb": peak / 2**20, "open_per_s": opened / open_s}


async def pool_acquire(n_accounts: int, kind: str, url: str, tmp: Path) -> dict[str, float]:
    """Selection over the in-memory view, and selection + atomic reservation in storage."""
    from grok2api.catalog import load_catalog
    from grok2api.pool.options import PoolConfig
    from grok2api.pool.pool import Pool
    from grok2api.storage import make_storage
    from grok2api.storage.base import AccountRecord, Quota, account_id_for
    from tests.conftest import make_settings

    await ensure_database(kind, url)
    storage = make_storage(kind, url, tmp)
    await storage.open()
    if kind == "redis":
        await storage._r.flushdb()  # type: ignore[attr-defined]  # a bench-only db
    else:
        await storage.delete_accounts([r.id for r in await storage.all_accounts()])
    config = PoolConfig.from_settings(make_settings(tmp))
    # Every bucket of the tier up front: the pool would otherwise write the defaults one by one.
    records = [AccountRecord(id=account_id_for(f"bench-{kind}-{i}"), token=f"bench-{kind}-{i}", pool="basic",
                             quota={b: Quota(10**6, 10**6, 86400) for b in config.buckets_for("basic")})
               for i in range(n_accounts)]
    for start in range(0, n_accounts, 5000):
        await storage.upsert_accounts(records[start:start + 5000])
    pool = Pool(storage, config, rng=random.Random(1))
    await pool.load()
    route = load_catalog(None).get("grok-4")
    assert route is not None
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        lease = await pool.acquire(route)
        times.append(time.perf_counter() - t0)
        await lease.release()
    if kind != "redis":
        await storage.delete_accounts([r.id for r in records])
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
    t0 = time.perf_counter()
    select(cands, "fast", "max_quota", rng)  # the first use of a bucket builds its index: once, not per request
    build = time.perf_counter() - t0
    n = 5000
    sec = timeit.timeit(lambda: select(cands, "fast", "max_quota", rng), number=n)
    return {"select_us": sec / n * 1e6, "index_build_ms": build * 1000}


def table(rows: list[tuple[str, str, str]]) -> str:
    out = ["| figure | value | goal |", "| :-- | --: | :-- |"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def executable(tmp: Path) -> dict[str, float]:
    """Size of the onefile build (built first if missing) and its time from exec to a /health answer."""
    exe = ROOT / "dist" / "grok2api"
    if not exe.exists():
        subprocess.run(["bash", str(ROOT / "build" / "binary.sh")], check=True, capture_output=True, cwd=ROOT)
    starts = []
    for i in range(3):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
        env.update(DATA_DIR=str(tmp / f"exe-{i}"), SERVER_HOST="127.0.0.1", SERVER_PORT=str(port),
                   LOG_LEVEL="WARNING", GROK2API_APP_API_KEY=KEY, GROK2API_APP_APP_PASSWORD="bench-password-1",
                   GROK2API_TOKEN_AUTO_REFRESH="false")
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", time.time() + 60)
            starts.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(30)
    return {"size_mb": exe.stat().st_size / 2**20, "start_s": statistics.median(starts)}


def latency_rows(lat: dict[str, float], tag: str) -> list[tuple[str, str, str]]:
    def pair(key: str) -> str:
        return f"{lat[key.format(p=50)]:.2f} / {lat[key.format(p=99)]:.2f} ms"

    return [
        (f"added TTFB, non-stream, c=1, p50 / p99 ({tag})", pair("nonstream_ttfb_p{p}_added_ms"), "≤ 1 / ≤ 3 ms"),
        (f"added total, non-stream, c=1, p50 / p99 ({tag})", pair("nonstream_total_p{p}_added_ms"), "≤ 1 / ≤ 3 ms"),
        (f"added TTFB, stream, c=1, p50 / p99 ({tag})", pair("stream_ttfb_p{p}_added_ms"), "≤ 1 / ≤ 3 ms"),
        (f"added total, stream, c=1, p50 / p99 ({tag})", pair("stream_total_p{p}_added_ms"), ""),
        (f"fakegrok direct total, non-stream, c=1, p50 ({tag})", f"{lat['nonstream_direct_total_p50_ms']:.2f} ms",
         "(baseline)"),
    ]


def phase(name: str, t0: float) -> None:
    print(f"[bench] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def with_rig(tmp: Path, transport: str, work: Any) -> Any:
    t0 = time.perf_counter()
    rig = Rig(tmp, transport)
    rig.start()
    try:
        return work(rig)
    finally:
        rig.stop()
        phase(f"{tmp.name}", t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "latest.md"))
    args = ap.parse_args()
    started = time.perf_counter()
    fd_limit = raise_fd_limit()
    n = 50 if args.quick else 300
    secs = 3.0 if args.quick else 10.0
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for transport, tag in (("ws", "mgw WebSocket, the default"), ("rest", "REST")):
            def speed(rig: Rig) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
                return (asyncio.run(latency(rig, n)), asyncio.run(throughput(rig, 16, secs, False)),
                        asyncio.run(throughput(rig, 16, secs, True)))

            lat, ns, st = with_rig(tmp / f"speed-{transport}", transport, speed)
            rows += latency_rows(lat, tag)
            rows += [
                (f"non-stream completions/s, c=16 (p99) ({tag})", f"{ns['rps']:.0f} ({ns['p99_ms']:.1f} ms)",
                 "≥ 2,000"),
                (f"gateway CPU per non-stream completion ({tag})", f"{ns['cpu_ms_per_req'] * 1000:.0f} µs",
                 "≤ 250 µs"),
                (f"stream completions/s, c=16 (p99) ({tag})", f"{st['rps']:.0f} ({st['p99_ms']:.1f} ms)", ""),
                (f"gateway CPU per streamed chunk, 21 chunks ({tag})", f"{st['cpu_ms_per_req'] * 1000 / 21:.0f} µs",
                 "≤ 10 µs"),
            ]
        # Each stream holds a client socket and an upstream socket in the gateway.
        cap = (fd_limit - 500) // 2
        counts = [("ws", 200)] if args.quick else [("ws", 1000), ("ws", 10_000), ("rest", 1000)]
        for transport, want in counts:
            count = min(want, cap)
            got = with_rig(tmp / f"streams-{transport}-{count}", transport,
                           lambda rig, count=count: asyncio.run(open_streams(rig, count)))
            note = f", fd limit {fd_limit:,} allows {cap:,}" if count < want else ""
            rows.append((f"memory per open stream, {got['streams']:,.0f} of {count:,} open ({transport}{note})",
                         f"{got['kb_per_stream']:.1f} KB (RSS {got['rss_mb']:.0f} MB, {got['open_per_s']:.0f} "
                         "opened/s)", "≤ 20 KB"))
        accounts = 10_000 if args.quick else 100_000
        sel = select_only(accounts)
        rows.append((f"in-memory selection, {accounts:,} accounts (bucket index built once: "
                     f"{sel['index_build_ms']:.0f} ms)", f"{sel['select_us']:.1f} µs", "≤ 50 µs"))
        for kind, url in BACKENDS:
            sub = tmp / f"pool-{kind}"
            sub.mkdir()
            t0 = time.perf_counter()
            try:
                r = asyncio.run(pool_acquire(accounts, kind, url, sub))
                phase(f"acquire {kind}", t0)
            except Exception as exc:  # a server that is not running is reported, not fatal
                rows.append((f"acquire, {kind}, {accounts:,} accounts", f"not measured: {exc}", ""))
                continue
            rows.append((f"acquire (select + reserve + release), {kind}, {accounts:,} accounts, p50 / p99",
                         f"{r['acquire_p50_us']:.0f} / {r['acquire_p99_us']:.0f} µs ({r['acquire_per_s']:.0f}/s)",
                         ""))
        exe = executable(tmp)
        rows.append(("executable size / start to first /health", f"{exe['size_mb']:.1f} MiB / {exe['start_s']:.2f} s",
                     ""))
    head = (f"Benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()} "
            f"({CPUS} cores, Python {platform.python_version()}), `.venv/bin/python -m tests.benchmarks.run"
            f"{' --quick' if args.quick else ''}`, {time.perf_counter() - started:.0f} s")
    text = head + "\n\n" + table(rows) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
