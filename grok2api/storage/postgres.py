"""PostgreSQL storage over an asyncpg pool (the SQL itself lives in sql_common)."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from .base import StorageError
from .sql_common import POSTGRES, Conn, DuplicateKeyError, Row, SqlStorage

# pg_advisory_xact_lock key of schema migrations ("grok" in ASCII).
_MIGRATION_LOCK = 0x67726F6B
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@functools.lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """`?` placeholders -> $1, $2, ... (the shared SQL never has a literal "?")."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class _PgConn:
    def __init__(self, con: asyncpg.Connection, where: str) -> None:
        self._con = con
        self._where = where

    def _error(self, exc: BaseException) -> StorageError:
        if isinstance(exc, asyncpg.UniqueViolationError):
            return DuplicateKeyError(f"pgsql at {self._where}: {exc}")
        return StorageError(f"pgsql at {self._where}: {type(exc).__name__}: {exc}")

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(await self._con.fetch(_numbered(sql), *args))
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        try:
            status = await self._con.execute(_numbered(sql), *args)
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        # "UPDATE 3", "INSERT 0 1", "CREATE TABLE": the count, when there is one, comes last.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0


class PostgresStorage(SqlStorage):
    """The Storage protocol on PostgreSQL; reserve is one UPDATE ... RETURNING."""

    kind = "pgsql"
    dialect = POSTGRES

    def __init__(self, url: str, min_size: int = 1, max_size: int = 20) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        m = re.search(r"@([^/?]+)(/[^?]*)?", url)
        self._where = (m.group(1) + (m.group(2) or "")) if m else "?"

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=self._min_size, max_size=self._max_size, command_timeout=60, timeout=10
            )
        except (*_DRIVER_ERRORS, ValueError) as exc:
            # The URL may hold a password: name the server only.
            raise StorageError(f"pgsql at {self._where}: cannot connect: {type(exc).__name__}") from None
        try:
            await self._apply_migrations()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _acquire(self) -> Any:
        if self._pool is None:
            raise StorageError("pgsql storage is not open")
        return self._pool.acquire()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        try:
            async with self._acquire() as con:
                yield _PgConn(con, self._where)
        except _DRIVER_ERRORS as exc:  # acquiring (connect) failed
            raise StorageError(f"pgsql at {self._where}: {type(exc).__name__}: {exc}") from None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        async with self._conn() as c:
            assert isinstance(c, _PgConn)
            async with c._con.transaction():
                yield c

    @asynccontextmanager
    async def _locked_tx(self) -> AsyncIterator[Conn]:
        async with self._tx() as c:
            # DDL is transactional here; the advisory lock makes concurrent starters wait
            # instead of racing on CREATE TABLE (which fails on pg_type's unique index).
            await c.fetch("SELECT pg_advisory_xact_lock(?)", [_MIGRATION_LOCK])
            yield c

    def _migration(self) -> AbstractAsyncContextManager[Conn]:
        return self._locked_tx()
