"""Admin services shared by the HTML pages and the JSON API: token and key view models, key input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import keys as appkeys
from ..catalog import Catalog
from ..config.settings import Settings
from ..keys import LIVE_SETTINGS, STORAGE
from ..pool.model import mask_token
from ..storage.base import ACCOUNT_STATUSES, AccountQuery, AccountRecord, ApiKeyRecord, Storage

NSFW_TAG = "nsfw"
PAGE_SIZES = (25, 50, 100, 200)


class AdminInputError(ValueError):
    """Bad input from the operator: shown in place as a readable message (HTTP 400)."""


def settings_of(request: web.Request) -> Settings:
    return request.config_dict[LIVE_SETTINGS].current


def storage_of(request: web.Request) -> Storage:
    return request.config_dict[STORAGE]


def optional_service(request: web.Request, name: str) -> Any | None:
    """An application service another area installs (GATEWAY, MEDIA, PROXIES...), or None when
    this build does not have it; pages then say what is missing instead of failing."""
    key = getattr(appkeys, name, None)
    if key is None:
        return None
    return request.config_dict.get(key)


def fmt_time(ts: float) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_ago(ts: float, now: float | None = None) -> str:
    if not ts:
        return "never"
    delta = (now if now is not None else time.time()) - ts
    future = delta < 0
    delta = abs(delta)
    if delta < 60:
        text = f"{int(delta)} s"
    elif delta < 3600:
        text = f"{int(delta // 60)} min"
    elif delta < 86400:
        text = f"{delta / 3600:.1f} h"
    else:
        text = f"{delta / 86400:.1f} d"
    return f"in {text}" if future else f"{text} ago"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


# -- tokens -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenFilter:
    pool: str = ""
    status: str = ""
    tag: str = ""
    nsfw: bool = False
    search: str = ""
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_query(cls, q: Mapping[str, str]) -> TokenFilter:
        def num(name: str, default: int) -> int:
            try:
                return int(q.get(name, "") or default)
            except ValueError:
                return default

        per = num("per", 50)
        status = q.get("status", "")
        return cls(
            pool=q.get("pool", "").strip(),
            status=status if status in ACCOUNT_STATUSES else "",
            tag=q.get("tag", "").strip(),
            nsfw=q.get("nsfw", "") in ("1", "on", "true", "yes"),
            search=q.get("q", "").strip()[:200],
            page=max(1, num("page", 1)),
            per_page=per if per in PAGE_SIZES else 50,
        )

    def query(self, offset: int | None = None, limit: int | None = None) -> AccountQuery:
        # One tag filter in storage: "NSFW only" is the `nsfw` tag and takes precedence.
        tag = NSFW_TAG if self.nsfw else self.tag
        return AccountQuery(pool=self.pool, status=self.status, tag=tag, search=self.search,
                            offset=(self.page - 1) * self.per_page if offset is None else offset,
                            limit=self.per_page if limit is None else limit)

    def params(self, **changes: Any) -> dict[str, str]:
        """Query parameters for links (pagination keeps the filters)."""
        values = {"pool": self.pool, "status": self.status, "tag": self.tag,
                  "nsfw": "1" if self.nsfw else "", "q": self.search,
                  "page": str(self.page), "per": str(self.per_page)}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "per" and v == "50")
                and not (k == "page" and v == "1")}


@dataclass(frozen=True, slots=True)
class QuotaView:
    bucket: str
    remaining: int
    total: int
    resets: str  # "in 3.2 h" or ""
    low: bool


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An account as the admin shows it: the token only ever masked."""

    id: str
    masked: str
    pool: str
    status: str
    quota: list[QuotaView]
    cooldown: str
    fail_count: int
    last_fail_reason: str
    last_used: str
    use_count: int
    tags: list[str]
    note: str
    nsfw: bool

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["token"] = data.pop("masked")
        return data


