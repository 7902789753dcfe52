"""Account administration: import/export, edits, and bulk upstream operations with progress."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from ..catalog import TIERS
from ..storage.base import TOPIC_ACCOUNTS, AccountRecord, Storage, account_id_for
from .model import Account, mask_token
from .options import PoolConfig
from .refresher import FetchLimits, refresh_account

__all__ = [
    "ImportItem", "ImportResult", "Progress", "accept_tos", "add_tokens", "delete_accounts",
    "enable_nsfw", "export_json", "import_tokens", "mask_token", "normalize_pool", "parse_import", "published",
    "refresh_quotas", "run_bulk", "set_enabled", "set_note", "set_tags", "stored_records",
]

EXPORT_VERSION = 1
NSFW_TAG = "nsfw"
_TOKEN = re.compile(r"^[A-Za-z0-9._\-+/=~%]{8,8192}$")
# The seed keyed its token map by these pool names.
_POOL_NAMES = {"ssobasic": "basic", "ssosuper": "super", "ssoheavy": "heavy"}
T = TypeVar("T")


class ImportItem(NamedTuple):
    """One token to import; pool None = the import's default (or the stored pool if known)."""

    token: str
    pool: str | None = None
    tags: tuple[str, ...] = ()
    note: str = ""


def normalize_pool(name: str) -> str:
    """basic/super/heavy, also from the seed's ssoBasic/ssoSuper; ValueError otherwise."""
    key = name.strip().lower()
    key = _POOL_NAMES.get(key, key)
    if key not in TIERS:
        raise ValueError(f"unknown pool {name!r}; use basic, super or heavy")
    return key


def _token_of(raw: str) -> str | None:
    """The SSO value of a pasted token or cookie string (`sso=...; sso-rw=...`), or None."""
    text = raw.strip().strip("'\"").strip()
    if text.lower().startswith("cookie:"):
        text = text[7:].strip()
    if ";" in text or text.lower().startswith(("sso=", "sso-rw=")):
        cookies: dict[str, str] = {}
        for part in text.split(";"):
            name, sep, value = part.partition("=")
            if sep:
                cookies.setdefault(name.strip().lower(), value.strip())
        text = cookies.get("sso") or cookies.get("sso-rw") or ""
    return text if _TOKEN.match(text) else None


def _tags(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"{where}: `tags` must be a list of strings")
    return tuple(dict.fromkeys(t.strip() for t in value if t.strip()))


def _json_item(entry: Any, pool: str | None, where: str) -> ImportItem | None:
    if isinstance(entry, str):
        token = _token_of(entry)
        return ImportItem(token, pool) if token else None
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        raise ValueError(f"{where}: expected a token string or an object with a `token` string")
    token = _token_of(entry["token"])
    if token is None:
        return None
    if entry.get("pool") is not None:
        if not isinstance(entry["pool"], str):
            raise ValueError(f"{where}: `pool` must be a string")
        pool = normalize_pool(entry["pool"])
    note = entry.get("note") or ""
    if not isinstance(note, str):
        raise ValueError(f"{where}: `note` must be a string")
    return ImportItem(token, pool, _tags(entry.get("tags"), where), note.strip())


def _parse_json(data: Any) -> tuple[list[ImportItem], int]:
    items: list[ImportItem] = []
    rejected = 0

    def take(entries: Any, pool: str | None, where: str) -> None:
        nonlocal rejected
        if not isinstance(entries, list):
            raise ValueError(f"{where}: expected a list")
        for i, entry in enumerate(entries):
            item = _json_item(entry, pool, f"{where}[{i}]")
            if item is None:
                rejected += 1
            else:
                items.append(item)

    if isinstance(data, list):
        take(data, None, "list")
    elif isinstance(data, dict) and "accounts" in data:
        version = data.get("version", EXPORT_VERSION)
        if version != EXPORT_VERSION:
            raise ValueError(f"export version {version!r} is not supported (expected {EXPORT_VERSION})")
        take(data["accounts"], None, "accounts")
    elif isinstance(data, dict):
        for name, entries in data.items():  # the seed's {pool: [token, ...]} map
            take(entries, normalize_pool(name), name)
    else:
        raise ValueError("JSON import must be a list, an export object or a {pool: [tokens]} map")
    return items, rejected


def _parse(text: str) -> tuple[list[ImportItem], int]:
    """Items in input order, and how many lines/entries were rejected as not a token."""
    text = text.lstrip("\ufeff")
    if text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        return _parse_json(data)
    items: list[ImportItem] = []
    rejected = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        token = _token_of(line)
        if token is None:
            rejected += 1
        else:
            items.append(ImportItem(token))
    return items, rejected


