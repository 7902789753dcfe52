"""Turns attachment references from a chat body into fetched, size-checked Attachments."""

from __future__ import annotations

import asyncio

from ..config.settings import Settings
from ..errors import InvalidRequest
from ..gateway.jobs import Attachment
from ..media.fetch import FetchError, FetchPolicy, decode_data_url, fetch_url
from .validate import AttachmentRef


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(max_bytes=settings.security.fetch_max_size_mb * 1024 * 1024,
                       allow_private=settings.security.allow_private_fetch,
                       timeout=float(min(settings.network.timeout, 60)))


async def load_one(ref: AttachmentRef, policy: FetchPolicy) -> Attachment:
    try:
        if ref.url[:5].lower() == "data:":
            fetched = decode_data_url(ref.url, policy.max_bytes)
        else:
            fetched = await fetch_url(ref.url, policy)
    except FetchError as exc:
        raise InvalidRequest(f"`{ref.param}`: {exc}", param=ref.param, code="invalid_attachment") from None
    if not fetched.data:
        raise InvalidRequest(f"`{ref.param}` is empty.", param=ref.param, code="invalid_attachment")
    if ref.kind == "image" and not fetched.mime.startswith("image/"):
        raise InvalidRequest(f"`{ref.param}` is not an image ({fetched.mime}).", param=ref.param,
                             code="invalid_attachment")
    return Attachment(data=fetched.data, mime=fetched.mime, name=ref.filename or fetched.name)


async def load_attachments(refs: list[AttachmentRef], policy: FetchPolicy) -> list[Attachment]:
    """All at once; the first failure cancels the rest and names its message part."""
    if not refs:
        return []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(load_one(ref, policy)) for ref in refs]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
