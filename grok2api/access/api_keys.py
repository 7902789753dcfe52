"""API keys as domain operations (create, list, update, delete) for the admin and the CLI alike.

A key is shown once and stored only as a sha256 hash; every change bumps the keys counter so each
worker's key cache drops it within a second.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..storage.base import TOPIC_KEYS, ApiKeyRecord, Storage

KEY_PREFIX = "sk-"


def hash_key(key: str) -> str:
    # A fast hash is right here: keys are 190-bit random secrets, not guessable passwords.
    return hashlib.sha256(key.encode()).hexdigest()


def mint_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def shown_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 4] + "…"


class KeyNameTaken(ValueError):
    """Another key already has this name (names are unique, case-insensitively, so logs and stats
    that show a key's name point at one key)."""


async def _check_name_free(storage: Storage, name: str, key_id: str = "") -> None:
    wanted = name.strip().casefold()
    for other in await storage.list_keys():
        if other.id != key_id and other.name.strip().casefold() == wanted:
            raise KeyNameTaken(f"a key named “{other.name}” already exists (id {other.id}); choose another name")


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
    """Mint a key and store its hash; raises KeyNameTaken when the name is in use."""
    await _check_name_free(storage, name)
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
    await storage.bump(TOPIC_KEYS)
    return NewKey(record=record, key=key)


async def list_keys(storage: Storage) -> list[ApiKeyRecord]:
    """Every key, newest first."""
    return sorted(await storage.list_keys(), key=lambda k: k.created_at, reverse=True)


async def update_key(storage: Storage, key_id: str, **fields: Any) -> bool:
    """Change a key's settings (name, limits, allow-list, enabled, ...); False when it does not exist.
    Raises KeyNameTaken when another key has the new name."""
    if not fields:
        return await storage.get_key(key_id) is not None
    if "name" in fields:
        await _check_name_free(storage, str(fields["name"]), key_id)
    if not await storage.update_key(key_id, **fields):
        return False
    await storage.bump(TOPIC_KEYS)
    return True


async def delete_key(storage: Storage, key_id: str) -> bool:
    """False when the key did not exist."""
    if not await storage.delete_key(key_id):
        return False
    await storage.bump(TOPIC_KEYS)
    return True


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison for the global key."""
    return hmac.compare_digest(a.encode(), b.encode())