def token_row(rec: AccountRecord, now: float) -> TokenRow:
    quota = [
        QuotaView(bucket, q.remaining, q.total,
                  fmt_ago(q.resets_at, now) if q.resets_at and q.resets_at > now else "",
                  q.total > 0 and q.remaining * 5 <= q.total)
        for bucket, q in sorted(rec.quota.items())
    ]
    return TokenRow(
        id=rec.id, masked=mask_token(rec.token), pool=rec.pool, status=rec.status, quota=quota,
        cooldown=fmt_ago(rec.cooldown_until, now) if rec.cooldown_until > now else "",
        fail_count=rec.fail_count, last_fail_reason=rec.last_fail_reason,
        last_used=fmt_ago(rec.last_used_at, now), use_count=rec.use_count,
        tags=list(rec.tags), note=rec.note, nsfw=NSFW_TAG in rec.tags)


@dataclass(slots=True)
class TokenPage:
    rows: list[TokenRow]
    total: int
    filter: TokenFilter
    pages: int = 1
    notice: str = ""


async def list_tokens(storage: Storage, flt: TokenFilter, now: float | None = None) -> TokenPage:
    now = time.time() if now is None else now
    records, total = await storage.list_accounts(flt.query())
    pages = max(1, -(-total // flt.per_page))
    notice = ""
    if flt.nsfw and flt.tag and flt.tag != NSFW_TAG:
        notice = f"Filtering by one tag at a time: “NSFW only” replaced the tag filter “{flt.tag}”."
    return TokenPage([token_row(r, now) for r in records], total, flt, pages, notice)


async def matching_ids(storage: Storage, flt: TokenFilter, chunk: int = 1000) -> list[str]:
    """Every account id the filter matches (the "all" scope of a batch action), paged through."""
    ids: list[str] = []
    offset = 0
    while True:
        records, total = await storage.list_accounts(flt.query(offset=offset, limit=chunk))
        ids.extend(r.id for r in records)
        offset += len(records)
        if not records or offset >= total:
            return ids


def parse_tags(text: str) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in text.replace("\n", ",").split(",") if t.strip()))


