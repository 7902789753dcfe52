"""Background batch jobs over accounts (refresh, NSFW, ToS, delete) with progress any worker can stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..pool.ops import Progress
from ..storage.base import Storage

log = logging.getLogger(__name__)

DOC_NS = "admin_batch"
DOC_TTL_SEC = 3600.0  # a finished job's summary stays readable this long
_PERSIST_EVERY_SEC = 0.5
_MAX_ERRORS = 50  # kept per job for the summary; the counts are always exact

KIND_LABELS = {
    "refresh": "Refresh quotas",
    "nsfw": "Enable NSFW",
    "tos": "Accept ToS",
    "delete": "Delete",
}


@dataclass(slots=True)
class JobState:
    """What the progress bar and the summary show; stored as a document so every worker sees it."""

    id: str
    kind: str
    total: int
    done: int = 0
    ok: int = 0
    failed: int = 0
    status: str = "running"  # running | done | cancelled | error
    message: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)  # {account, label (masked token), error}
    skipped: int = 0  # chosen accounts the job does not touch (disabled, vanished, over the batch limit)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else min(100, int(self.done * 100 / self.total))

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["percent"] = self.percent
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


BulkRunner = Callable[[], AsyncIterator[Progress]]


class BatchManager:
    """Runs jobs as tasks of this worker; progress is mirrored to storage for the other workers."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.clock = clock
        self._jobs: dict[str, JobState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed: dict[str, asyncio.Condition] = {}
        self._version: dict[str, int] = {}
        self._labels: dict[str, dict[str, str]] = {}

    def start(self, kind: str, total: int, runner: BulkRunner, *, skipped: dict[str, int] | None = None,
              labels: dict[str, str] | None = None) -> JobState:
        """Run `runner` as a task of this worker. `skipped` (reason -> accounts) is shown with the
        job; `labels` name failed accounts in its error list (account id -> masked token)."""
        self._forget_old()
        job = JobState(id=secrets.token_urlsafe(9), kind=kind, total=total, started_at=self.clock(),
                       skipped=sum((skipped or {}).values()), skip_reasons=dict(skipped or {}))
        self._labels[job.id] = labels or {}
        self._jobs[job.id] = job
        self._changed[job.id] = asyncio.Condition()
        self._version[job.id] = 0
        self._tasks[job.id] = asyncio.create_task(self._run(job, runner), name=f"admin-batch-{kind}")
        return job

    def _forget_old(self) -> None:
        cutoff = self.clock() - DOC_TTL_SEC
        for job_id in [j.id for j in self._jobs.values() if j.finished and j.finished_at < cutoff]:
            for table in (self._jobs, self._changed, self._version):
                table.pop(job_id, None)

    async def _notify(self, job: JobState) -> None:
        cond = self._changed.get(job.id)
        if cond is not None:
            async with cond:
                self._version[job.id] += 1
                cond.notify_all()

    async def _persist(self, job: JobState) -> None:
        try:
            await self.storage.doc_put(DOC_NS, job.id, job.to_dict(), ttl_sec=DOC_TTL_SEC)
        except Exception as exc:  # progress mirroring is best effort; the job itself goes on
            log.warning("batch %s: could not store progress: %s", job.id, exc)

    async def _run(self, job: JobState, runner: BulkRunner) -> None:
        await self._persist(job)
        last_persist = self.clock()
        try:
            async for p in runner():
                job.done, job.ok, job.failed = p.done, p.ok, p.failed
                if p.total > job.total:
                    job.total = p.total
                if p.error and len(job.errors) < _MAX_ERRORS:
                    label = self._labels.get(job.id, {}).get(p.account_id, "")
                    job.errors.append({"account": p.account_id, "label": label, "error": p.error[:300]})
                await self._notify(job)
                if self.clock() - last_persist >= _PERSIST_EVERY_SEC:
                    last_persist = self.clock()
                    await self._persist(job)
            # Accounts that vanished before the job reached them never produce progress.
            job.done = job.total = max(job.done, job.ok + job.failed)
            job.status = "done"
        except asyncio.CancelledError:
            job.status = "cancelled"
            job.message = "cancelled"
        except Exception as exc:
            log.exception("batch %s (%s) failed", job.id, job.kind)
            job.status = "error"
            job.message = str(exc)[:300] or type(exc).__name__
        finally:
            job.finished_at = self.clock()
            await self._persist(job)
            await self._notify(job)
            self._tasks.pop(job.id, None)
            self._labels.pop(job.id, None)

    async def get(self, job_id: str) -> JobState | None:
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        doc = await self.storage.doc_get(DOC_NS, job_id)
        return JobState.from_dict(doc) if doc else None

    def cancel(self, job_id: str) -> bool:
        task = self._tasks.get(job_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def stop(self, job_id: str, timeout: float = 5.0) -> bool:
        """Cancel a job of this worker and wait (bounded) until it has stopped, so the answer shows it
        cancelled; False when this worker does not run it."""
        task = self._tasks.get(job_id)
        if task is None:
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        return True

    async def watch(self, job_id: str, poll_sec: float = 0.5,
                    min_interval: float = 0.2) -> AsyncIterator[JobState]:
        """Snapshots until the job finishes: pushed for local jobs (at most one per `min_interval`,
        so 50,000 accounts do not mean 50,000 events), polled for other workers' jobs."""
        job = self._jobs.get(job_id)
        if job is not None:
            cond = self._changed[job_id]
            while True:
                seen = self._version[job_id]
                yield job
                if job.finished:
                    return
                await asyncio.sleep(min_interval)
                async with cond:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(
                            cond.wait_for(lambda: self._version[job_id] != seen or job.finished), 15.0)
        while True:
            remote = await self.get(job_id)
            if remote is None:
                return
            yield remote
            if remote.finished:
                return
            await asyncio.sleep(poll_sec)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
