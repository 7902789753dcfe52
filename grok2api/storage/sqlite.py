"""SQLite storage: one WAL file in DATA_DIR, one writer connection, safe across worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from .base import StorageError
from .sql_common import (
    RELEASE_SQL,
    RESERVE_SQL,
    SQLITE,
    Conn,
    DuplicateKeyError,
    Row,
    SqlStorage,
)

T = TypeVar("T")

# sqlite's own busy handler waits up to BUSY_TIMEOUT_MS for another process's write lock;
# past that (a long import in another worker) the statement is retried a few more times.
BUSY_TIMEOUT_MS = 5000
BUSY_RETRIES = 5
# RETURNING (reserve, bump) arrived in SQLite 3.35.
MIN_SQLITE = (3, 35, 0)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


class _SqliteConn:
    """Conn over one aiosqlite connection; `retry` is off inside a transaction (BEGIN retries)."""

    def __init__(self, db: aiosqlite.Connection, retry: bool) -> None:
        self._db = db
        self._retry = retry

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return await call()
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                    raise DuplicateKeyError(f"sqlite: {exc}") from None
                raise StorageError(f"sqlite: {exc}") from None
            except sqlite3.OperationalError as exc:
                if not (self._retry and _is_busy(exc)) or attempt == BUSY_RETRIES:
                    raise StorageError(f"sqlite: {exc}") from None
                await asyncio.sleep(0.01 * (attempt + 1) + random.random() * 0.01)
            except sqlite3.Error as exc:
                raise StorageError(f"sqlite: {exc}") from None
        raise AssertionError("unreachable")

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        async def call() -> list[Row]:
            return list(await self._db.execute_fetchall(sql, args))

        return await self._run(call)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        async def call() -> int:
            async with self._db.execute(sql, args) as cursor:
                return int(cursor.rowcount)

        return await self._run(call)


class SqliteStorage(SqlStorage):
    """The Storage protocol on a SQLite file (see sql_common for the SQL)."""

    kind = "sqlite"
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # Reserve/release run on the event loop through this connection when the file's write
        # lock is free: one UPDATE in WAL mode costs far less than aiosqlite's thread round trip.
        # It never waits (busy timeout 0); when busy, the call takes the waiting path instead.
        self._inline: sqlite3.Connection | None = None
        # One writer connection: its statements and transactions must not interleave.
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: autocommit, so transactions are exactly the BEGINs issued here.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return db

    async def open(self) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(f"sqlite {sqlite3.sqlite_version} is too old; grok2api needs 3.35 or newer")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = await self._connect()
            await self._writer.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a power loss may drop the last commits, never corrupt the file.
            await self._writer.execute("PRAGMA synchronous = NORMAL")
            # A second connection for reads: in WAL mode they proceed while the writer writes.
            self._reader = await self._connect()
            await self._apply_migrations()
            self._inline = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            self._inline.execute("PRAGMA synchronous = NORMAL")
            # Checkpoints (an fsync) are left to the writer connection, off the event loop.
            self._inline.execute("PRAGMA wal_autocheckpoint = 0")
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StorageError(f"sqlite at {self.path}: {exc}") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        for db in (self._reader, self._writer):
            if db is not None:
                await db.close()
        self._reader = self._writer = None

    def _try_inline(self, sql: str, args: Sequence[Any]) -> list[Any] | None:
        """Rows of one write statement run now, or None when another connection holds the lock.

        Tried also while the writer connection is busy (a stats flush holds `_write_lock` across
        its awaits): SQLite's own file lock decides. The writer in a transaction or mid-statement
        holds it, and this connection (busy timeout 0) gets SQLITE_BUSY at once and the call takes
        the waiting path; between the writer's autocommit statements the file is free and the one
        UPDATE runs here instead of queueing behind the whole flush on aiosqlite's thread."""
        if self._inline is None:
            return None
        try:
            return self._inline.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                return None
            raise StorageError(f"sqlite: {exc}") from None
        except sqlite3.Error as exc:
            raise StorageError(f"sqlite: {exc}") from None

    async def reserve(self, account_id: str, bucket: str, cost: int) -> int | None:
        rows = self._try_inline(RESERVE_SQL, (int(cost), account_id, bucket, int(cost)))
        if rows is None:
            return await super().reserve(account_id, bucket, cost)
        return int(rows[0][0]) if rows else None

    async def release(self, account_id: str, bucket: str, cost: int) -> None:
        if self._try_inline(RELEASE_SQL, (int(cost), int(cost), account_id, bucket)) is None:
            await super().release(account_id, bucket, cost)

    def _db(self, reader: bool = False) -> aiosqlite.Connection:
        db = self._reader if reader else self._writer
        if db is None:
            raise StorageError("sqlite storage is not open")
        return db

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        yield _SqliteConn(self._db(reader=True), retry=True)

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        async with self._write_lock:
            yield _SqliteConn(self._db(), retry=True)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        async with self._write_lock:
            db = self._db()
            try:
                # IMMEDIATE takes the file's write lock up front: no other process can write
                # between our reads and writes, and no deadlock on upgrading a read lock.
                # Inside the try: a task cancelled while awaiting BEGIN (a client or an admin
                # check going away) still has it run on aiosqlite's thread, and the connection
                # would stay in that transaction, its later writes invisible to every reader.
                await _SqliteConn(db, retry=True).execute("BEGIN IMMEDIATE")
                yield _SqliteConn(db, retry=False)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # sqlite may have rolled back already
                    await db.execute("ROLLBACK")
                raise
            await _SqliteConn(db, retry=False).execute("COMMIT")

    def _migration(self) -> AbstractAsyncContextManager[Conn]:
        return self._tx()  # DDL is transactional in SQLite, and BEGIN IMMEDIATE excludes other processes
