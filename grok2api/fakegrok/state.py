"""In-memory world of the fake: accounts and quotas, scenario switches, assets, conversations, records."""

from __future__ import annotations

import collections
import dataclasses
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from .clearance import Clearances
from .options import FakeConfig

UID_NAMESPACE = uuid.UUID("6a1f0c3e-2b4d-4f5a-9c8e-7d6b5a4f3e2d")
TIERS = ("basic", "super", "heavy")

# bucket -> (total, window seconds) per tier. Mode buckets (fast/auto/expert/heavy) count
# queries (§9.1 G2/G3); "default" is the G1 cost-weighted token budget (§9.4: 80/20 h,
# 140/2 h); the Imagine products follow quota_info (§9.2).
TIER_QUOTAS: dict[str, dict[str, tuple[int, int]]] = {
    "basic": {"fast": (30, 86400), "auto": (20, 86400), "expert": (0, 86400), "heavy": (0, 86400),
              "default": (80, 72000), "imagePro": (20, 86400), "imageEdit": (10, 86400),
              "video": (10, 86400), "video720p": (5, 86400)},
    "super": {"fast": (140, 7200), "auto": (50, 7200), "expert": (50, 7200), "heavy": (0, 7200),
              "default": (140, 7200), "imagePro": (100, 86400), "imageEdit": (50, 86400),
              "video": (50, 86400), "video720p": (50, 86400)},
    "heavy": {"fast": (400, 7200), "auto": (150, 7200), "expert": (150, 7200), "heavy": (50, 7200),
              "default": (400, 7200), "imagePro": (400, 86400), "imageEdit": (200, 86400),
              "video": (200, 86400), "video720p": (200, 86400)},
}
BUCKETS = tuple(TIER_QUOTAS["basic"])

# name -> kind of value the switch carries (see normalise_switch)
SWITCHES: dict[str, str] = {
    "invalid_token": "flag", "blocked": "flag", "cloudflare": "flag", "anti_bot": "flag",
    "rate_limited": "seconds", "server_error": "status", "slow_first_byte": "seconds",
    "usage_limit": "flag", "stream_cut": "cut", "stall": "seconds", "stream_error": "flag",
    "moderated": "flag", "safety_rejected": "flag", "imagine_error": "flag",
    "imagine_no_final": "flag",
}


def tier_for_token(token: str) -> str:
    """The documented rule for unseen tokens: prefix `super` → super, `heavy` → heavy, else basic."""
    lowered = token.lower()
    if lowered.startswith("super"):
        return "super"
    if lowered.startswith("heavy"):
        return "heavy"
    return "basic"


def uid_for_token(token: str) -> str:
    return str(uuid.uuid5(UID_NAMESPACE, token))


@dataclass(slots=True)
class Quota:
    total: int
    window: int
    remaining: int
    reset_at: float | None = None  # wall clock; set when the window starts being consumed

    def refresh(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            self.remaining = self.total
            self.reset_at = None

    def wait_seconds(self, now: float) -> int:
        if self.reset_at is None:
            return self.window
        return max(1, int(self.reset_at - now + 0.999))

    def to_json(self, now: float) -> dict[str, Any]:
        self.refresh(now)
        out: dict[str, Any] = {"remaining": self.remaining, "total": self.total, "window": self.window}
        if self.remaining <= 0:
            out["waitTimeSeconds"] = self.wait_seconds(now)
        return out


@dataclass(slots=True)
class Switch:
    value: Any
    times: int | None = None  # None: until cleared


@dataclass(slots=True)
class Account:
    token: str
    uid: str
    tier: str
    quotas: dict[str, Quota]
    email: str
    nsfw: bool = False
    tos_version: int = 0
    grpc_tos_accepted: bool = False
    birth_date: str | None = None
    switches: dict[str, Switch] = field(default_factory=dict)
    requests: int = 0

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "token": self.token, "uid": self.uid, "tier": self.tier, "email": self.email,
            "nsfw": self.nsfw, "tos_version": self.tos_version,
            "grpc_tos_accepted": self.grpc_tos_accepted, "birth_date": self.birth_date,
            "requests": self.requests,
            "quotas": {name: q.to_json(now) for name, q in self.quotas.items()},
            "switches": {k: dataclasses.asdict(s) for k, s in self.switches.items()},
        }


