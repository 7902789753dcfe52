"""Profile the gateway under load: py-spy samples the gateway process of a benchmark rig while
16 clients run completions, and the main thread's hottest frames are printed.

    .venv/bin/python -m tests.benchmarks.profile [--transport ws|rest] [--stream] [--seconds 12]

Only the event-loop thread is summarised: py-spy counts aiosqlite's blocked worker thread as
active, which would otherwise hide where the gateway really spends its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.measure import throughput
from tests.benchmarks.rig import Rig


def summarise(raw: Path, top: int) -> str:
    """Self and inclusive shares of the main thread's samples, from py-spy's raw format."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "cmd_serve" not in stack or not count.isdigit():
            continue  # another thread, or not a sample line
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for name in {f.split(":")[0] for f in frames}:  # a function once per sample, not per line
            inclusive[name] += n
    if not total:
        return "no samples of the gateway's main thread"
    out = [f"{total} samples of the main thread", "-- self"]
    out += [f"{n / total:6.1%} {f[:140]}" for f, n in own.most_common(top)]
    out.append("-- inclusive")
    out += [f"{n / total:6.1%} {f[:140]}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("ws", "rest"), default="ws")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp), args.transport)
        rig.start()
        try:
            assert rig.gw_proc is not None
            asyncio.run(throughput(rig, 16, 2.0, args.stream))  # warm up caches and connections
            raw = Path(tmp) / "profile.txt"
            recorder = subprocess.Popen([spy, "record", "-p", str(rig.gw_proc.pid), "-d", str(int(args.seconds)),
                                         "-r", "200", "-f", "raw", "-o", str(raw)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load = asyncio.run(throughput(rig, 16, args.seconds, args.stream))
            recorder.wait()
        finally:
            rig.stop()
        print(f"{load['rps']:.0f} completions/s, {load['cpu_us']:.0f} µs CPU each "
              f"({args.transport}, {'stream' if args.stream else 'non-stream'})")
        print(summarise(raw, args.top))


if __name__ == "__main__":
    main()
