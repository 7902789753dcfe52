"""Asynchronous video jobs: state in the storage documents (namespace "video"), work in a task.

Any worker answers GET /v1/videos/{id} from storage; a finished job survives restarts (until its
TTL). The worker that runs a job writes its state on every progress change and at least every
HEARTBEAT_SEC; a queued/in-progress job whose state was not written for `stale_after` seconds
(its worker died or restarted) is reported failed with code `job_lost`. On a clean shutdown the
worker marks its unfinished jobs failed (`interrupted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..errors import ApiError
from ..upstream.events import Event, VideoProgress, VideoReady
from .pump import END, EventPump

log = logging.getLogger(__name__)

NAMESPACE = "video"
TTL_SEC = 24 * 3600  # how long a job (and its answer) is kept
HEARTBEAT_SEC = 15.0


def new_id() -> str:
    return "video_" + secrets.token_hex(16)


class VideoJobs:
    def __init__(self, storage: Any, worker_id: str, idle_timeout: Callable[[], float],
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.worker_id = worker_id
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def stale_after(self) -> float:
        return max(self.idle_timeout(), HEARTBEAT_SEC) + 3 * HEARTBEAT_SEC

    async def create(self, doc: dict[str, Any], events: Callable[[], AsyncIterator[Event]]) -> dict[str, Any]:
        now = self.clock()
        doc = {**doc, "id": doc.get("id") or new_id(), "object": "video", "status": "queued", "progress": 0,
               "created_at": int(now), "completed_at": None, "expires_at": int(now + TTL_SEC), "error": None,
               "remixed_from_video_id": None, "_worker": self.worker_id, "_updated": now, "_file": ""}
        await self.save(doc)
        self.tasks[doc["id"]] = asyncio.create_task(self._run(doc, events), name=f"video-{doc['id']}")
        return doc

    async def save(self, doc: dict[str, Any]) -> None:
        doc["_updated"] = self.clock()
        await self.storage.doc_put(NAMESPACE, doc["id"], doc, ttl_sec=TTL_SEC)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        doc = await self.storage.doc_get(NAMESPACE, job_id)
        if doc is None:
            return None
        if doc["status"] in ("queued", "in_progress") and job_id not in self.tasks \
                and self.clock() - float(doc.get("_updated") or 0) > self.stale_after:
            doc["status"] = "failed"
            doc["error"] = {"code": "job_lost", "message": "the worker running this job stopped; create it again"}
        return doc

    async def _run(self, doc: dict[str, Any], events: Callable[[], AsyncIterator[Event]]) -> None:
        pump = EventPump(events())
        deadline = time.monotonic() + self.idle_timeout()
        try:
            doc["status"] = "in_progress"
            await self.save(doc)
            while True:
                try:
                    item = await pump.next(max(0.01, min(HEARTBEAT_SEC, deadline - time.monotonic())))
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        raise ApiError(f"no data from Grok for {self.idle_timeout():g} s", status=504,
                                       code="upstream_timeout") from None
                    await self.save(doc)  # heartbeat
                    continue
                deadline = time.monotonic() + self.idle_timeout()
                if item is END:
                    break
                if isinstance(item, VideoProgress):
                    percent = max(0, min(99, int(item.percent)))
                    if percent != doc["progress"]:
                        doc["progress"] = percent
                        await self.save(doc)
                elif isinstance(item, VideoReady):
                    if item.moderated:
                        doc["error"] = {"code": "content_policy_violation",
                                        "message": "Grok moderated the video for this prompt."}
                    else:
                        doc["_file"] = item.local
                        doc["_resolution"] = item.resolution
                        if item.seconds:  # made shorter than asked (basic accounts, C6): say so
                            doc["seconds"] = str(item.seconds)
                            doc["note"] = item.note
            if doc["_file"]:
                doc.update(status="completed", progress=100, completed_at=int(self.clock()), error=None)
            else:
                doc["status"] = "failed"
                doc["error"] = doc["error"] or {"code": "upstream_error", "message": "Grok returned no video."}
            await self.save(doc)
        except asyncio.CancelledError:
            doc["status"] = "failed"
            doc["error"] = {"code": "interrupted", "message": "the server stopped while making this video"}
            with contextlib.suppress(Exception):
                await asyncio.shield(self.save(doc))
            raise
        except Exception as exc:
            doc["status"] = "failed"
            if isinstance(exc, ApiError):
                doc["error"] = {"code": exc.code or exc.type, "message": exc.message}
            else:
                log.exception("video job %s failed", doc["id"])
                doc["error"] = {"code": "internal_error", "message": "internal server error"}
            with contextlib.suppress(Exception):
                await self.save(doc)
        finally:
            await pump.close()
            self.tasks.pop(doc["id"], None)

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI Video object (internal fields start with `_`)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}
