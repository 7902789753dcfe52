"""Gateway benchmarks: issue 21's table (added first byte, throughput and CPU at c=32, paced streams, CPU per
chunk, memory per stream, mgw socket reuse) for both transports, then selection, pool acquire on every backend,
executable size and start. fakegrok, the gateway and this load generator are separate processes; every gateway
latency is set against the same client calling fakegrok directly, over the same upstream protocol, in the same run.

    .venv/bin/python -m tests.benchmarks.run [--quick | --focus] [--repeat N] [--tree PATH ...] [--floor] [--out FILE]

`--tree` (repeatable) measures the gateway of other checkouts with this harness and this fakegrok; with several,
each repeat runs every tree in turn so that drift on a shared machine falls on all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.benchmarks import extras
from tests.benchmarks.measure import chunk_cpu, latency, open_streams, paced, throughput
from tests.benchmarks.rig import CPUS, KEEP_SERVING, KEEP_SOCKET_ENV, ROOT, Rig, Tree, raise_fd_limit

CONCURRENCY = 32
PACED_STREAMS = 200
# CPU per chunk: tokens 10 ms apart on 8 streams, 800 a second, few enough that the gateway keeps up and sends
# each token as its own event (one that falls behind merges them, and a merged token costs less).
CHUNK_INTERVAL, CHUNK_CONCURRENCY = 0.01, 8
TRANSPORTS = (("ws", "mgw WebSocket"), ("rest", "REST"))


@dataclass
class Results:
    """Every sample of every figure of one tree, and why a figure was not measured."""

    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, prefix: str, figures: dict[str, float]) -> None:
        for key, value in figures.items():
            self.values.setdefault(f"{prefix}.{key}", []).append(value)


@dataclass(frozen=True)
class Row:
    """One line of the table: `template` takes one rendered number per key."""

    label: str
    keys: tuple[str, ...]
    template: str
    goal: str = ""
    digits: int | tuple[int, ...] = 2  # decimals, for all values or one by one
    signed: int = 0  # how many leading values carry their sign (added times that can be negative)


@dataclass(frozen=True)
class Plan:
    """What one invocation measures, and how much."""

    samples: int  # c=1 calls of each kind
    seconds: float  # each throughput window
    paced_interval: float
    paced_delay: float
    paced_ramp: float
    streams: list[tuple[str, int, int]]  # memory runs: transport, stream count, count wanted before the fd cap
    memory_interval: float
    reuse: bool
    extras: bool
    build: bool  # build the executable when it is missing
    backends: tuple[tuple[str, str], ...]


def number(values: list[float], digits: int, signed: bool = False) -> str:
    """One sample as is; several as the median with min–max."""
    def f(v: float) -> str:
        return f"{v:{'+' if signed else ''},.{digits}f}"
    if len(values) == 1:
        return f(values[0])
    return f"{f(statistics.median(values))} ({f(min(values))}–{f(max(values))})"


def cell(res: Results, row: Row) -> str:
    for key in row.keys:
        if key not in res.values:
            return res.notes.get(key.split(".")[0], res.notes.get(key, "not measured"))
    digits = row.digits if isinstance(row.digits, tuple) else (row.digits,) * len(row.keys)
    return row.template.format(*(number(res.values[k], digits[i], i < row.signed) for i, k in enumerate(row.keys)))


def speed_rows(t: str, plan: Plan) -> list[Row]:
    opened = f"opened over {plan.paced_ramp:g} s" if plan.paced_ramp else "opened at once"
    pacing = (f"frames {plan.paced_interval * 1000:g} ms apart"
              + (f" after {plan.paced_delay:g} s" if plan.paced_delay else ""))
    return [
        Row(f"added first byte, non-stream, c=1, p50 / p99 ({t})", (f"{t}.lat.nonstream_ttfb_p50_added_ms",
            f"{t}.lat.nonstream_ttfb_p99_added_ms"), "{} / {} ms", "≤ 0.8 / ≤ 1.5 ms"),
        Row(f"added first byte, stream, c=1, p50 / p99 ({t})", (f"{t}.lat.stream_ttfb_p50_added_ms",
            f"{t}.lat.stream_ttfb_p99_added_ms"), "{} / {} ms", "≤ 0.8 / ≤ 1.5 ms"),
        Row(f"added total, non-stream / stream, c=1, p50 ({t})", (f"{t}.lat.nonstream_total_p50_added_ms",
            f"{t}.lat.stream_total_p50_added_ms"), "{} / {} ms"),
        Row(f"fakegrok direct total, non-stream, c=1, p50 ({t})", (f"{t}.lat.nonstream_direct_total_p50_ms",),
            "{} ms", "(baseline)"),
        Row(f"gateway CPU per completion, c=1, non-stream / stream ({t})", (f"{t}.lat.nonstream_c1_cpu_us",
            f"{t}.lat.stream_c1_cpu_us"), "{} / {} µs", "", 0),
        *([Row(f"mgw sockets opened per completion, c=1, non-stream / stream ({t})", (
            f"{t}.lat.nonstream_sockets_per_chat", f"{t}.lat.stream_sockets_per_chat"), "{} / {}")]
          if t == "ws" else []),
        Row(f"completions/s, c={CONCURRENCY}, non-stream / stream ({t})", (f"{t}.ns.rps", f"{t}.st.rps"),
            "{} / {}", "≥ 1,300 / ≥ 1,200", 0),
        Row(f"p99 total at c={CONCURRENCY}, non-stream / stream ({t})", (f"{t}.ns.p99_ms", f"{t}.st.p99_ms"),
            "{} / {} ms", "", 1),
        Row(f"gateway CPU per completion, c={CONCURRENCY}, non-stream / stream ({t})", (f"{t}.ns.cpu_us",
            f"{t}.st.cpu_us"), "{} / {} µs", "≤ 750 / ≤ 800 µs", 0),
        Row(f"gateway CPU per streamed chunk: 200- vs 20-token replies, tokens {CHUNK_INTERVAL * 1000:.0f} ms "
            f"apart, c={CHUNK_CONCURRENCY}, per extra token (SSE events per 200-token reply) ({t})",
            (f"{t}.chunk.chunk_us", f"{t}.chunk.events_long"), "{} µs ({})", "≤ 20 µs", 1),
        Row(f"{PACED_STREAMS} paced streams {opened}, {pacing}: added first content, p50 / p99 (direct p50) ({t})",
            (f"{t}.paced.added_p50_ms", f"{t}.paced.added_p99_ms", f"{t}.paced.direct_p50_ms"),
            "{} / {} ms ({} ms)", "≤ +3 / ≤ +10 ms", 1, signed=2),
        *([Row(f"{PACED_STREAMS} paced streams opened at once (a burst: their set-up queues on one core), {pacing}: "
               f"added first content, p50 / p99 (direct p50) ({t})",
               (f"{t}.burst.added_p50_ms", f"{t}.burst.added_p99_ms", f"{t}.burst.direct_p50_ms"),
               "{} / {} ms ({} ms)", "", 1, signed=2)] if plan.paced_ramp else []),
    ]


def reuse_rows() -> list[Row]:
    t = "ws, mgw_keep_socket on"
    return [
        Row(f"added first byte, non-stream / stream, c=1, p50 ({t})", ("reuse.lat.nonstream_ttfb_p50_added_ms",
            "reuse.lat.stream_ttfb_p50_added_ms"), "{} / {} ms"),
        Row(f"added first byte, non-stream / stream, c=1, p99 ({t})", ("reuse.lat.nonstream_ttfb_p99_added_ms",
            "reuse.lat.stream_ttfb_p99_added_ms"), "{} / {} ms"),
        Row(f"mgw sockets opened per completion, c=1, non-stream / stream ({t})", (
            "reuse.lat.nonstream_sockets_per_chat", "reuse.lat.stream_sockets_per_chat"), "{} / {}"),
        Row(f"gateway CPU per completion, c=1, non-stream / stream ({t})", ("reuse.lat.nonstream_c1_cpu_us",
            "reuse.lat.stream_c1_cpu_us"), "{} / {} µs", "", 0),
        Row(f"gateway CPU per completion, c={CONCURRENCY}, non-stream / stream ({t})", ("reuse.ns.cpu_us",
            "reuse.st.cpu_us"), "{} / {} µs", "", 0),
    ]


def memory_row(transport: str, count: int, wanted: int) -> Row:
    note = f", the fd limit allows {count:,} of {wanted:,}" if count < wanted else ""
    key = f"mem-{transport}-{count}"
    return Row(f"memory per open stream, {count:,} opened at once ({transport}{note}): KB / streams open / "
               "refused / RSS MB / opened per s", (f"{key}.kb_per_stream", f"{key}.streams", f"{key}.refused",
                                                   f"{key}.rss_mb", f"{key}.open_per_s"),
               "{} KB / {} / {} / {} / {}", "≤ 40 KB", (1, 0, 0, 0, 0))


def timed(name: str, work: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    try:
        return work()
    finally:
        print(f"[bench] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def with_rig(rig: Rig, work: Callable[[Rig], Any]) -> Any:
    rig.start()
    try:
        return work(rig)
    finally:
        rig.stop()


def speed(rig: Rig, plan: Plan) -> dict[str, dict[str, float]]:
    out = {"lat": asyncio.run(latency(rig, plan.samples)),
           "ns": asyncio.run(throughput(rig, CONCURRENCY, plan.seconds, False)),
           "st": asyncio.run(throughput(rig, CONCURRENCY, plan.seconds, True))}
    out["chunk"] = asyncio.run(chunk_cpu(rig, CHUNK_CONCURRENCY, plan.seconds, CHUNK_INTERVAL))
    out["paced"] = asyncio.run(paced(rig, PACED_STREAMS, plan.paced_interval, plan.paced_delay, plan.paced_ramp))
    if plan.paced_ramp:
        out["burst"] = asyncio.run(paced(rig, PACED_STREAMS, plan.paced_interval, plan.paced_delay))
    return out


def reuse(rig: Rig, plan: Plan) -> dict[str, dict[str, float]] | str:
    if not rig.fake_switch_on(KEEP_SERVING):
        return f"n/a (fake switch {KEEP_SERVING} not present)"
    return {"lat": asyncio.run(latency(rig, plan.samples)),
            "ns": asyncio.run(throughput(rig, CONCURRENCY, plan.seconds, False)),
            "st": asyncio.run(throughput(rig, CONCURRENCY, plan.seconds, True))}


def measure_tree(tree: Tree, res: Results, plan: Plan, tmp: Path, name: str, no_reuse: str) -> None:
    """One repeat of every rig figure for one tree; `name` tells the runs' data folders apart."""
    records = 2 * plan.samples + 100  # the c=1 phase's handshakes, the gateway's and the direct client's
    for transport, _ in TRANSPORTS:
        got = timed(f"{name} speed {transport}", lambda: with_rig(
            Rig(tmp / f"{name}-speed-{transport}", transport, tree, records=records), lambda rig: speed(rig, plan)))
        for part, figures in got.items():
            res.add(f"{transport}.{part}", figures)
    if plan.reuse:
        if not no_reuse:
            got = timed(f"{name} reuse", lambda: with_rig(
                Rig(tmp / f"{name}-reuse", "ws", tree, {KEEP_SOCKET_ENV: "true"}, records),
                lambda rig: reuse(rig, plan)))
            if isinstance(got, str):
                res.notes["reuse"] = got
            else:
                for part, figures in got.items():
                    res.add(f"reuse.{part}", figures)
        else:
            res.notes["reuse"] = no_reuse
    for transport, count, _ in plan.streams:
        got = timed(f"{name} {count} streams {transport}", lambda: with_rig(
            Rig(tmp / f"{name}-streams-{transport}-{count}", transport, tree),
            lambda rig: asyncio.run(open_streams(rig, count, plan.memory_interval))))
        res.add(f"mem-{transport}-{count}", got)


