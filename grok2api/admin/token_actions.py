"""Account actions shared by the tokens page and the JSON API: background batches and export."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from ..keys import ADMIN_STATE
from ..pool import ops as pool_ops
from ..pool.model import mask_token
from ..pool.moves import PoolChange, set_pool
from ..pool.ops import Progress
from ..pool.options import PoolConfig
from ..storage.base import AccountRecord
from .batch import KIND_LABELS, JobState
from .upstream_ops import upstream_actions
from .view_models import AdminInputError, settings_of, storage_of

_DELETE_CHUNK = 500


# The accounts each action calls grok.com for, and the setting that bounds one batch of it.
_LIMITS = {"refresh": "usage_max_tokens", "nsfw": "nsfw_max_tokens", "tos": "nsfw_max_tokens"}


@dataclass(slots=True)
class BatchPlan:
    """What a batch will touch, known before it starts: the confirmation and the job both show it."""

    action: str
    targets: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # account id -> masked token, for the error list
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> accounts

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.action, self.action)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


async def plan_batch(request: web.Request, action: str, ids: list[str]) -> BatchPlan:
    """Split the chosen accounts into those the action touches and those it skips, with why: disabled
    accounts are not sent to grok.com, vanished ones are gone, a batch is bounded by its setting."""
    if action not in KIND_LABELS:
        raise AdminInputError(f"unknown action {action!r}")
    if not ids:
        raise AdminInputError("no accounts selected: tick some rows, or choose “all matching”")
    storage = storage_of(request)
    plan = BatchPlan(action)
    for start in range(0, len(ids), 200):
        chunk = ids[start:start + 200]
        for aid, rec in zip(chunk, await asyncio.gather(*(storage.get_account(a) for a in chunk))):
            if rec is None:
                plan.skipped["no longer exists"] = plan.skipped.get("no longer exists", 0) + 1
            elif action != "delete" and rec.status == "disabled":
                plan.skipped["disabled"] = plan.skipped.get("disabled", 0) + 1
            else:
                plan.targets.append(aid)
                plan.labels[aid] = mask_token(rec.token)
    setting = _LIMITS.get(action)
    limit = getattr(settings_of(request).performance, setting) if setting else 0
    if setting and len(plan.targets) > limit:
        for aid in plan.targets[limit:]:
            plan.labels.pop(aid, None)
        reason = f"beyond performance.{setting} = {limit} (run it again for the rest)"
        plan.skipped[reason] = len(plan.targets) - limit
        plan.targets = plan.targets[:limit]
    return plan


async def change_pool(request: web.Request, account_id: str, pool: str) -> PoolChange:
    """Move one account to `pool` and re-read its quotas from grok.com at once (the page and the API)."""
    try:
        return await set_pool(storage_of(request), [account_id], pool,
                                       config=PoolConfig.from_settings(settings_of(request)),
                                       fetch_limits=upstream_actions(request).fetch_limits)
    except ValueError as exc:
        raise AdminInputError(str(exc)) from None


async def _delete_runner(request: web.Request, ids: Sequence[str]) -> AsyncIterator[Progress]:
    storage = storage_of(request)
    total = len(ids)
    done = 0
    for start in range(0, total, _DELETE_CHUNK):
        chunk = list(ids[start:start + _DELETE_CHUNK])
        await pool_ops.delete_accounts(storage, chunk)
        done += len(chunk)
        yield Progress(done, total, done, 0)


async def start_batch(request: web.Request, action: str, ids: list[str]) -> JobState:
    """Plan and start one background job over `ids`; what the pages and the JSON API both call."""
    return await run_plan(request, await plan_batch(request, action, ids))


async def run_plan(request: web.Request, plan: BatchPlan) -> JobState:
    if not plan.targets:
        skipped = ", ".join(f"{n} {why}" for why, n in plan.skipped.items())
        raise AdminInputError(f"nothing to do: every chosen account is skipped ({skipped})")
    s = settings_of(request)
    perf = s.performance
    storage = storage_of(request)
    state = request.config_dict[ADMIN_STATE]
    ids = plan.targets
    if plan.action == "refresh":
        fetch = upstream_actions(request).fetch_limits
        config = PoolConfig.from_settings(s)

        def runner() -> AsyncIterator[Progress]:
            return pool_ops.refresh_quotas(storage, ids, fetch, config=config,
                                           concurrency=perf.usage_max_concurrent)
    elif plan.action == "nsfw":
        enable = upstream_actions(request).enable_nsfw  # accepts the ToS and sets a birth date first

        def runner() -> AsyncIterator[Progress]:
            return pool_ops.enable_nsfw(storage, ids, enable, concurrency=perf.nsfw_max_concurrent)
    elif plan.action == "tos":
        actions = upstream_actions(request)
        accept, birth = actions.accept_tos, actions.set_birth_date

        def runner() -> AsyncIterator[Progress]:
            return pool_ops.accept_tos(storage, ids, accept, birth, concurrency=perf.nsfw_max_concurrent)
    else:
        def runner() -> AsyncIterator[Progress]:
            return _delete_runner(request, ids)
    return state.batches.start(plan.action, len(ids), runner, skipped=plan.skipped, labels=plan.labels)



async def export_response(request: web.Request, ids: list[str], fmt: str) -> web.StreamResponse:
    if not ids:
        raise AdminInputError("no accounts selected: tick some rows, or choose “all matching”")
    storage = storage_of(request)
    records: list[AccountRecord] = []
    for start in range(0, len(ids), 200):
        found = await asyncio.gather(*(storage.get_account(a) for a in ids[start:start + 200]))
        records.extend(r for r in found if r is not None)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if fmt == "txt":
        body = "".join(r.token + "\n" for r in records).encode()
        ctype, name = "text/plain", f"grok2api-tokens-{stamp}.txt"
    else:
        body = json.dumps(pool_ops.export_json(records), indent=2, ensure_ascii=False).encode()
        ctype, name = "application/json", f"grok2api-tokens-{stamp}.json"
    return web.Response(body=body, content_type=ctype, charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
