"""The config page's model: every section as fields with value and source; validated changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

from ..config import paths
from ..config import settings as settings_mod
from ..config.schema import SECTIONS
from ..config.settings import ConfigError, Settings
from .view_models import AdminInputError

# Shown in a secret field that has a value; posting it back unchanged keeps the stored secret.
SECRET_PLACEHOLDER = "••••••••"


@dataclass(slots=True)
class ConfigField:
    dotted: str
    key: str
    kind: str  # bool | int | float | str | list | choice
    value: str  # as shown in the input
    source: str
    readonly: bool
    secret: bool
    has_value: bool
    choices: tuple[Any, ...] = ()
    help: str = ""
    error: str = ""
    restart: bool = False  # sized once at start: a saved value applies after a restart


@dataclass(slots=True)
class ConfigSection:
    name: str
    fields: list[ConfigField]
    saved: bool = False
    message: str = ""
    errors: int = 0


def _kind(annotation: Any, choices: tuple[Any, ...]) -> str:
    if choices:
        return "choice"
    if get_origin(annotation) is list:
        return "list"
    return {bool: "bool", int: "int", float: "float"}.get(annotation, "str")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def field_help() -> dict[str, str]:
    """The comment above each key in the packaged defaults (the documentation of that key)."""
    helps: dict[str, str] = {}
    section = ""
    comment: list[str] = []
    for line in paths.defaults_config().read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("[") and text.endswith("]"):
            section, comment = text[1:-1], []
        elif text.startswith("#"):
            comment.append(text.lstrip("#").strip())
        elif "=" in text and section:
            helps[f"{section}.{text.split('=', 1)[0].strip()}"] = " ".join(comment)
            comment = []
        else:
            comment = []
    return helps


def config_sections(s: Settings, helps: Mapping[str, str] | None = None,
                    only: str | None = None) -> list[ConfigSection]:
    helps = helps or {}
    out = []
    for name, cls in SECTIONS.items():
        if only and name != only:
            continue
        hints = get_type_hints(cls)
        fields = []
        for f in dataclasses.fields(cls):
            dotted = f"{name}.{f.name}"
            value = s.get(dotted)
            secret = bool(f.metadata.get("secret"))
            choices = tuple(f.metadata.get("choices") or ())
            shown = (SECRET_PLACEHOLDER if value else "") if secret else _shown(value)
            source = s.sources.get(dotted, "default")
            fields.append(ConfigField(dotted, f.name, _kind(hints[f.name], choices), shown, source,
                                      readonly=source == "env", secret=secret, has_value=bool(value),
                                      choices=choices, help=helps.get(dotted, ""),
                                      restart=bool(f.metadata.get("restart"))))
        out.append(ConfigSection(name, fields))
    return out


def _from_form(kind: str, raw: str) -> Any:
    """A form string to the JSON value validate_value expects; on failure the raw string is
    returned so the validation message names what was typed."""
    text = raw.strip()
    if kind == "bool":
        return text.lower() in ("true", "on", "1", "yes")
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "list":
        items = [v.strip() for v in text.replace(",", "\n").splitlines() if v.strip()]
        converted: list[Any] = []
        for item in items:
            try:
                converted.append(int(item))
            except ValueError:
                converted.append(item)
        return converted
    return text


def _list_item_type(cls: type, key: str) -> Any:
    annotation = get_type_hints(cls)[key]
    return get_args(annotation)[0] if get_origin(annotation) is list else None


@dataclass(slots=True)
class ConfigChange:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # env-fixed keys that were sent


def _is_unchanged_secret(value: Any, current: Any) -> bool:
    """A secret sent back as shown (the form's placeholder, or the redacted value of GET /config) keeps
    the stored one; anything else replaces it, and an empty value clears it."""
    return value in (SECRET_PLACEHOLDER, "***REDACTED***", settings_mod.redact(current)) or (
        isinstance(value, str) and value.endswith("***"))


def prepare_change(s: Settings, submitted: Mapping[str, Any], *, from_form: bool) -> ConfigChange:
    """Validate submitted {"section.key": value}: secrets sent back as shown are kept (an empty one
    is cleared), env-fixed keys are refused, each invalid value gets its own message."""
    change = ConfigChange()
    for dotted, raw in submitted.items():
        section, _, key = dotted.partition(".")
        cls = SECTIONS.get(section)
        if cls is None or key not in {f.name for f in dataclasses.fields(cls)}:
            change.errors[dotted] = f"{dotted}: unknown configuration key"
            continue
        if s.sources.get(dotted) == "env":
            change.ignored.append(dotted)
            continue
        secret = settings_mod.is_secret(dotted)
        if secret and _is_unchanged_secret(raw, s.get(dotted)):
            continue  # untouched: the stored secret stays
        value = raw
        if from_form:
            kind = _kind(get_type_hints(cls)[key], ())
            value = _from_form(kind, str(raw))
            if kind == "list" and _list_item_type(cls, key) is str:
                value = [str(v) for v in value]
        try:
            typed = settings_mod.validate_value(dotted, value)
        except ConfigError as exc:
            change.errors[dotted] = "; ".join(exc.problems)
            continue
        if typed != s.get(dotted):
            change.values[dotted] = typed
    if not change.errors and change.values:
        # Whole-config checks (e.g. the refused default password) run on the merged result.
        try:
            settings_mod.build(settings_mod.load_defaults(), [("admin", change.values)], s.server)
        except ConfigError as exc:
            for problem in exc.problems:
                dotted = problem.split(" ", 1)[0]
                if dotted in change.values:
                    change.errors[dotted] = problem
    return change


def flatten_config_body(body: Any) -> dict[str, Any]:
    """JSON config input: {"section.key": v} or {"section": {"key": v}} (the seed's nested form)."""
    if not isinstance(body, dict):
        raise AdminInputError("the body must be a JSON object")
    flat: dict[str, Any] = {}
    for name, value in body.items():
        if "." in name:
            flat[name] = value
        elif isinstance(value, dict):
            for key, v in value.items():
                flat[f"{name}.{key}"] = v
        else:
            flat[name] = value
    return flat


def redacted_config(s: Settings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for dotted, value in s.flat().items():
        section, key = dotted.split(".", 1)
        shown = settings_mod.redact(value) if settings_mod.is_secret(dotted) else value
        out.setdefault(section, {})[key] = {"value": shown, "source": s.sources.get(dotted, "default")}
    return out



