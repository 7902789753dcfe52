"""Turns attachment references from a chat body into fetched, size-checked Attachments."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..config.settings import Settings
from ..errors import InvalidRequest, RequestTooLarge, ServiceUnavailable
from ..gateway.jobs import Attachment
from ..keys import FETCH_BUDGET, LIVE_SETTINGS
from ..media.budget import BudgetExhausted
from ..media.fetch import FetchError, FetchPolicy, FetchTooLarge, Tally, decode_data_url, fetch_url
from .validate import AttachmentRef


MB = 1024 * 1024
UPSTREAM_MAX_FILE = 32 * MB  # the largest file grok.com accepts: anything larger is refused before reading


def fetch_policy(request: web.Request) -> FetchPolicy:
    settings: Settings = request.app[LIVE_SETTINGS].current
    sec = settings.security
    spool_dir = settings.server.data_dir / "tmp" / "attachments"
    spool_dir.mkdir(parents=True, exist_ok=True)
    return FetchPolicy(max_bytes=min(sec.fetch_max_size_mb * MB, UPSTREAM_MAX_FILE),
                       allow_private=sec.allow_private_fetch, timeout=float(min(settings.network.timeout, 60)),
                       spool_bytes=sec.attachments_spool_mb * MB, spool_dir=spool_dir,
                       budget=request.app[FETCH_BUDGET], budget_wait=sec.client_body_timeout_sec)


def total_bound(request: web.Request) -> Tally:
    return Tally(request.app[LIVE_SETTINGS].current.security.attachments_max_total_mb * MB)


async def load_one(ref: AttachmentRef, policy: FetchPolicy, tally: Tally) -> Attachment:
    try:
        if ref.url[:5].lower() == "data:":
            fetched = decode_data_url(ref.url, policy.max_bytes, tally)
        else:
            fetched = await fetch_url(ref.url, policy, tally)
    except FetchTooLarge as exc:
        raise RequestTooLarge(f"`{ref.param}`: {exc}", param=ref.param) from None
    except FetchError as exc:
        raise InvalidRequest(f"`{ref.param}`: {exc}", param=ref.param, code="invalid_attachment") from None
    except BudgetExhausted:
        raise ServiceUnavailable("The server is busy fetching other attachments; retry shortly.",
                                 headers={"Retry-After": "5"}, code="attachments_busy") from None
    attachment = Attachment(data=fetched.data, mime=fetched.mime, name=ref.filename or fetched.name,
                            path=fetched.path)
    if not fetched.size and not fetched.data:
        raise InvalidRequest(f"`{ref.param}` is empty.", param=ref.param, code="invalid_attachment")
    if ref.kind == "image" and not fetched.mime.startswith("image/"):
        raise InvalidRequest(f"`{ref.param}` is not an image ({fetched.mime}).", param=ref.param,
                             code="invalid_attachment")
    return attachment


async def load_attachments(refs: list[AttachmentRef], policy: FetchPolicy, tally: Tally) -> list[Attachment]:
    """All at once, their sizes counted against one total; the first failure cancels the rest and
    names its message part (files already fetched are deleted with their attachments)."""
    if not refs:
        return []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(load_one(ref, policy, tally)) for ref in refs]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
