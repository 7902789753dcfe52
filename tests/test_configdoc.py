"""The README's configuration reference is generated from the defaults file and must match it."""

from __future__ import annotations

from pathlib import Path

from grok2api.config import doc as configdoc
from grok2api.config import settings as settings_mod

ROOT = Path(__file__).resolve().parent.parent


def test_readme_reference_matches_defaults() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(configdoc.START)
    end = readme.index(configdoc.END) + len(configdoc.END)
    assert readme[start:end] == configdoc.render_reference(), (
        "README configuration reference is stale: run `python -m grok2api.config.doc README.md`")


def test_every_key_is_documented() -> None:
    text = (ROOT / "grok2api" / "config" / "defaults.toml").read_text(encoding="utf-8")
    parsed = configdoc.parse_commented_defaults(text)
    defaults = settings_mod.load_defaults()
    assert [s for s, _ in parsed] == list(defaults)
    for section, keys in parsed:
        assert [k for k, _, _ in keys] == list(defaults[section])
        for key, _, doc in keys:
            assert doc, f"{section}.{key} has no comment in config/defaults.toml"
