"""make_storage / describe_storage: type names, URL forms, inference and password redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from grok2api.storage import describe_storage, make_storage, normalise_url
from grok2api.storage.base import Storage, StorageError
from grok2api.storage.mysql import MysqlStorage
from grok2api.storage.postgres import PostgresStorage
from grok2api.storage.sqlite import SqliteStorage


@pytest.mark.parametrize("kind", ["sqlite", "local", "", "SQLite "])
def test_sqlite_kinds_default_to_a_file_in_data_dir(kind: str, tmp_path: Path) -> None:
    storage = make_storage(kind, "", tmp_path)
    assert isinstance(storage, SqliteStorage) and isinstance(storage, Storage)
    assert storage.path == tmp_path / "grok2api.db"


def test_sqlite_url_paths(tmp_path: Path) -> None:
    relative = make_storage("sqlite", "sqlite:///sub/x.db", tmp_path)
    absolute = make_storage("", "sqlite:////tmp/elsewhere.db", tmp_path)
    assert isinstance(relative, SqliteStorage) and relative.path == tmp_path / "sub" / "x.db"
    assert isinstance(absolute, SqliteStorage) and absolute.path == Path("/tmp/elsewhere.db")


@pytest.mark.parametrize(
    "kind,url,cls",
    [
        ("pgsql", "postgresql://u:p@h:5432/db", PostgresStorage),
        ("postgres", "postgres://u:p@h/db", PostgresStorage),
        ("postgresql", "postgresql+asyncpg://u:p@h/db", PostgresStorage),
        ("", "postgresql+asyncpg://u:p@h/db", PostgresStorage),
        ("mysql", "mysql://u:p@h:3306/db", MysqlStorage),
        ("mariadb", "mysql+aiomysql://u:p@h/db", MysqlStorage),
        ("", "mariadb://u:p@h/db", MysqlStorage),
    ],
)
def test_sql_kinds_and_url_forms(kind: str, url: str, cls: type, tmp_path: Path) -> None:
    storage = make_storage(kind, url, tmp_path)
    assert isinstance(storage, cls)
    assert storage.kind == ("pgsql" if cls is PostgresStorage else "mysql")


def test_normalise_url_strips_the_driver() -> None:
    assert normalise_url("mysql+aiomysql://u@h/db") == "mysql://u@h/db"
    assert normalise_url("postgresql+asyncpg://u@h/db") == "postgresql://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql://u@h/db"
    assert normalise_url("redis://h:6379/0") == "redis://h:6379/0"


def test_unknown_kind_lists_the_allowed_values(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        make_storage("mongo", "", tmp_path)
    for allowed in ("sqlite", "local", "redis", "pgsql", "postgres", "mysql", "mariadb"):
        assert allowed in str(info.value)


def test_mismatched_or_missing_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not match"):
        make_storage("mysql", "postgresql://u@h/db", tmp_path)
    with pytest.raises(StorageError, match="needs a URL"):
        make_storage("pgsql", "", tmp_path)
    with pytest.raises(StorageError, match="scheme"):
        make_storage("", "mongodb://h/db", tmp_path)


def test_describe_storage_hides_passwords() -> None:
    text = describe_storage("mysql", "mysql+aiomysql://admin:s3cr@t!@db.example:3306/grok")
    assert "s3cr" not in text and "t!" not in text
    assert "admin:***@db.example:3306/grok" in text
    assert "hunter2" not in describe_storage("", "postgresql://u@h/db?password=hunter2&sslmode=require")
    assert "sslmode=require" in describe_storage("", "postgresql://u@h/db?password=hunter2&sslmode=require")
    assert describe_storage("redis", "redis://h:6379/0") == "redis redis://h:6379/0"
    assert "sqlite" in describe_storage("", "")
    assert "nope" in describe_storage("nope", "")  # never raises, even on a bad type