def parse_import(text: str) -> list[ImportItem]:
    """Tokens from pasted text: one per line (blank lines and # comments ignored), `sso=...`
    cookie strings (cut at `;`), the JSON export, a JSON list of strings, or the seed's
    `{pool: [token, ...]}` map. Unparseable lines are dropped; malformed JSON raises ValueError."""
    return _parse(text)[0]


def export_json(accounts: Iterable[AccountRecord | Account]) -> dict[str, Any]:
    """The export format `parse_import` accepts back: tokens with pool, tags and note."""
    return {
        "version": EXPORT_VERSION,
        "accounts": [{"token": a.token, "pool": a.pool, "tags": list(a.tags), "note": a.note} for a in accounts],
    }


@dataclass(slots=True)
class ImportResult:
    added: int = 0
    updated: int = 0
    skipped: int = 0  # rejected lines and duplicates within the input
    ids: list[str] = field(default_factory=list)
    repooled: list[str] = field(default_factory=list)  # known accounts the input moved to another pool


def _dedup(items: Sequence[ImportItem]) -> tuple[list[ImportItem], int]:
    """One item per account; a repeated token merges tags and keeps the first pool, last note."""
    merged: dict[str, ImportItem] = {}
    for item in items:
        aid = account_id_for(item.token)
        prev = merged.get(aid)
        if prev is None:
            merged[aid] = item
        else:
            merged[aid] = ImportItem(prev.token, prev.pool or item.pool,
                                     tuple(dict.fromkeys(prev.tags + item.tags)), item.note or prev.note)
    return list(merged.values()), len(items) - len(merged)


async def add_tokens(storage: Storage, items: Sequence[ImportItem], default_pool: str = "basic", *,
                     config: PoolConfig | None = None, now: float | None = None) -> ImportResult:
    """Store tokens once each (dedup by account id). New accounts get their tier's default
    quotas; known ones keep quotas, status and counters, gain tags (union) and a non-empty
    note, and change pool only when the item names one."""
    config = config or PoolConfig()
    default_pool = normalize_pool(default_pool)
    now = time.time() if now is None else now
    unique, dupes = _dedup(items)
    ids = [account_id_for(i.token) for i in unique]
    existing: dict[str, AccountRecord] = {}
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        for rec in await asyncio.gather(*(storage.get_account(aid) for aid in chunk)):
            if rec is not None:
                existing[rec.id] = rec
    records = []
    repooled = []
    for aid, item in zip(ids, unique):
        old = existing.get(aid)
        pool = item.pool or (old.pool if old is not None else default_pool)
        moved = old is not None and old.pool != pool
        # A new account, or one moved to another tier, starts from that tier's defaults (merged over the
        # stored buckets) until grok.com is asked; a known one in its pool keeps what was read.
        quota = {} if old is not None and not moved else config.tier_quotas(pool)
        records.append(AccountRecord(id=aid, token=item.token, pool=pool, quota=quota, tags=list(item.tags),
                                     note=item.note, created_at=now, updated_at=now))
        if moved:
            repooled.append(aid)
    added, updated = await storage.upsert_accounts(records) if records else (0, 0)
    for aid in repooled:
        await storage.update_account(aid, last_sync_at=0.0)  # due for the refresher at once
    if records:
        await storage.bump(TOPIC_ACCOUNTS)
    return ImportResult(added, updated, dupes, ids, repooled)


async def import_tokens(storage: Storage, text: str, default_pool: str = "basic", *,
                        config: PoolConfig | None = None, now: float | None = None) -> ImportResult:
    """parse_import + add_tokens; `skipped` also counts the lines that were not tokens."""
    items, rejected = _parse(text)
    result = await add_tokens(storage, items, default_pool, config=config, now=now)
    result.skipped += rejected
    return result


async def published(storage: Storage) -> None:
    """Tell every worker's pool view that accounts changed (after writes made outside these operations)."""
    await storage.bump(TOPIC_ACCOUNTS)


async def set_enabled(storage: Storage, account_ids: Iterable[str], enabled: bool) -> int:
    """Disable accounts, or enable them again (active, failure count and cooldown cleared)."""
    fields: dict[str, Any] = (
        {"status": "active", "fail_count": 0, "cooldown_until": 0.0} if enabled else {"status": "disabled"})
    changed = 0
    for aid in account_ids:
        changed += await storage.update_account(aid, **fields)
    if changed:
        await storage.bump(TOPIC_ACCOUNTS)
    return changed


