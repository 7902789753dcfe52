"""The model catalog: public model ids mapped onto grok.com modes, loaded from models.toml."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .config import paths

KINDS = ("chat", "image", "edit", "video")
TIERS = ("basic", "super", "heavy")  # ascending: a higher tier can serve a lower tier's model
CATALOG_FILE = "models.toml"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CatalogError(ValueError):
    """models.toml is malformed; the message names the file, the model id and the field."""


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """How one public model id is served: upstream selectors, quota bucket, cost and tier."""

    id: str
    kind: str  # chat | image | edit | video
    mode: str  # mgw WebSocket session.model (G3): fast | auto | expert | heavy; "" for media
    mode_id: str  # REST `modeId` (G2); "" when none
    model_name: str  # REST `modelName` (G1); "" when none
    model_mode: str  # REST `modelMode` (G1); "" = none (null on the wire)
    cost: int  # units reserved in `bucket` per request
    bucket: str  # the quota the upstream counts separately (fast, auto, expert, heavy, image, ...)
    min_tier: str  # basic | super | heavy
    thinks: bool
    description: str
    owned_by: str
    media_model: str = ""  # REST media `modelName` (imagine-image-edit, imagine-video-gen)
    pro: bool = False  # Imagine WebSocket `enable_pro`


_REQUIRED = ("kind", "mode", "cost", "bucket", "min_tier")
_DEFAULTS: dict[str, Any] = {
    "mode_id": "",
    "model_name": "",
    "model_mode": "",
    "thinks": False,
    "description": "",
    "owned_by": "xai",
    "media_model": "",
    "pro": False,
}
_FIELD_TYPES: dict[str, type] = {
    f.name: (bool if f.type == "bool" else int if f.type == "int" else str) for f in fields(ModelRoute)
}
_KNOWN = frozenset(_FIELD_TYPES) - {"id"} | {"enabled"}


class Catalog:
    """The loaded models in file order; lookups by id."""

    def __init__(self, routes: list[ModelRoute]) -> None:
        self._routes = {r.id: r for r in routes}

    def get(self, model_id: str) -> ModelRoute | None:
        return self._routes.get(model_id)

    def all(self) -> list[ModelRoute]:
        return list(self._routes.values())

    def buckets(self) -> set[str]:
        return {r.bucket for r in self._routes.values()}

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._routes

    def __len__(self) -> int:
        return len(self._routes)


def _fail(source: str, model_id: str, field: str, why: str) -> CatalogError:
    return CatalogError(f"{source}: model {model_id!r} field {field!r}: {why}")


def _check_value(source: str, model_id: str, name: str, value: Any) -> None:
    want = _FIELD_TYPES[name] if name != "enabled" else bool
    # bool is a subclass of int: `cost = true` must not pass as 1
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise _fail(source, model_id, name, f"must be {want.__name__}, got {type(value).__name__} {value!r}")


def route_from(model_id: str, entry: dict[str, Any], source: str) -> ModelRoute:
    """Validate one merged table into a ModelRoute (errors name the model and the field)."""
    if not _ID.match(model_id):
        raise _fail(source, model_id, "id", "use letters, digits and . _ : - (at most 128)")
    for name in _REQUIRED:
        if name not in entry:
            raise _fail(source, model_id, name, "is required")
    values = {**_DEFAULTS, **entry}
    values.pop("enabled", None)
    for name, value in values.items():
        _check_value(source, model_id, name, value)
    if values["kind"] not in KINDS:
        raise _fail(source, model_id, "kind", f"must be one of {', '.join(KINDS)}, got {values['kind']!r}")
    if values["min_tier"] not in TIERS:
        raise _fail(source, model_id, "min_tier", f"must be one of {', '.join(TIERS)}, got {values['min_tier']!r}")
    if values["cost"] < 1:
        raise _fail(source, model_id, "cost", f"must be at least 1, got {values['cost']}")
    if not _WORD.match(values["bucket"]):
        raise _fail(source, model_id, "bucket", f"must be a short name like 'fast', got {values['bucket']!r}")
    if values["kind"] == "chat" and not values["mode"]:
        raise _fail(source, model_id, "mode", "a chat model needs the upstream mode (fast, auto, expert or heavy)")
    if values["mode"] and not _WORD.match(values["mode"]):
        raise _fail(source, model_id, "mode", f"must be a short name like 'fast', got {values['mode']!r}")
    return ModelRoute(id=model_id, **values)


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
    unknown_top = set(data) - {"models"}
    if unknown_top:
        raise CatalogError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))}; use [models.\"<id>\"]")
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise CatalogError(f"{path}: `models` must be a table of [models.\"<id>\"] tables")
    for model_id, entry in models.items():
        if not isinstance(entry, dict):
            raise _fail(str(path), model_id, "(table)", "must be a table")
        unknown = set(entry) - _KNOWN
        if unknown:
            raise _fail(str(path), model_id, sorted(unknown)[0], f"unknown field; known: {', '.join(sorted(_KNOWN))}")
        if "enabled" in entry:
            _check_value(str(path), model_id, "enabled", entry["enabled"])
    return models


def load_catalog(data_dir: Path | None, *, shipped: Path | None = None) -> Catalog:
    """The shipped catalog with DATA_DIR/models.toml merged over it field by field, by model id.

    An override entry for a known id changes only the fields it gives; a new id must give every
    required field; `enabled = false` removes a model.
    """
    shipped = shipped or paths.package_file(CATALOG_FILE)
    merged = {mid: dict(entry) for mid, entry in _read(shipped).items()}
    sources = {mid: str(shipped) for mid in merged}
    override = data_dir / CATALOG_FILE if data_dir is not None else None
    if override is not None and override.is_file():
        for mid, entry in _read(override).items():
            merged[mid] = {**merged.get(mid, {}), **entry}
            sources[mid] = str(override)
    routes = [
        route_from(mid, entry, sources[mid])
        for mid, entry in merged.items()
        if entry.get("enabled", True)
    ]
    return Catalog(routes)