def measure_extras(res: Results, plan: Plan, tmp: Path, accounts: int) -> list[Row]:
    """This checkout's selection, acquire and executable, measured once."""
    sel = extras.select_only(accounts)
    rows = [Row(f"in-memory selection, {accounts:,} accounts (bucket index built once: "
                f"{sel['index_build_ms']:.0f} ms)", ("sel.select_us",), "{} µs", "≤ 50 µs", 1)]
    res.add("sel", {"select_us": sel["select_us"]})
    for kind, url in plan.backends:
        sub = tmp / f"pool-{kind}"
        sub.mkdir()
        key = f"acq-{kind}"
        rows.append(Row(f"acquire (select + reserve + release), {kind}, {accounts:,} accounts, p50 / p99 "
                        "(per s)", (f"{key}.acquire_p50_us", f"{key}.acquire_p99_us", f"{key}.acquire_per_s"),
                        "{} / {} µs ({})", "", 0))
        try:
            res.add(key, timed(f"acquire {kind}", lambda: asyncio.run(extras.pool_acquire(accounts, kind, url, sub))))
        except Exception as exc:  # a server that is not running is reported, not fatal
            res.notes[key] = f"not measured: {exc}"
    rows.append(Row("executable size / start to first /health", ("exe.size_mb", "exe.start_s"), "{} MiB / {} s"))
    if plan.build or extras.EXE.exists():
        res.add("exe", timed("executable", lambda: extras.executable(tmp)))
    else:
        res.notes["exe"] = f"not measured: no {extras.EXE.relative_to(ROOT)} (a quick run does not build it)"
    return rows


