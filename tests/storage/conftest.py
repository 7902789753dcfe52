"""Storage fixtures: every backend on its real server, wiped before each test; none skipped."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grok2api.storage import make_storage
from grok2api.storage.base import Storage
from grok2api.storage.sql_schema import TABLES

# An unreachable server fails its tests: CI requires every backend to run.
URLS = {
    "sqlite": "",
    "redis": os.environ.get("GROK2API_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "pgsql": os.environ.get("GROK2API_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("GROK2API_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
BACKENDS = list(URLS)
REDIS_SCHEMA_KEY = "grok2api:schema_version"


@dataclass
class Backend:
    """One engine's database for one test: opens storages on it and pokes it directly."""

    kind: str
    url: str
    data_dir: Path

    def make(self) -> Storage:
        return make_storage(self.kind, self.url, self.data_dir)

    async def open(self) -> Storage:
        storage = self.make()
        await storage.open()
        return storage

    async def wipe(self) -> None:
        if self.kind == "redis":
            import redis.asyncio

            client = redis.asyncio.from_url(self.url)
            await client.flushdb()
            await client.aclose()
        elif self.kind == "pgsql":
            import asyncpg

            con = await asyncpg.connect(self.url)
            await con.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")
            await con.close()
        elif self.kind == "mysql":
            await self._mysql(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")

    async def _mysql(self, sql: str, *args: object) -> None:
        from urllib.parse import urlsplit

        import aiomysql

        parts = urlsplit(self.url.replace("+aiomysql", ""))
        con = await aiomysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
            password=parts.password or "", db=parts.path.lstrip("/"), autocommit=True,
        )
        try:
            async with con.cursor() as cur:
                await cur.execute("SET SESSION sql_notes = 0")  # "unknown table" notes become Python warnings
                await cur.execute(sql, args or None)
        finally:
            con.close()

    async def drop_tables(self, tables: tuple[str, ...]) -> None:
        """Drop tables behind the storage's back (an older schema); Redis has none."""
        sql = f"DROP TABLE IF EXISTS {', '.join(tables)}"
        if self.kind == "sqlite":
            with sqlite3.connect(self.data_dir / "grok2api.db") as db:
                for table in tables:
                    db.execute(f"DROP TABLE IF EXISTS {table}")
        elif self.kind == "pgsql":
            import asyncpg

            con = await asyncpg.connect(self.url)
            await con.execute(sql)
            await con.close()
        elif self.kind == "mysql":
            await self._mysql(sql)

    async def back_to_schema_1(self, account_ids: list[str]) -> None:
        """Turn the database into what grok2api of schema 1 left: no accounts.egress, no limit tables, version 1."""
        await self.drop_tables(("limit_counters", "limit_slots"))
        if self.kind == "sqlite":
            with sqlite3.connect(self.data_dir / "grok2api.db") as db:
                db.execute("ALTER TABLE accounts DROP COLUMN egress")
        elif self.kind == "redis":
            import redis.asyncio

            client = redis.asyncio.from_url(self.url)
            for account_id in account_ids:
                await client.hdel(f"grok2api:acct:{account_id}", "egress")
            await client.aclose()
        elif self.kind == "pgsql":
            import asyncpg

            con = await asyncpg.connect(self.url)
            await con.execute("ALTER TABLE accounts DROP COLUMN egress")
            await con.close()
        else:
            await self._mysql("ALTER TABLE accounts DROP COLUMN egress")
        await self.write_schema_version(1)

    async def schema_version(self) -> int:
        """The schema version stored, read behind the storage's back."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.data_dir / "grok2api.db") as db:
                return int(db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
        if self.kind == "redis":
            import redis.asyncio

            client = redis.asyncio.from_url(self.url)
            try:
                return int(await client.get(REDIS_SCHEMA_KEY))
            finally:
                await client.aclose()
        if self.kind == "pgsql":
            import asyncpg

            con = await asyncpg.connect(self.url)
            try:
                return int(await con.fetchval("SELECT MAX(version) FROM schema_version"))
            finally:
                await con.close()
        from urllib.parse import urlsplit

        import aiomysql

        parts = urlsplit(self.url)
        con = await aiomysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                                     password=parts.password or "", db=parts.path.lstrip("/"), autocommit=True)
        try:
            async with con.cursor() as cur:
                await cur.execute("SELECT MAX(version) FROM schema_version")
                return int((await cur.fetchone())[0])
        finally:
            con.close()

    async def redis_has_field(self, account_id: str, field: str) -> bool:
        import redis.asyncio

        client = redis.asyncio.from_url(self.url)
        try:
            return bool(await client.hexists(f"grok2api:acct:{account_id}", field))
        finally:
            await client.aclose()

    async def write_schema_version(self, version: int) -> None:
        """Store a schema version the way each engine keeps it, behind the storage's back."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.data_dir / "grok2api.db") as db:
                db.execute("UPDATE schema_version SET version = ?", (version,))
        elif self.kind == "redis":
            import redis.asyncio

            client = redis.asyncio.from_url(self.url)
            await client.set(REDIS_SCHEMA_KEY, version)
            await client.aclose()
        elif self.kind == "pgsql":
            import asyncpg

            con = await asyncpg.connect(self.url)
            await con.execute("UPDATE schema_version SET version = $1", version)
            await con.close()
        else:
            await self._mysql("UPDATE schema_version SET version = %s", version)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    b = Backend(request.param, URLS[request.param], tmp_path)
    await b.wipe()
    return b


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    s = await backend.open()
    yield s
    await s.close()
