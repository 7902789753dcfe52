"""MySQL 8 / MariaDB storage over an aiomysql pool (the SQL itself lives in sql_common)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiomysql
import pymysql
from pymysql.constants import CLIENT

from .base import StorageError
from .sql_common import MARIADB, MYSQL8, Conn, DuplicateKeyError, Row, SqlStorage

log = logging.getLogger(__name__)

_DRIVER_ERRORS = (pymysql.MySQLError, OSError, TimeoutError)
_ER_DUP_ENTRY = 1062
_MIGRATION_LOCK = "grok2api.migrate"


class _LoggingCursor(aiomysql.Cursor):
    """aiomysql turns server warnings into Python warnings (errors under pytest's
    filterwarnings=error, noise in production); log them instead."""

    async def _show_warnings(self, conn: Any) -> None:
        rows = await conn.show_warnings()
        for row in rows or ():
            log.warning("mysql warning: %s", row[-1])


@functools.lru_cache(maxsize=512)
def _format(sql: str) -> str:
    """`?` -> `%s`; the shared SQL has no literal "%" or "?" that could be mistaken for one."""
    return sql.replace("?", "%s")


class _MysqlConn:
    def __init__(self, con: aiomysql.Connection, where: str) -> None:
        self._con = con
        self._where = where

    async def _run(self, sql: str, args: Sequence[Any]) -> tuple[int, int, list[Row]]:
        try:
            async with self._con.cursor() as cur:
                count = await cur.execute(_format(sql), tuple(args) if args else None)
                return int(count), int(cur.lastrowid or 0), list(await cur.fetchall())
        except pymysql.IntegrityError as exc:
            if exc.args and exc.args[0] == _ER_DUP_ENTRY:
                raise DuplicateKeyError(f"mysql at {self._where}: {exc}") from None
            raise StorageError(f"mysql at {self._where}: {exc}") from None
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"mysql at {self._where}: {type(exc).__name__}: {exc}") from None

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return (await self._run(sql, args))[2]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return (await self._run(sql, args))[0]

    async def execute_id(self, sql: str, args: Sequence[Any]) -> tuple[int, int]:
        """Rows matched and the LAST_INSERT_ID the statement set."""
        count, last_id, _ = await self._run(sql, args)
        return count, last_id


class MysqlStorage(SqlStorage):
    """The Storage protocol on MySQL 8 or MariaDB 10.5+ (utf8mb4, InnoDB)."""

    kind = "mysql"
    dialect = MARIADB

    def __init__(self, url: str, minsize: int = 1, maxsize: int = 20) -> None:
        parts = urlsplit(url)
        try:
            port = parts.port or 3306
        except ValueError:
            raise StorageError(f"mysql: bad port in URL for host {parts.hostname}") from None
        self._where = f"{parts.hostname or 'localhost'}:{port}{parts.path}"
        self._connect_args: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": port,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "db": unquote(parts.path.lstrip("/")) or None,
            "minsize": minsize,
            "maxsize": maxsize,
            "autocommit": True,
            "charset": "utf8mb4",
            # UPDATE reports rows matched, not rows changed: "exists" even when nothing changed.
            "client_flag": CLIENT.FOUND_ROWS,
            "cursorclass": _LoggingCursor,
            "pool_recycle": 3600,
            "connect_timeout": 10,
            # REPEATABLE READ's gap locks would make concurrent imports of new ids deadlock;
            # every read-modify-write here locks its rows explicitly (FOR UPDATE).
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        }
        socket = parse_qs(parts.query).get("unix_socket")
        if socket:
            self._connect_args["unix_socket"] = socket[0]
        self._pool: aiomysql.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await aiomysql.create_pool(**self._connect_args)
        except _DRIVER_ERRORS as exc:
            # pymysql's message never holds the password; it names host and user.
            raise StorageError(f"mysql at {self._where}: cannot connect: {exc}") from None
        try:
            async with self._conn() as c:
                version = str((await c.fetch("SELECT VERSION()"))[0][0])
            # MySQL 8.0.20+ deprecates VALUES() in upserts; MariaDB lacks the row alias.
            self.dialect = MARIADB if "mariadb" in version.lower() else MYSQL8
            await self._apply_migrations()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
            await pool.wait_closed()

    @asynccontextmanager
    async def _raw(self) -> AsyncIterator[_MysqlConn]:
        if self._pool is None:
            raise StorageError("mysql storage is not open")
        try:
            con = await self._pool.acquire()
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"mysql at {self._where}: {type(exc).__name__}: {exc}") from None
        try:
            yield _MysqlConn(con, self._where)
        finally:
            self._pool.release(con)

    def _conn(self) -> AbstractAsyncContextManager[Conn]:
        return self._raw()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        async with self._raw() as c:
            await c.execute("BEGIN")
            try:
                yield c
            except asyncio.CancelledError:
                # No ROLLBACK on a cancelled task: aiomysql has closed a connection cancelled mid-statement
                # (a ROLLBACK would turn the cancellation into an InterfaceError), and the pool closes one
                # released inside a transaction; either way the server rolls the transaction back.
                raise
            except BaseException:
                await c.execute("ROLLBACK")
                raise
            await c.execute("COMMIT")

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[Conn]:
        # MySQL commits DDL implicitly, so a named lock (not a transaction) serialises starters.
        async with self._raw() as c:
            await c.fetch("SELECT GET_LOCK(?, 60)", [_MIGRATION_LOCK])
            try:
                yield c
            finally:
                await c.fetch("SELECT RELEASE_LOCK(?)", [_MIGRATION_LOCK])

    def _migration(self) -> AbstractAsyncContextManager[Conn]:
        return self._locked()

    # Neither MySQL nor MariaDB has UPDATE ... RETURNING. LAST_INSERT_ID(expr) stores the
    # new value in the statement's OK packet: atomic check-and-take in one round trip.
    async def reserve(self, account_id: str, bucket: str, cost: int) -> int | None:
        sql = (
            "UPDATE account_quota SET remaining = LAST_INSERT_ID(remaining - ?) "
            "WHERE account_id = ? AND bucket = ? AND remaining >= ?"
        )
        async with self._raw() as c:
            matched, left = await c.execute_id(sql, [int(cost), account_id, bucket, int(cost)])
        return left if matched else None

    async def bump(self, topic: str) -> int:
        sql = (
            "INSERT INTO counters (topic, value) VALUES (?, LAST_INSERT_ID(1)) "
            "ON DUPLICATE KEY UPDATE value = LAST_INSERT_ID(value + 1)"
        )
        async with self._raw() as c:
            return (await c.execute_id(sql, [topic]))[1]
