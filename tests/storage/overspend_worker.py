"""One worker process of test_overspend: open a storage, wait for "go", reserve as fast as it can."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from grok2api.storage import make_storage

ATTEMPTS = 200
IN_FLIGHT = 10  # concurrent reservations inside this process


async def main(kind: str, url: str, data_dir: str, account_id: str) -> None:
    storage = make_storage(kind, url, Path(data_dir))
    await storage.open()
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        granted = attempted = 0
        for _ in range(ATTEMPTS // IN_FLIGHT):
            results = await asyncio.gather(*(storage.reserve(account_id, "chat", 1) for _ in range(IN_FLIGHT)))
            attempted += len(results)
            granted += sum(r is not None for r in results)
        print(f"done {granted} {attempted}", flush=True)
    finally:
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
