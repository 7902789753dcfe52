"""The cf_clearance values Cloudflare minted for the fake: each bound to (client address, User-Agent)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

_MAX_CLEARANCES = 100_000


@dataclass(slots=True)
class Minted:
    """One cf_clearance as Cloudflare keeps it: valid only from this address with this User-Agent."""

    address: str
    user_agent: str
    expires_at: float

    def honoured(self, address: str, user_agent: str, now: float) -> bool:
        return self.address == address and self.user_agent == user_agent and now < self.expires_at


class Clearances:
    """Every cf_clearance minted and not revoked, and how many were minted per address."""

    def __init__(self) -> None:
        self.by_value: dict[str, Minted] = {}
        self.minted: dict[str, int] = {}
        self.challenges: dict[str, int] = {}

    def mint(self, address: str, user_agent: str, ttl: float, now: float) -> str:
        if len(self.by_value) >= _MAX_CLEARANCES:  # drop the oldest: the fake must not grow without bound
            self.by_value.pop(next(iter(self.by_value)))
        value = f"{secrets.token_urlsafe(24)}-{int(now)}-1.2.1.1-fake"
        self.by_value[value] = Minted(address, user_agent, now + ttl)
        self.minted[address] = self.minted.get(address, 0) + 1
        return value

    def revoke(self, address: str | None = None) -> int:
        """Forget the clearances of one address (None: all); how many were forgotten."""
        gone = [v for v, m in self.by_value.items() if address is None or m.address == address]
        for value in gone:
            del self.by_value[value]
        return len(gone)

    def honoured(self, value: str, address: str, user_agent: str, now: float) -> bool:
        minted = self.by_value.get(value)
        return minted is not None and minted.honoured(address, user_agent, now)

    def challenged(self, address: str) -> None:
        self.challenges[address] = self.challenges.get(address, 0) + 1

    def clear(self) -> None:
        self.by_value.clear()
        self.minted.clear()
        self.challenges.clear()

    def to_json(self, now: float) -> dict[str, Any]:
        live: dict[str, list[dict[str, Any]]] = {}
        for minted in self.by_value.values():
            if now < minted.expires_at:
                live.setdefault(minted.address, []).append(
                    {"user_agent": minted.user_agent, "expires_in": round(minted.expires_at - now, 1)})
        return {"live": live, "minted": dict(self.minted), "challenges": dict(self.challenges)}
