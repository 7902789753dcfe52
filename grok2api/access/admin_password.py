"""The admin password: stored only as a scrypt hash, generated on first start when unset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from ..storage.base import Storage

_NS = "admin"
_KEY = "password"
# scrypt parameters: ~16 MiB and a few ms per check, fine for a login endpoint.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = hash_password(password, base64.b64decode(salt_b64)).split("$")[2]
    return hmac.compare_digest(expected, digest_b64)


def generate_password() -> str:
    return secrets.token_urlsafe(18)


async def stored_hash(storage: Storage) -> str | None:
    doc = await storage.doc_get(_NS, _KEY)
    return doc.get("hash") if doc else None


async def set_password(storage: Storage, password: str) -> None:
    if len(password) < 8:
        raise ValueError("the admin password must have at least 8 characters")
    await storage.doc_put(_NS, _KEY, {"hash": hash_password(password)})


async def ensure_password(storage: Storage, configured: str) -> str | None:
    """If no password is configured or stored, generate one, store its hash and return it once."""
    if configured or await stored_hash(storage):
        return None
    password = generate_password()
    await set_password(storage, password)
    return password
