"""The in-memory account view, quota readings and token masking."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..storage.base import MASK_MARK, AccountRecord, Quota, masked_parts

USABLE_STATUSES = ("active", "cooling")  # cooling accounts come back once cooldown_until passed


def mask_token(token: str) -> str:
    """A token as it may appear in logs and pages: first 6 + … + last 4; short ones fully hidden."""
    parts = masked_parts(token)
    return "******" if parts is None else f"{parts[0]}{MASK_MARK}{parts[1]}"


@dataclass(slots=True)
class Account:
    """One account as a worker sees it; rebuilt from storage and patched after each write."""

    id: str
    token: str
    pool: str = "basic"
    status: str = "active"
    quota: dict[str, Quota] = field(default_factory=dict)
    cooldown_until: float = 0.0
    fail_count: int = 0
    last_fail_reason: str = ""
    last_used_at: float = 0.0
    use_count: int = 0
    last_sync_at: float = 0.0
    tags: tuple[str, ...] = ()
    note: str = ""
    egress: str = ""  # the egress the account is bound to (grok2api.egress), "" until its first call

    @classmethod
    def from_record(cls, rec: AccountRecord) -> Account:
        return cls(
            id=rec.id,
            token=rec.token,
            pool=rec.pool,
            status=rec.status,
            quota={b: Quota(q.remaining, q.total, q.window_sec, q.resets_at) for b, q in rec.quota.items()},
            cooldown_until=rec.cooldown_until,
            fail_count=rec.fail_count,
            last_fail_reason=rec.last_fail_reason,
            last_used_at=rec.last_used_at,
            use_count=rec.use_count,
            last_sync_at=rec.last_sync_at,
            tags=tuple(rec.tags),
            note=rec.note,
            egress=rec.egress,
        )

    def usable(self, now: float) -> bool:
        """May serve a request now (quota aside): active, or cooling with the cooldown over."""
        if self.status == "active":
            return True
        return self.status == "cooling" and self.cooldown_until <= now

    def remaining(self, bucket: str) -> int:
        q = self.quota.get(bucket)
        return q.remaining if q is not None else 0

    @property
    def masked(self) -> str:
        return mask_token(self.token)

    def __repr__(self) -> str:  # never the token
        return f"Account({self.id}, {self.pool}, {self.status})"


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """One bucket's quota as the upstream reported it (rate-limits or Imagine quota_info)."""

    remaining: int
    total: int
    window_sec: int = 0
    wait_sec: float = 0.0  # seconds until the window resets, when the upstream said

    def to_quota(self, now: float) -> Quota:
        """The stored form: the reset is the reported wait, else a full window from now."""
        if self.wait_sec > 0:
            resets_at = now + self.wait_sec
        elif self.window_sec > 0 and self.remaining < self.total:
            resets_at = now + self.window_sec
        else:
            resets_at = 0.0
        return Quota(self.remaining, self.total, self.window_sec, resets_at)
