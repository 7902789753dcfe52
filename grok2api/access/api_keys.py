"""API key minting and lookup: keys are shown once and stored only as a sha256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ..storage.base import ApiKeyRecord, Storage

KEY_PREFIX = "sk-"


def hash_key(key: str) -> str:
    # A fast hash is right here: keys are 190-bit random secrets, not guessable passwords.
    return hashlib.sha256(key.encode()).hexdigest()


def mint_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def shown_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 4] + "…"


@dataclass(frozen=True, slots=True)
class NewKey:
    record: ApiKeyRecord
    key: str  # the only time the plaintext exists


async def create_key(
    storage: Storage,
    name: str,
    *,
    allowed_models: list[str] | None = None,
    rpm: int = 0,
    max_concurrent: int = 0,
    daily_quota: int = 0,
    expires_at: float = 0.0,
    reasoning_format: str = "",
    now: float | None = None,
) -> NewKey:
    key = mint_key()
    record = ApiKeyRecord(
        id=secrets.token_hex(8),
        name=name,
        key_hash=hash_key(key),
        prefix=shown_prefix(key),
        allowed_models=list(allowed_models or []),
        rpm=rpm,
        max_concurrent=max_concurrent,
        daily_quota=daily_quota,
        expires_at=expires_at,
        reasoning_format=reasoning_format,
        created_at=time.time() if now is None else now,
    )
    await storage.create_key(record)
    await storage.bump("keys")
    return NewKey(record=record, key=key)


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison for the global key."""
    return hmac.compare_digest(a.encode(), b.encode())
