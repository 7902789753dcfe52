"""Local cache of generated images and videos under DATA_DIR/tmp/{image,video}.

Names are unguessable (`secrets.token_urlsafe`) because `/v1/files/...` needs no API key.
Writes are atomic (a dot-file renamed into place), concurrent downloads of one upstream asset
share a single task, and a size-bounded cleanup deletes the oldest files first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ..keys import MEDIA
from ..periodic import periodic

if TYPE_CHECKING:
    from ..config.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("image", "video")
EXTENSIONS = {
    "image": {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"},
    "video": {"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime"},
}
_MIME_TO_EXT = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png", "image/webp": "webp",
                "image/gif": "gif", "video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov"}
_DEFAULT_EXT = {"image": "jpg", "video": "mp4"}
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{32}\.([a-z0-9]{2,4})$")
_STALE_TMP_SEC = 3600  # a half-written dot-file older than this belongs to a crashed writer
_RECENT = 1024  # finished source keys remembered, so a repeated asset is not fetched again

Fetcher = Callable[[], Awaitable[tuple[bytes, str]]]


@dataclass(frozen=True, slots=True)
class CachedFile:
    name: str
    size: int
    mtime: float


def ext_for(kind: str, mime_or_ext: str) -> str:
    """A cache extension from a MIME type or an extension; unknown ones get the kind's default."""
    value = mime_or_ext.split(";", 1)[0].strip().lower().lstrip(".")
    if "/" in value:
        value = _MIME_TO_EXT.get(value, "")
    if value == "jpeg":
        value = "jpg"
    return value if value in EXTENSIONS[kind] else _DEFAULT_EXT[kind]


