"""Shared fixtures: settings on a temporary DATA_DIR with SQLite storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grok2api.config import settings as settings_mod
from grok2api.config.settings import Settings


def make_settings(data_dir: Path, env: dict[str, str] | None = None, **server: Any) -> Settings:
    """Settings as a fresh install would have them, isolated from the developer's environment."""
    options = settings_mod.server_options({"DATA_DIR": str(data_dir)}, **server)
    return settings_mod.load(options, environ=env or {})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)
