"""Figures beyond issue 21's table, measured in this process on this checkout: selection, pool acquire on every
storage backend, the executable's size and start."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import time
from pathlib import Path

from tests.benchmarks.measure import pct
from tests.benchmarks.rig import KEY, ROOT, free_port, wait_http

# Bench-only databases on the servers the storage tests use (created if missing, emptied first).
BENCH_DB = "grok2api_bench"
EXE = ROOT / "dist" / "grok2api"
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


def executable(tmp: Path) -> dict[str, float]:
    """Size of the onefile build (built first if missing) and its time from exec to a /health answer."""
    exe = EXE
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