def table(rows: list[Row], trees: list[Tree], results: list[Results]) -> str:
    head = "| figure | " + " | ".join(t.label for t in trees) + " | goal |"
    out = [head, "| :-- | " + "--: | " * len(trees) + ":-- |"]
    for row in rows:
        out.append(f"| {row.label} | " + " | ".join(cell(r, row) for r in results) + f" | {row.goal} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a smoke run: few samples, 200 streams, acquire on "
                      "SQLite only, the executable only if built")
    mode.add_argument("--focus", action="store_true", help="only issue 21's table (no acquire, no executable)")
    ap.add_argument("--repeat", type=int, default=1, help="measure N times; figures as median (min–max)")
    ap.add_argument("--tree", action="append", type=Path, help="the checkout whose gateway runs (repeatable; "
                    "default this one): its .venv/bin/python if present, else this Python with PYTHONPATH")
    ap.add_argument("--streams", type=int, help="open streams for memory per stream (default 10,000; quick 200)")
    ap.add_argument("--paced-interval", type=float, default=0.05, help="paced streams: seconds between the fake's "
                    "frames (0.05)")
    ap.add_argument("--paced-delay", type=float, default=0.0, help="paced streams: seconds before the fake's "
                    "first frame (0)")
    ap.add_argument("--paced-ramp", type=float, default=2.0, help="paced streams: open them evenly over this many "
                    "seconds (2: 100 new streams a second); 0 opens them at once. With a ramp, a burst of the same "
                    "streams opened at once is measured too")
    ap.add_argument("--seconds", type=float, help="each throughput window (default 10; focus 5; quick 2)")
    ap.add_argument("--no-reuse", action="store_true", help="skip the mgw socket reuse figures")
    ap.add_argument("--floor", action="store_true", help="add a column for the floor: floor.py's relay of the "
                    "same parts (aiohttp, grok2api's curl handles) doing none of the gateway's work")
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "latest.md"))
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    started = time.perf_counter()
    fd_limit = raise_fd_limit()
    # What the gateway's own connection cap lets in (edge/connections.py): each stream holds a client and an
    # upstream socket, and on mgw the eventfd of the socket's libcurl multi.
    cap = (fd_limit - min(2048, fd_limit // 4)) // 3
    want = args.streams or (200 if args.quick else 10_000)
    counts = [want] if args.quick or args.focus or want == 1000 else [1000, want]
    streams = [(t, min(n, cap), n) for n in counts for t, _ in TRANSPORTS]
    window = args.seconds or (2.0 if args.quick else 5.0 if args.focus else 10.0)
    plan = Plan(samples=50 if args.quick else 300, seconds=window,
                paced_interval=args.paced_interval, paced_delay=args.paced_delay,
                paced_ramp=args.paced_ramp, streams=streams,
                memory_interval=0.5 if args.quick and want <= 1000 else 5.0, reuse=not args.no_reuse,
                extras=not args.focus, build=not args.quick,
                backends=extras.BACKENDS[:1] if args.quick else extras.BACKENDS)
    trees = [Tree.at(p) for p in (args.tree or [ROOT])] + ([Tree.floor()] if args.floor else [])
    results = [Results() for _ in trees]
    rows = [r for t, _ in TRANSPORTS for r in speed_rows(t, plan)]
    rows += reuse_rows() if plan.reuse else []
    rows += [memory_row(t, n, w) for t, n, w in plan.streams]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lacks = [("n/a (a relay keeps no socket)" if t.name else t.lacks_setting(
            KEEP_SOCKET_ENV, Rig(tmp / "check", "ws", t).env())) if plan.reuse else "" for t in trees]
        for run_no in range(1, args.repeat + 1):
            for i, (tree, res, no_reuse) in enumerate(zip(trees, results, lacks)):
                measure_tree(tree, res, plan, tmp, f"{i}-{tree.path.name}-{run_no}", no_reuse)
        if plan.extras:
            # Measured once, in this checkout's column (the first when it is not among the trees).
            home = next((i for i, t in enumerate(trees) if t.path == ROOT and not t.name), 0)
            rows += measure_extras(results[home], plan, tmp, 10_000 if args.quick else 100_000)
            once = {k.split(".")[0] for k in [*results[home].values, *results[home].notes]
                    if k.split(".")[0] in ("sel", "exe") or k.startswith("acq-")}
            for i, res in enumerate(results):
                if i != home:
                    res.notes.update(dict.fromkeys(once, "—"))
    command = " ".join(["python -m tests.benchmarks.run", *sys.argv[1:]])
    head = (f"Benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()} "
            f"({CPUS} cores, Python {platform.python_version()}), `{command}`, {time.perf_counter() - started:.0f} s"
            + (f"; {args.repeat} runs: median (min–max)" if args.repeat > 1 else "")
            + ("; selection, acquire and the executable are this checkout's, measured once" if plan.extras and
               [t.path for t in trees if not t.name] != [ROOT] else ""))
    text = head + "\n\n" + table(rows, trees, results) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    # Every sample beside the table, for comparisons the table does not make.
    out.with_suffix(".json").write_text(json.dumps({"head": head, "trees": [
        {"label": t.label, "path": str(t.path), "values": r.values, "notes": r.notes}
        for t, r in zip(trees, results)]}, indent=1, ensure_ascii=False))
    print(text)


if __name__ == "__main__":
    main()
