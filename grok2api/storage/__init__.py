"""Storage: the protocol (base.py) and its four engines (sqlite, redis, postgres, mysql), picked by
SERVER_STORAGE_TYPE / SERVER_STORAGE_URL (this module's factory). Knows no policy and no wire.

May import: nothing of grok2api's.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Storage, StorageError

# Accepted type names (and aliases) -> canonical kind.
_KINDS = {
    "": "sqlite",
    "sqlite": "sqlite",
    "local": "sqlite",
    "redis": "redis",
    "pgsql": "pgsql",
    "postgres": "pgsql",
    "postgresql": "pgsql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
# URL scheme (before any "+driver") -> kind, used when the type is left empty.
_SCHEMES = {
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "postgres": "pgsql",
    "postgresql": "pgsql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
_ALLOWED = "sqlite (alias local), redis, pgsql (aliases postgres, postgresql), mysql (alias mariadb)"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9.-]*)(\+[A-Za-z0-9_.-]+)?://")


def _scheme(url: str) -> str:
    m = _SCHEME_RE.match(url.strip())
    return m.group(1).lower() if m else ""


def normalise_url(url: str) -> str:
    """Drop a SQLAlchemy-style "+driver" (mysql+aiomysql://, postgresql+asyncpg://)."""
    url = url.strip()
    m = _SCHEME_RE.match(url)
    if not m:
        return url
    scheme = m.group(1).lower()
    scheme = {"postgres": "postgresql", "mariadb": "mysql"}.get(scheme, scheme)
    return f"{scheme}://{url[m.end():]}"


def resolve_kind(kind: str, url: str) -> str:
    """The canonical engine for a configured type and URL; StorageError when they make no sense."""
    name = kind.strip().lower()
    if name not in _KINDS:
        raise StorageError(f"unknown storage type {kind!r}; use one of: {_ALLOWED}")
    scheme = _scheme(url)
    if scheme and scheme not in _SCHEMES:
        raise StorageError(f"unrecognised storage URL scheme {scheme!r}; use sqlite://, redis://, postgresql:// or mysql://")
    resolved = _KINDS[name] if name else _SCHEMES.get(scheme, "sqlite")
    if scheme and _SCHEMES[scheme] != resolved:
        raise StorageError(f"storage type {kind!r} does not match the storage URL scheme {scheme!r}")
    return resolved


def sqlite_path(url: str, data_dir: Path) -> Path:
    """The SQLite file: DATA_DIR/grok2api.db, or the URL's path (relative ones under DATA_DIR).

    As in SQLAlchemy, sqlite:///name.db is relative and sqlite:////abs/name.db absolute."""
    url = url.strip()
    if not url:
        return Path(data_dir) / "grok2api.db"
    path = url.split("://", 1)[1] if "://" in url else url
    if url.startswith("sqlite") and path.startswith("/"):
        path = path[1:]
    if not path or path == ":memory:":
        raise StorageError(f"sqlite storage needs a file path, got {describe_storage('sqlite', url)!r}")
    return Path(path) if Path(path).is_absolute() else Path(data_dir) / path


def make_storage(kind: str, url: str, data_dir: Path) -> Storage:
    """The storage for these settings, not yet connected (its `open()` connects)."""
    resolved = resolve_kind(kind, url)
    if resolved == "sqlite":
        from .sqlite import SqliteStorage

        return SqliteStorage(sqlite_path(url, data_dir))
    if not url.strip():
        raise StorageError(f"storage type {resolved} needs a URL (SERVER_STORAGE_URL)")
    if resolved == "redis":
        from .redis import RedisStorage

        return RedisStorage(url.strip())
    if resolved == "pgsql":
        from .postgres import PostgresStorage

        return PostgresStorage(normalise_url(url))
    from .mysql import MysqlStorage

    return MysqlStorage(normalise_url(url))


# user:password@ -> user:***@; greedy up to the last "@" so a password holding "@" is not
# half shown (over-redacting an "@" in the query string is harmless).
_PASSWORD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:).*@")
_QUERY_SECRET_RE = re.compile(r"((?:password|passwd|pwd)=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    return _QUERY_SECRET_RE.sub(r"\1***", _PASSWORD_RE.sub(r"\1***@", url.strip()))


def describe_storage(kind: str, url: str) -> str:
    """The storage for a log line, password hidden; never raises."""
    try:
        name = resolve_kind(kind, url)
    except StorageError:
        name = kind or "?"
    if name == "sqlite" and not url.strip():
        return "sqlite (grok2api.db in DATA_DIR)"
    return f"{name} {redact_url(url)}"
