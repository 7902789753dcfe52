"""One egress as the pool tracks it: its name, the proxy calls leave through, health, drain, clearance, counters."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..upstream.identity import Clearance
from .proxies import mask_proxy

DIRECT = "direct"  # the name of the one egress there is when no proxy is configured
POOL = "pool"  # the name of the proxy-pool egress (its proxy rotates; the name stays)


def egress_name(url: str) -> str:
    """The name stored on accounts and shown in pages and metrics: `scheme://host:port`, plus a short
    digest when the URL holds credentials (providers choose the exit by user name, so two egresses
    may share a host and port). Never a secret."""
    masked = mask_proxy(url)
    parts = urlsplit(url)
    if parts.username or parts.password:
        return f"{masked}#{hashlib.sha256(url.encode()).hexdigest()[:8]}"
    return masked


def egress_id(name: str) -> str:
    """A short URL-safe handle of a name (admin actions address egresses with it)."""
    return hashlib.sha256(name.encode()).hexdigest()[:12]


@dataclass(eq=False)
class Egress:
    """Mutable state of one egress in one worker."""

    name: str
    kind: str  # "static" | "pool" | "direct"
    url: str  # the configured proxy (static), the pool's API (pool), "" (direct); may hold credentials
    proxy: str  # what calls leave through now: "" = direct, a pool's current proxy
    down: bool = False
    draining: bool = False
    fails: int = 0  # consecutive failures blamed on the egress
    requests: int = 0
    failures: int = 0
    challenges: int = 0
    solves: int = 0
    solve_failures: int = 0
    last_success_at: float = 0.0
    last_challenge_at: float = 0.0
    last_failure_at: float = 0.0
    down_since: float = 0.0
    rotate: bool = False  # a pool egress: take another proxy from the pool on the next call
    last_error: str = ""  # the last failure blamed on the egress
    solve_error: str = ""  # why the last solve failed ("" after a solve succeeds)
    clearance: Clearance | None = None
    solving: asyncio.Lock = field(default_factory=asyncio.Lock)  # one solve in flight per egress

    @property
    def id(self) -> str:
        return egress_id(self.name)

    @property
    def state(self) -> str:
        return "down" if self.down else "draining" if self.draining else "up"

    @property
    def takes_accounts(self) -> bool:
        """May be given accounts (new ones, or those moving off another egress)."""
        return not self.down and not self.draining and self.kind != DIRECT


@dataclass(frozen=True, slots=True)
class EgressView:
    """A snapshot of one egress for the admin and /metrics."""

    id: str
    name: str
    kind: str
    state: str
    current: str  # the proxy in use, masked (a pool's rotates)
    accounts: int
    requests: int
    failures: int
    challenges: int
    solves: int
    solve_failures: int
    last_success_at: float
    last_challenge_at: float
    clearance_at: float  # when the clearance in use was earned (0 = none)
    clearance_expires_at: float
    last_error: str
    solve_error: str

    @classmethod
    def of(cls, e: Egress, accounts: int) -> EgressView:
        clr = e.clearance
        return cls(e.id, e.name, e.kind, e.state, mask_proxy(e.proxy) or "direct", accounts, e.requests,
                   e.failures, e.challenges, e.solves, e.solve_failures, e.last_success_at, e.last_challenge_at,
                   clr.obtained_at if clr else 0.0, clr.expires_at if clr else 0.0, e.last_error, e.solve_error)