async def delete_accounts(storage: Storage, account_ids: Sequence[str]) -> int:
    deleted = await storage.delete_accounts(list(account_ids))
    if deleted:
        await storage.bump(TOPIC_ACCOUNTS)
    return deleted


async def set_note(storage: Storage, account_id: str, note: str) -> bool:
    ok = await storage.update_account(account_id, note=note.strip())
    if ok:
        await storage.bump(TOPIC_ACCOUNTS)
    return ok


async def set_tags(storage: Storage, account_id: str, tags: Iterable[str]) -> bool:
    """Replace the tags (the admin's edit form sends the full list)."""
    clean = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    ok = await storage.update_account(account_id, tags=clean)
    if ok:
        await storage.bump(TOPIC_ACCOUNTS)
    return ok


# -- bulk operations -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Progress:
    """After each account of a bulk operation: enough for a progress bar and an error list."""

    done: int
    total: int
    ok: int
    failed: int
    account_id: str = ""
    error: str = ""  # masked: never contains the token


def _describe(exc: BaseException, token: str) -> str:
    text = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    return text.replace(token, mask_token(token)) if token else text


async def run_bulk(accounts: Sequence[AccountRecord], op: Callable[[AccountRecord], Awaitable[object]],
                   concurrency: int) -> AsyncIterator[Progress]:
    """Run `op` on every account, at most `concurrency` at a time, yielding progress as each ends.
    `op` failing (raising) counts as failed; closing the iterator cancels what is still running."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(rec: AccountRecord) -> tuple[str, str]:
        async with sem:
            try:
                result = await op(rec)
            except Exception as exc:
                return rec.id, _describe(exc, rec.token)
            return rec.id, "" if result is not False else "failed"

    total = len(accounts)
    tasks = [asyncio.ensure_future(one(rec)) for rec in accounts]
    ok = failed = 0
    try:
        for fut in asyncio.as_completed(tasks):
            aid, error = await fut
            if error:
                failed += 1
            else:
                ok += 1
            yield Progress(ok + failed, total, ok, failed, aid, error)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def stored_records(storage: Storage, account_ids: Sequence[str]) -> list[AccountRecord]:
    """The stored records of these ids, those that still exist."""
    found = await asyncio.gather(*(storage.get_account(aid) for aid in account_ids))
    return [r for r in found if r is not None]


async def refresh_quotas(storage: Storage, account_ids: Sequence[str], fetch_limits: FetchLimits, *,
                         config: PoolConfig, concurrency: int,
                         clock: Callable[[], float] = time.time) -> AsyncIterator[Progress]:
    """Re-read the quotas of chosen accounts now (any status but disabled), like the refresher."""
    records = [r for r in await stored_records(storage, account_ids) if r.status != "disabled"]

    async def op(rec: AccountRecord) -> None:
        result = await refresh_account(storage, Account.from_record(rec), fetch_limits, config, clock())
        if not result.ok:
            raise RuntimeError(result.error)

    try:
        async for progress in run_bulk(records, op, concurrency):
            yield progress
    finally:
        if records:
            await storage.bump(TOPIC_ACCOUNTS)


async def accept_tos(storage: Storage, account_ids: Sequence[str], accept: Callable[[str], Awaitable[object]],
                     set_birth_date: Callable[[str], Awaitable[object]] | None, *,
                     concurrency: int) -> AsyncIterator[Progress]:
    """Accept the terms of service and (when given) set a birth date on each account's token."""
    records = await stored_records(storage, account_ids)

    async def op(rec: AccountRecord) -> None:
        await accept(rec.token)
        if set_birth_date is not None:
            await set_birth_date(rec.token)

    async for progress in run_bulk(records, op, concurrency):
        yield progress


async def enable_nsfw(storage: Storage, account_ids: Sequence[str], enable: Callable[[str], Awaitable[object]], *,
                      concurrency: int) -> AsyncIterator[Progress]:
    """Turn on NSFW content for each account and tag it `nsfw` (tags are merged, never replaced)."""
    records = await stored_records(storage, account_ids)

    async def op(rec: AccountRecord) -> None:
        await enable(rec.token)
        fresh = await storage.get_account(rec.id)  # the tags as they are now, not as listed
        if fresh is None:
            raise RuntimeError("account was deleted meanwhile")
        if NSFW_TAG not in fresh.tags:
            await storage.update_account(rec.id, tags=[*fresh.tags, NSFW_TAG])

    try:
        async for progress in run_bulk(records, op, concurrency):
            yield progress
    finally:
        if records:
            await storage.bump(TOPIC_ACCOUNTS)
