"""The model catalog: the shipped models.toml, DATA_DIR overrides and validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from grok2api.catalog import KINDS, TIERS, CatalogError, load_catalog

SEED_IDS = [
    "grok-3", "grok-3-mini", "grok-3-thinking", "grok-4", "grok-4-fast", "grok-4-mini", "grok-4-thinking",
    "grok-4-expert", "grok-4-heavy", "grok-4.1", "grok-4.1-mini", "grok-4.1-fast", "grok-4.1-thinking",
    "grok-4.1-expert", "grok-imagine-1.0", "grok-imagine-1.0-video",
]
NEW_IDS = [
    "grok-chat-fast", "grok-chat-auto", "grok-chat-expert", "grok-chat-heavy", "grok-imagine-image",
    "grok-imagine-image-2.0", "grok-imagine-image-edit", "grok-imagine-video",
]


def test_shipped_catalog_has_every_seed_and_current_id() -> None:
    cat = load_catalog(None)
    for mid in SEED_IDS + NEW_IDS:
        assert mid in cat, mid
    ids = [r.id for r in cat.all()]
    assert ids[: len(SEED_IDS) - 2] == SEED_IDS[:-2]  # file order is kept
    assert cat.get("nope") is None


def test_shipped_routes_are_consistent() -> None:
    cat = load_catalog(None)
    for r in cat.all():
        assert r.kind in KINDS and r.min_tier in TIERS and r.cost >= 1 and r.bucket
        if r.kind == "chat":
            assert r.mode in ("fast", "auto", "expert", "heavy") and r.mode_id == r.mode
            assert r.bucket == r.mode  # each chat mode has its own upstream window
        else:
            assert r.mode == "" and r.bucket in ("image", "image_edit", "video")
    assert cat.buckets() == {"fast", "auto", "expert", "heavy", "image", "image_edit", "video"}


@pytest.mark.parametrize(("mid", "kind", "mode", "bucket", "tier", "thinks"), [
    ("grok-chat-fast", "chat", "fast", "fast", "basic", False),
    ("grok-chat-auto", "chat", "auto", "auto", "super", True),
    ("grok-chat-expert", "chat", "expert", "expert", "super", True),
    ("grok-chat-heavy", "chat", "heavy", "heavy", "heavy", True),
    ("grok-4-heavy", "chat", "heavy", "heavy", "heavy", True),
    ("grok-4.1-expert", "chat", "expert", "expert", "basic", True),
    ("grok-4.1-fast", "chat", "fast", "fast", "basic", False),
    ("grok-imagine-image", "image", "", "image", "basic", False),
    ("grok-imagine-image-edit", "edit", "", "image_edit", "basic", False),
    ("grok-imagine-video", "video", "", "video", "basic", False),
])
def test_route_mapping(mid: str, kind: str, mode: str, bucket: str, tier: str, thinks: bool) -> None:
    r = load_catalog(None).get(mid)
    assert r is not None
    assert (r.kind, r.mode, r.bucket, r.min_tier, r.thinks) == (kind, mode, bucket, tier, thinks)


def test_legacy_selectors_from_the_protocol_notes() -> None:
    cat = load_catalog(None)
    r = cat.get("grok-4.1-thinking")
    assert r is not None and (r.model_name, r.model_mode) == ("grok-4-1-thinking-1129", "MODEL_MODE_GROK_4_1_THINKING")
    r = cat.get("grok-3-mini")
    assert r is not None and (r.model_name, r.model_mode) == ("grok-3", "MODEL_MODE_GROK_3_MINI_THINKING")
    two = cat.get("grok-imagine-image-2.0")
    one = cat.get("grok-imagine-image")
    assert two is not None and one is not None and two.pro and not one.pro
    edit = cat.get("grok-imagine-image-edit")
    assert edit is not None and edit.media_model == "imagine-image-edit"
    video = cat.get("grok-imagine-video")
    assert video is not None and video.media_model == "imagine-video-gen"


def test_routes_are_frozen() -> None:
    r = load_catalog(None).get("grok-3")
    with pytest.raises(AttributeError):
        r.cost = 5  # type: ignore[misc, union-attr]


def write(data_dir: Path, text: str) -> Path:
    (data_dir / "models.toml").write_text(text, encoding="utf-8")
    return data_dir


def test_override_changes_only_given_fields(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, '[models."grok-4.1-expert"]\nmin_tier = "super"\ncost = 2\n'))
    r = cat.get("grok-4.1-expert")
    assert r is not None
    assert (r.min_tier, r.cost, r.mode, r.bucket) == ("super", 2, "expert", "expert")


def test_override_adds_and_removes_models(tmp_path: Path) -> None:
    text = (
        '[models."grok-4.20-beta"]\nkind = "chat"\nmode = "auto"\ncost = 1\nbucket = "auto"\n'
        'min_tier = "basic"\nthinks = true\n\n'
        '[models."grok-3"]\nenabled = false\n'
    )
    cat = load_catalog(write(tmp_path, text))
    new = cat.get("grok-4.20-beta")
    assert new is not None and new.mode == "auto" and new.owned_by == "xai" and new.model_name == ""
    assert "grok-3" not in cat
    assert len(cat) == len(load_catalog(None))


def test_missing_override_file_is_fine(tmp_path: Path) -> None:
    assert len(load_catalog(tmp_path)) == len(load_catalog(None))


@pytest.mark.parametrize(("text", "field"), [
    ('[models."m-new"]\nkind = "chat"\nmode = "fast"\ncost = 1\nbucket = "fast"\n', "min_tier"),
    ('[models."grok-3"]\nkind = "audio"\n', "kind"),
    ('[models."grok-3"]\nmin_tier = "gold"\n', "min_tier"),
    ('[models."grok-3"]\ncost = 0\n', "cost"),
    ('[models."grok-3"]\ncost = true\n', "cost"),
    ('[models."grok-3"]\ncost = "1"\n', "cost"),
    ('[models."grok-3"]\nbucket = "two words"\n', "bucket"),
    ('[models."grok-3"]\nmode = ""\n', "mode"),
    ('[models."grok-3"]\nthinks = "yes"\n', "thinks"),
    ('[models."grok-3"]\ncolour = "red"\n', "colour"),
    ('[models."grok-3"]\nenabled = "no"\n', "enabled"),
])
def test_validation_errors_name_model_and_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(CatalogError) as err:
        load_catalog(write(tmp_path, text))
    message = str(err.value)
    assert f"field {field!r}" in message
    assert "models.toml" in message
    assert ("'m-new'" in message) or ("'grok-3'" in message)


def test_bad_toml_and_layout(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(write(tmp_path, "[models\n"))
    with pytest.raises(CatalogError, match="unknown top-level"):
        load_catalog(write(tmp_path, '[model."x"]\nkind = "chat"\n'))