# -- keys ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    name: str
    prefix: str
    enabled: bool
    expired: bool
    expires: str
    expires_input: str  # yyyy-mm-dd for the edit form
    allowed_models: list[str]
    rpm: int
    max_concurrent: int
    daily_quota: int
    reasoning_format: str
    created: str
    last_used: str
    use_count: int
    repeated: bool = False  # another key has the same name (kept from before names were unique)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def key_row(rec: ApiKeyRecord, now: float, repeated: frozenset[str] = frozenset()) -> KeyRow:
    expires_input = (dt.datetime.fromtimestamp(rec.expires_at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")
                     if rec.expires_at else "")
    return KeyRow(
        id=rec.id, name=rec.name, prefix=rec.prefix, enabled=rec.enabled,
        expired=bool(rec.expires_at and rec.expires_at <= now),
        expires=fmt_time(rec.expires_at) if rec.expires_at else "never", expires_input=expires_input,
        allowed_models=list(rec.allowed_models), rpm=rec.rpm, max_concurrent=rec.max_concurrent,
        daily_quota=rec.daily_quota, reasoning_format=rec.reasoning_format,
        created=fmt_time(rec.created_at), last_used=fmt_ago(rec.last_used_at, now), use_count=rec.use_count,
        repeated=rec.name.strip().casefold() in repeated)


def repeated_names(records: list[ApiKeyRecord]) -> frozenset[str]:
    """Names (case-folded) that more than one key carries: those rows show their id too."""
    seen: dict[str, int] = {}
    for rec in records:
        name = rec.name.strip().casefold()
        seen[name] = seen.get(name, 0) + 1
    return frozenset(name for name, count in seen.items() if count > 1)


def key_json(rec: ApiKeyRecord) -> dict[str, Any]:
    """The API form of a key record (never the hash)."""
    return {"id": rec.id, "name": rec.name, "prefix": rec.prefix, "enabled": rec.enabled,
            "expires_at": rec.expires_at, "allowed_models": list(rec.allowed_models), "rpm": rec.rpm,
            "max_concurrent": rec.max_concurrent, "daily_quota": rec.daily_quota,
            "reasoning_format": rec.reasoning_format, "created_at": rec.created_at,
            "last_used_at": rec.last_used_at, "use_count": rec.use_count}


MAX_KEY_LIMIT = 1_000_000_000  # rpm, concurrency, daily quota: far above any real use, inside every engine's integer


def _int_field(data: Mapping[str, Any], name: str, label: str) -> int | None:
    """A whole number from a JSON integer or a form's digits; floats, booleans and `1e309` are refused."""
    raw = data.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or (isinstance(raw, str) and not (
            raw.strip().isdigit() or (raw.strip()[:1] == "-" and raw.strip()[1:].isdigit()))):
        raise AdminInputError(f"{label} must be a whole number, not {str(raw)[:40]!r}")
    if isinstance(raw, str) and len(raw.strip()) > 12:
        raise AdminInputError(f"{label} must be at most {MAX_KEY_LIMIT:,}")
    value = int(raw)
    if value < 0:
        raise AdminInputError(f"{label} cannot be negative (0 means unlimited)")
    if value > MAX_KEY_LIMIT:
        raise AdminInputError(f"{label} must be at most {MAX_KEY_LIMIT:,}")
    return value


def parse_expiry(raw: Any) -> float | None:
    """ISO 8601 (date, date-time, with or without zone: UTC assumed), a unix time, or empty = never."""
    if raw is None:
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    text = str(raw).strip()
    if not text:
        return 0.0
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AdminInputError(f"expiry {text[:40]!r} is not a date like 2026-12-31 or 2026-12-31T23:59") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def unknown_models(models: list[str], catalog: Catalog) -> str:
    """"" when every id is in the catalog, else a message naming the others (and what was probably meant)."""
    unknown = [m for m in models if m not in catalog]
    if not unknown:
        return ""
    ids = [r.id for r in catalog.all()]
    hints = [f"`{m}` (did you mean `{close[0]}`?)" if (close := difflib.get_close_matches(m, ids, 1)) else f"`{m}`"
             for m in unknown]
    return (f"unknown model{'s' if len(unknown) > 1 else ''} {', '.join(hints)}: an allow-list names models of "
            f"the catalog (GET /v1/models lists them)")


def key_fields(data: Mapping[str, Any], *, creating: bool, catalog: Catalog | None = None) -> dict[str, Any]:
    """Validated key fields from a form or a JSON body; only the fields present are returned.
    With `catalog`, an allow-list may only name its models."""
    out: dict[str, Any] = {}
    if "name" in data or creating:
        name = str(data.get("name") or "").strip()
        if not name:
            raise AdminInputError("a key needs a name")
        if len(name) > 100:
            raise AdminInputError("the name is longer than 100 characters")
        out["name"] = name
    if "allowed_models" in data:
        models = data["allowed_models"]
        if isinstance(models, str):
            models = [m.strip() for m in models.replace("\n", ",").split(",")]
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise AdminInputError("allowed_models must be a list of model ids")
        out["allowed_models"] = list(dict.fromkeys(m.strip() for m in models if m.strip()))
        problem = unknown_models(out["allowed_models"], catalog) if catalog is not None else ""
        if problem:
            raise AdminInputError(problem)
    for name, label in (("rpm", "RPM"), ("max_concurrent", "Concurrency"), ("daily_quota", "Daily quota")):
        value = _int_field(data, name, label)
        if value is not None:
            out[name] = value
    if "expires_at" in data:
        expires = parse_expiry(data["expires_at"])
        if expires is not None:
            if creating and expires and expires <= time.time():
                raise AdminInputError("the expiry is in the past")
            out["expires_at"] = expires
    if "reasoning_format" in data:
        fmt = str(data.get("reasoning_format") or "")
        if fmt not in ("", "reasoning_content", "think_tags"):
            raise AdminInputError("reasoning_format must be reasoning_content, think_tags or empty")
        out["reasoning_format"] = fmt
    if "enabled" in data and not creating:
        value = data["enabled"]
        if isinstance(value, str):
            value = value.lower() in ("1", "true", "on", "yes")
        out["enabled"] = bool(value)
    return out


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
