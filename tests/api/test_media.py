"""The local media cache: names, atomic writes, shared downloads, size-bounded cleanup."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from grok2api.media.cache import MediaCache, ext_for
from grok2api.periodic import periodic
from tests.conftest import make_settings

MB = 1024 * 1024


def cache_for(tmp_path: Path, **env: str) -> MediaCache:
    settings = make_settings(tmp_path, env={f"GROK2API_CACHE_{k.upper()}": v for k, v in env.items()})
    return MediaCache(tmp_path, lambda: settings)


async def test_store_read_and_names(tmp_path: Path) -> None:
    cache = cache_for(tmp_path)
    a = await cache.store("image", b"one", "image/png")
    b = await cache.store("image", b"two", "jpeg")
    assert a != b and a.endswith(".png") and b.endswith(".jpg") and len(a) == 36
    assert await cache.read("image", a) == b"one"
    assert (tmp_path / "tmp" / "image" / a).read_bytes() == b"one"
    assert [p.name for p in (tmp_path / "tmp" / "image").iterdir() if p.name.startswith(".")] == []
    assert cache.mime("image", a) == "image/png"
    v = await cache.store("video", b"mp4", "video/mp4")
    assert cache.path("video", v) is not None and cache.path("image", v) is None


@pytest.mark.parametrize("name", ["../config.toml", "..%2Fx", "a/b.png", "x.png", ".hidden.png",
                                  "A" * 32 + ".exe", "A" * 32 + ".png/../../etc", "A" * 31 + "/.png", ""])
def test_invalid_names_have_no_path(tmp_path: Path, name: str) -> None:
    assert cache_for(tmp_path).path("image", name) is None


def test_ext_for() -> None:
    assert ext_for("image", "image/jpeg; charset=binary") == "jpg"
    assert ext_for("image", "application/octet-stream") == "jpg"
    assert ext_for("video", ".webm") == "webm"
    assert ext_for("video", "exe") == "mp4"


async def test_concurrent_downloads_of_one_asset_share_one_fetch(tmp_path: Path) -> None:
    cache = cache_for(tmp_path)
    calls = 0
    release = asyncio.Event()

    async def fetcher() -> tuple[bytes, str]:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"asset", "image/webp"

    waiters = [asyncio.create_task(cache.store_from("image", fetcher, "u1")) for _ in range(20)]
    await asyncio.sleep(0.01)
    waiters[0].cancel()  # one client leaves; the others still get the file
    release.set()
    names = await asyncio.gather(*waiters[1:])
    assert calls == 1 and len(set(names)) == 1 and names[0].endswith(".webp")
    assert await cache.store_from("image", fetcher, "u1") == names[0]  # remembered
    assert calls == 1
    assert (await cache.stats())["image"] == {"count": 1, "bytes": 5}


async def test_failed_download_is_reported_and_retried(tmp_path: Path) -> None:
    cache = cache_for(tmp_path)
    attempts = 0

    async def flaky() -> tuple[bytes, str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("boom")
        return b"ok", "image/png"

    with pytest.raises(ConnectionError):
        await cache.store_from("image", flaky, "u2")
    assert await cache.read("image", await cache.store_from("image", flaky, "u2")) == b"ok"


async def test_list_delete_clear(tmp_path: Path) -> None:
    cache = cache_for(tmp_path)
    names = [await cache.store("image", bytes([i]) * 10, "png") for i in range(3)]
    for i, name in enumerate(names):
        os.utime(tmp_path / "tmp" / "image" / name, (1000 + i, 1000 + i))
    assert [f.name for f in await cache.list_files("image")] == names[::-1]
    assert await cache.delete("image", names[0]) is True
    assert await cache.delete("image", names[0]) is False
    assert await cache.delete("image", "../../etc/passwd") is False
    assert await cache.clear("image") == 2
    assert (await cache.stats())["image"] == {"count": 0, "bytes": 0}


async def test_cleanup_removes_oldest_down_to_target(tmp_path: Path) -> None:
    cache = cache_for(tmp_path, image_limit_mb="1", cleanup_target_ratio="0.5", cleanup_max_delete="100")
    names = []
    for i in range(10):  # 10 x 200 KB = 2 MB, twice the limit
        name = await cache.store("image", b"z" * (200 * 1024), "png")
        os.utime(tmp_path / "tmp" / "image" / name, (1000 + i, 1000 + i))
        names.append(name)
    deleted = await cache.cleanup_once()
    assert deleted == {"image": 8, "video": 0}  # down to <= 512 KB: the two newest remain
    assert sorted(f.name for f in await cache.list_files("image")) == sorted(names[-2:])
    assert await cache.cleanup_once() == {"image": 0, "video": 0}


async def test_cleanup_deletes_at_most_max_per_run(tmp_path: Path) -> None:
    cache = cache_for(tmp_path, image_limit_mb="1", cleanup_target_ratio="0.5", cleanup_max_delete="3")
    for _ in range(10):
        await cache.store("image", b"z" * (200 * 1024), "png")
    assert (await cache.cleanup_once())["image"] == 3
    assert (await cache.stats())["image"]["count"] == 7


async def test_periodic_cleanup_runs_on_its_interval(tmp_path: Path) -> None:
    cache = cache_for(tmp_path, image_limit_mb="1", cleanup_interval_sec="1", cleanup_target_ratio="0.5")
    for _ in range(10):
        await cache.store("image", b"z" * (200 * 1024), "png")
    async with periodic("media-cleanup", cache.auto_clean, cache.cleanup_interval) as task:
        for _ in range(30):
            await asyncio.sleep(0.1)
            if (await cache.stats())["image"]["count"] <= 2:
                break
        assert (await cache.stats())["image"]["count"] <= 2
    assert task.cancelled()