class MediaCache:
    def __init__(self, data_dir: Path, settings: Callable[[], Settings]) -> None:
        self.root = Path(data_dir) / "tmp"
        self.settings = settings
        self._inflight: dict[tuple[str, str], asyncio.Task[str]] = {}
        self._recent: OrderedDict[tuple[str, str], str] = OrderedDict()

    # -- names and paths ---------------------------------------------------
    def dir(self, kind: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        return self.root / kind

    def valid_name(self, kind: str, name: str) -> bool:
        match = NAME_RE.match(name)
        return bool(match) and kind in KINDS and match.group(1) in EXTENSIONS[kind]  # type: ignore[union-attr]

    def path(self, kind: str, name: str) -> Path | None:
        """The file for a name, or None when the name is not one this cache could have made."""
        if not self.valid_name(kind, name):
            return None
        return self.dir(kind) / name

    def mime(self, kind: str, name: str) -> str:
        return EXTENSIONS[kind].get(name.rsplit(".", 1)[-1], "application/octet-stream")

    # -- writing -------------------------------------------------------------
    async def store(self, kind: str, data: bytes, ext: str) -> str:
        name = f"{secrets.token_urlsafe(24)}.{ext_for(kind, ext)}"
        await asyncio.to_thread(self._write, self.dir(kind), name, data)
        return name

    @staticmethod
    def _write(directory: Path, name: str, data: bytes) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{name}.{secrets.token_hex(4)}.part"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    async def store_from(self, kind: str, fetcher: Fetcher, source_key: str) -> str:
        """Fetch and store an asset once, however many requests ask for it at the same time.

        The download runs in its own task, so a caller that is cancelled (its client left)
        does not fail the others waiting for the same asset."""
        key = (kind, source_key)
        name = self._recent.get(key)
        if name is not None and (self.dir(kind) / name).exists():
            self._recent.move_to_end(key)
            return name
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch_and_store(kind, fetcher, key), name=f"media-{kind}")
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _fetch_and_store(self, kind: str, fetcher: Fetcher, key: tuple[str, str]) -> str:
        try:
            data, mime = await fetcher()
            name = await self.store(kind, data, mime)
            self._recent[key] = name
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            return name
        finally:
            self._inflight.pop(key, None)

    async def read(self, kind: str, name: str) -> bytes:
        path = self.path(kind, name)
        if path is None:
            raise FileNotFoundError(name)
        return await asyncio.to_thread(path.read_bytes)

    # -- management (admin) ----------------------------------------------------
    def _scan(self, kind: str) -> list[CachedFile]:
        files = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir(kind)):
                if entry.is_file() and self.valid_name(kind, entry.name):
                    with contextlib.suppress(FileNotFoundError):
                        st = entry.stat()
                        files.append(CachedFile(entry.name, st.st_size, st.st_mtime))
        return files

    async def list_files(self, kind: str) -> list[CachedFile]:
        """Newest first."""
        files = await asyncio.to_thread(self._scan, kind)
        return sorted(files, key=lambda f: f.mtime, reverse=True)

    async def stats(self) -> dict[str, dict[str, int]]:
        result = {}
        for kind in KINDS:
            files = await asyncio.to_thread(self._scan, kind)
            result[kind] = {"count": len(files), "bytes": sum(f.size for f in files)}
        return result

    async def delete(self, kind: str, name: str) -> bool:
        path = self.path(kind, name)
        if path is None:
            return False
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        self._forget(kind, {name})
        return True

    async def clear(self, kind: str) -> int:
        files = await asyncio.to_thread(self._scan, kind)
        deleted = await asyncio.to_thread(self._unlink_all, kind, [f.name for f in files])
        self._forget(kind, {f.name for f in files})
        return deleted

    def _unlink_all(self, kind: str, names: list[str]) -> int:
        deleted = 0
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.dir(kind) / name).unlink()
                deleted += 1
        return deleted

    def _forget(self, kind: str, names: set[str]) -> None:
        for key in [k for k, v in self._recent.items() if k[0] == kind and v in names]:
            del self._recent[key]

    # -- size-bounded cleanup ------------------------------------------------------
    async def cleanup_once(self) -> dict[str, int]:
        """Delete the oldest files of each kind over its limit, down to limit * target ratio."""
        cache = self.settings().cache
        limits = {"image": cache.image_limit_mb, "video": cache.video_limit_mb}
        deleted: dict[str, int] = {}
        for kind in KINDS:
            deleted[kind] = await asyncio.to_thread(
                self._cleanup_kind, kind, limits[kind] * 1024 * 1024, cache.cleanup_target_ratio,
                cache.cleanup_max_delete)
        return deleted

    def _cleanup_kind(self, kind: str, limit: int, ratio: float, max_delete: int) -> int:
        self._remove_stale_parts(kind)
        files = self._scan(kind)
        total = sum(f.size for f in files)
        if total <= limit:
            return 0
        target = int(limit * ratio)
        victims: list[str] = []
        for f in sorted(files, key=lambda f: f.mtime):
            if total <= target or len(victims) >= max_delete:
                break
            victims.append(f.name)
            total -= f.size
        removed = self._unlink_all(kind, victims)
        self._forget(kind, set(victims))
        log.info("media cache: removed %d old %s files", removed, kind)
        return removed

    def _remove_stale_parts(self, kind: str) -> None:
        cutoff = time.time() - _STALE_TMP_SEC
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir(kind)):
                if entry.name.startswith(".") and entry.name.endswith(".part"):
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)

    def cleanup_interval(self) -> float:
        return float(self.settings().cache.cleanup_interval_sec)

    async def auto_clean(self) -> None:
        """One periodic round: a cleanup when `cache.enable_auto_clean` is on (read each round)."""
        if self.settings().cache.enable_auto_clean:
            await self.cleanup_once()

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def media_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the periodic cleanup of the MediaCache under MEDIA; its downloads cancelled at exit."""
    cache = app[MEDIA]
    try:
        async with periodic("media-cleanup", cache.auto_clean, cache.cleanup_interval):
            yield
    finally:
        await cache.close()