@dataclass(slots=True)
class Asset:
    asset_id: str
    owner: str | None  # token; None = public (Imagine CDN)
    path: str  # without leading slash, e.g. users/<uid>/<id>/content
    mime: str
    name: str
    created: float
    data: bytes | None = None  # uploaded bytes
    recipe: tuple[Any, ...] | None = None  # ("jpeg"|"png"|"mp4", seed, w, h[, extra]) for generated
    listed: bool = True  # shown by GET /rest/assets
    source: str = "SOURCE_SELF_UPLOAD"
    deleted: bool = False


@dataclass(slots=True)
class Conversation:
    conversation_id: str
    owner: str
    created: float
    response_ids: list[str] = field(default_factory=list)
    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (responseId, sender, text)


@dataclass(slots=True)
class Post:
    post_id: str
    owner: str
    media_type: str
    media_url: str
    prompt: str
    created: float


class Bounded(collections.OrderedDict):
    """An insertion-ordered dict that drops its oldest entries beyond `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)


def normalise_switch(name: str, raw: Any, config: FakeConfig) -> Switch | None:
    """Validate a switch as sent to the control API; None clears it. Raises ValueError."""
    if name not in SWITCHES:
        raise ValueError(f"unknown scenario switch {name!r}; known: {sorted(SWITCHES)}")
    times: int | None = None
    if isinstance(raw, dict):
        extra = set(raw) - {"value", "times"}
        if extra:
            raise ValueError(f"switch {name}: unknown keys {sorted(extra)}")
        times = raw.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError(f"switch {name}: times must be a positive integer")
        raw = raw.get("value", True)
    if raw is None or raw is False:
        return None
    kind = SWITCHES[name]
    value: Any = True
    if kind == "seconds":
        if raw is True:
            value = config.rate_limit_wait if name == "rate_limited" else (
                config.stall_seconds if name == "stall" else 5.0)
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw >= 0:
            value = raw
        else:
            raise ValueError(f"switch {name}: expected true or a number of seconds")
    elif kind == "status":
        if raw is True:
            value = 500
        elif isinstance(raw, int) and not isinstance(raw, bool) and 500 <= raw <= 599:
            value = raw
        else:
            raise ValueError(f"switch {name}: expected true or a 5xx status")
    elif kind == "cut":
        if raw is True:
            value = "abort"
        elif raw in ("abort", "clean"):
            value = raw
        else:
            raise ValueError(f"switch {name}: expected true, 'abort' or 'clean'")
    elif raw is not True:
        raise ValueError(f"switch {name}: expected true/false")
    return Switch(value, times)


class FakeState:
    """Everything the fake remembers; one per app, reachable as `app[FAKE_STATE]`."""

    def __init__(self, config: FakeConfig) -> None:
        self.initial_config = config.copy()
        self.config = config
        self.accounts: dict[str, Account] = {}
        self.global_switches: dict[str, Switch] = {}
        self.assets: Bounded = Bounded(50_000)
        self.assets_by_path: dict[str, str] = {}
        self.conversations: Bounded = Bounded(50_000)
        self.posts: Bounded = Bounded(50_000)
        self.shares: Bounded = Bounded(10_000)
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=config.record_limit)
        self.seen_statsig: Bounded = Bounded(100_000)  # x-statsig-id values seen on media paths (C3)
        self.clearances = Clearances()  # cf_clearance values minted per (address, User-Agent)

    def reset(self) -> None:
        self.config.update(self.initial_config.to_json())
        self.accounts.clear()
        self.global_switches.clear()
        self.assets.clear()
        self.assets_by_path.clear()
        self.conversations.clear()
        self.posts.clear()
        self.shares.clear()
        self.seen_statsig.clear()
        self.clearances.clear()
        self.records = collections.deque(maxlen=self.config.record_limit)

    # accounts -------------------------------------------------------------------------
    def account(self, token: str) -> Account:
        """The account of an SSO token, created on first use with the tier of its prefix."""
        found = self.accounts.get(token)
        if found is None:
            found = self.upsert_account(token, tier_for_token(token))
        return found

    def upsert_account(self, token: str, tier: str | None = None,
                       quotas: dict[str, Any] | None = None, **fields: Any) -> Account:
        if tier is not None and tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}")
        acct = self.accounts.get(token)
        if acct is None:
            tier = tier or tier_for_token(token)
            acct = Account(token=token, uid=uid_for_token(token), tier=tier, quotas={},
                           email=f"user-{uid_for_token(token)[:8]}@fakegrok.invalid")
            self._apply_tier(acct, tier)
            self.accounts[token] = acct
        elif tier is not None and tier != acct.tier:
            self._apply_tier(acct, tier)
        for name, spec in (quotas or {}).items():
            self._set_quota(acct, name, spec)
        for key, value in fields.items():
            if key == "nsfw" and isinstance(value, bool):
                acct.nsfw = value
            elif key == "tos_version" and isinstance(value, int) and not isinstance(value, bool):
                acct.tos_version = value
            elif key == "birth_date" and (value is None or isinstance(value, str)):
                acct.birth_date = value
            elif key == "grpc_tos_accepted" and isinstance(value, bool):
                acct.grpc_tos_accepted = value
            else:
                raise ValueError(f"bad account field {key}={value!r}")
        return acct

    @staticmethod
    def _apply_tier(acct: Account, tier: str) -> None:
        acct.tier = tier
        acct.quotas = {name: Quota(total, window, total) for name, (total, window) in TIER_QUOTAS[tier].items()}

    @staticmethod
    def _set_quota(acct: Account, name: str, spec: Any) -> None:
        if name not in BUCKETS:
            raise ValueError(f"unknown quota bucket {name!r}; known: {list(BUCKETS)}")
        quota = acct.quotas[name]
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = {"remaining": spec}
        if not isinstance(spec, dict) or set(spec) - {"remaining", "total", "window"}:
            raise ValueError(f"quota {name}: expected an int or {{remaining,total,window}}")
        for key, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"quota {name}.{key} must be a non-negative integer")
        quota.total = spec.get("total", max(quota.total, spec.get("remaining", 0)))
        quota.window = spec.get("window", quota.window) or 1
        quota.remaining = min(spec.get("remaining", quota.total), quota.total)
        quota.reset_at = time.time() + quota.window if quota.remaining < quota.total else None

    def consume(self, acct: Account, bucket: str, cost: int = 1) -> int | None:
        """Take `cost` from a bucket; returns None on success or the seconds until it resets."""
        now = time.time()
        quota = acct.quotas[bucket]
        quota.refresh(now)
        if quota.remaining < cost:
            return quota.wait_seconds(now)
        quota.remaining -= cost
        if quota.reset_at is None:
            quota.reset_at = now + quota.window
        acct.requests += 1
        return None

    # scenario switches ------------------------------------------------------------------
    def set_switches(self, token: str | None, switches: dict[str, Any]) -> None:
        target = self.global_switches if token is None else self.account(token).switches
        parsed = {name: normalise_switch(name, raw, self.config) for name, raw in switches.items()}
        for name, switch in parsed.items():
            if switch is None:
                target.pop(name, None)
            else:
                target[name] = switch

    def peek(self, token: str | None, name: str) -> Any | None:
        acct = self.accounts.get(token) if token is not None else None
        for table in ((acct.switches if acct else {}), self.global_switches):
            if name in table:
                return table[name].value
        return None

    def take(self, token: str | None, name: str) -> Any | None:
        """The value of an active switch (account first, then global), consuming one use."""
        acct = self.accounts.get(token) if token is not None else None
        for table in ((acct.switches if acct else {}), self.global_switches):
            switch = table.get(name)
            if switch is None:
                continue
            if switch.times is not None:
                switch.times -= 1
                if switch.times <= 0:
                    del table[name]
            return switch.value
        return None

    # assets ----------------------------------------------------------------------------
    def add_asset(self, asset: Asset) -> Asset:
        self.assets[asset.asset_id] = asset
        self.assets_by_path[asset.path] = asset.asset_id
        if len(self.assets_by_path) > 2 * self.assets.limit:
            self.assets_by_path = {a.path: a.asset_id for a in self.assets.values()}
        return asset

    def asset_at(self, path: str) -> Asset | None:
        """The asset at a URL path. Under `--demo` the fake is mounted below a prefix (the path of
        its configured origins), which asset paths do not carry."""
        path = path.lstrip("/")
        for origin in (self.config.assets_origin, self.config.imagine_origin):
            mount = urllib.parse.urlsplit(origin).path.strip("/")
            if mount and path.startswith(mount + "/"):
                path = path[len(mount) + 1:]
                break
        asset_id = self.assets_by_path.get(path)
        asset = self.assets.get(asset_id) if asset_id else None
        return None if asset is None or asset.deleted else asset

    def new_conversation(self, owner: str) -> Conversation:
        conv = Conversation(str(uuid.uuid4()), owner, time.time())
        self.conversations[conv.conversation_id] = conv
        return conv
