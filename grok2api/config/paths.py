"""Where read-only resources (templates, static, defaults) and writable data live."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the grok2api package


def resource_dir() -> Path:
    """The source tree's root, or the PyInstaller bundle (never written to: onefile deletes it)."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else PACKAGE_DIR.parent


def templates_dir() -> Path:
    return resource_dir() / "templates"


def static_dir() -> Path:
    return resource_dir() / "static"


def package_file(name: str) -> Path:
    """A data file shipped inside the package (bundled under grok2api/ when frozen)."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "grok2api" / name if bundle else PACKAGE_DIR / name


def defaults_config() -> Path:
    return package_file("config/defaults.toml")
