"""Account actions shared by the tokens page and the JSON API: background batches and export."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from ..keys import ADMIN_STATE
from ..pool import ops as pool_ops
from ..pool.ops import Progress
from ..pool.options import PoolConfig
from ..storage.base import AccountRecord
from .batch import KIND_LABELS, JobState
from .upstream_ops import upstream_actions
from .view_models import AdminInputError, settings_of, storage_of

_DELETE_CHUNK = 500


def _limited(ids: list[str], limit: int, setting: str) -> tuple[list[str], str]:
    if len(ids) <= limit:
        return ids, ""
    return ids[:limit], (f"only the first {limit} of {len(ids)} accounts (performance.{setting}); "
                         f"run it again for the rest")


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
    """Start one background job over `ids`; what the pages and the JSON API both call."""
    if action not in KIND_LABELS:
        raise AdminInputError(f"unknown action {action!r}")
    if not ids:
        raise AdminInputError("no accounts selected: tick some rows, or choose “all matching”")
    s = settings_of(request)
    perf = s.performance
    storage = storage_of(request)
    state = request.config_dict[ADMIN_STATE]
    note = ""
    if action == "refresh":
        ids, note = _limited(ids, perf.usage_max_tokens, "usage_max_tokens")
        fetch = upstream_actions(request).fetch_limits
        config = PoolConfig.from_settings(s)

        def runner() -> AsyncIterator[Progress]:
            return pool_ops.refresh_quotas(storage, ids, fetch, config=config,
                                           concurrency=perf.usage_max_concurrent)
    elif action == "nsfw":
        ids, note = _limited(ids, perf.nsfw_max_tokens, "nsfw_max_tokens")
        enable = upstream_actions(request).enable_nsfw  # accepts the ToS and sets a birth date first

        def runner() -> AsyncIterator[Progress]:
            return pool_ops.enable_nsfw(storage, ids, enable, concurrency=perf.nsfw_max_concurrent)
    elif action == "tos":
        ids, note = _limited(ids, perf.nsfw_max_tokens, "nsfw_max_tokens")
        actions = upstream_actions(request)
        accept, birth = actions.accept_tos, actions.set_birth_date

        def runner() -> AsyncIterator[Progress]:
            return pool_ops.accept_tos(storage, ids, accept, birth, concurrency=perf.nsfw_max_concurrent)
    else:
        def runner() -> AsyncIterator[Progress]:
            return _delete_runner(request, ids)
    job = state.batches.start(action, len(ids), runner)
    job.message = note
    return job



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
