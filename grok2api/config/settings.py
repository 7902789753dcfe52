"""Settings: packaged defaults -> DATA_DIR/config.toml -> admin overrides -> environment, validated once."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from . import paths
from .urls import origin_problem, url_problem
from .schema import (
    PROXY_SCHEMES,
    SECTIONS,
    AppSection,
    CacheSection,
    CaptureSection,
    ChatSection,
    ImageSection,
    NetworkSection,
    PerformanceSection,
    ProxySection,
    RetrySection,
    SecuritySection,
    StatsSection,
    TimeoutSection,
    TokenSection,
    VoiceSection,
)

ENV_PREFIX = "GROK2API_"
STORAGE_TYPES = ("sqlite", "local", "redis", "mysql", "pgsql")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Where a value came from, lowest precedence first; the admin shows it and locks "env" fields.
SOURCES = ("default", "file", "admin", "env")
REFUSED_PASSWORDS = frozenset({"CHANGE_ME_NOW", "grok2api", "admin", "password"})


class ConfigError(ValueError):
    """One or more configuration values are invalid; the message names every key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Process-level options from the seed's environment names and the command line."""

    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = 1
    storage_type: str = "sqlite"
    storage_url: str = ""
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    config_file: Path | None = None  # default: data_dir / "config.toml"
    demo: bool = False
    drain_timeout: float = 30.0  # seconds in-flight requests may run after SIGTERM

    @property
    def config_path(self) -> Path:
        return self.config_file or self.data_dir / "config.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    """The effective configuration. Immutable: a change builds a new object."""

    app: AppSection
    network: NetworkSection
    security: SecuritySection
    chat: ChatSection
    retry: RetrySection
    timeout: TimeoutSection
    image: ImageSection
    token: TokenSection
    cache: CacheSection
    proxy: ProxySection
    stats: StatsSection
    performance: PerformanceSection
    voice: VoiceSection
    capture: CaptureSection
    server: ServerOptions = field(default_factory=ServerOptions)
    # "section.key" -> one of SOURCES
    sources: Mapping[str, str] = field(default_factory=dict)
    # The environment this was built from: an admin change rebuilds over the same one, so a
    # process (or a test) never silently picks up a different environment later.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def get(self, dotted: str) -> Any:
        section, key = dotted.split(".", 1)
        return getattr(getattr(self, section), key)

    def flat(self) -> dict[str, Any]:
        """Every key as {"section.key": value}."""
        return {
            f"{name}.{f.name}": getattr(getattr(self, name), f.name)
            for name, cls in SECTIONS.items()
            for f in dataclasses.fields(cls)
        }


def applies_after_restart(dotted: str) -> bool:
    """The value is sized once when the server starts; every other one applies live in every worker."""
    section, key = dotted.split(".", 1)
    cls = SECTIONS.get(section)
    return cls is not None and any(f.name == key and f.metadata.get("restart") for f in dataclasses.fields(cls))


def is_secret(dotted: str) -> bool:
    section, key = dotted.split(".", 1)
    cls = SECTIONS.get(section)
    if cls is None:
        return False
    return any(f.name == key and f.metadata.get("secret") for f in dataclasses.fields(cls))


def redact(value: Any) -> Any:
    """Mask a secret value for display: short values fully, long ones keep 4 characters; each item of a list."""
    if isinstance(value, list):
        return [redact(v) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if "://" in value:  # a proxy URL: keep the scheme and host, hide credentials
        parts = urlsplit(value)
        host = parts.hostname or ""
        return f"{parts.scheme}://***@{host}" if parts.username or parts.password else f"{parts.scheme}://{host}"
    return "***" if len(value) < 12 else value[:4] + "***"


def load_defaults() -> dict[str, dict[str, Any]]:
    with paths.defaults_config().open("rb") as fh:
        return tomllib.load(fh)


def parse_env_value(raw: str) -> Any:
    """Environment values are TOML values (`true`, `3`, `["a","b"]`); anything else is a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_overrides(environ: Mapping[str, str], known: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """GROK2API_<SECTION>_<KEY> for every known key; unknown names are reported by `check_env`."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if section in known and key in known[section]:
            out[f"{section}.{key}"] = parse_env_value(raw)
    return out


def unknown_env(environ: Mapping[str, str], known: Mapping[str, Mapping[str, Any]]) -> list[str]:
    names = []
    for name in environ:
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_PREFIX + "TEST_"):
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        if section not in known or key not in known[section]:
            names.append(name)
    return names


def _type_ok(value: Any, annotation: Any) -> tuple[bool, Any]:
    """Check (and lightly coerce) a value against a field annotation."""
    origin = get_origin(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        if isinstance(value, str):  # the seed accepted comma-separated strings for lists
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            return False, value
        items = []
        for v in value:
            ok, v2 = _type_ok(v, item)
            if not ok:
                return False, value
            items.append(v2)
        return True, items
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if annotation is str:
        return isinstance(value, str), value
    return False, value


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is list:
        return f"a list of {get_args(annotation)[0].__name__}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[annotation]


def validate_value(dotted: str, value: Any) -> Any:
    """Return the typed value or raise ConfigError naming the key, the value and what is allowed."""
    section, key = dotted.split(".", 1)
    cls = SECTIONS.get(section)
    if cls is None:
        raise ConfigError([f"{dotted}: unknown section {section!r}"])
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise ConfigError([f"{dotted}: unknown key"])
    f = fields[key]
    annotation = get_type_hints(cls)[key]
    ok, typed = _type_ok(value, annotation)
    shown = "***" if f.metadata.get("secret") else repr(value)
    if not ok:
        raise ConfigError([f"{dotted} = {shown}: must be {_type_name(annotation)}"])
    meta = f.metadata
    if meta.get("choices") and isinstance(typed, list):
        wrong = [v for v in typed if v not in meta["choices"]]
        if wrong or len(set(typed)) != len(typed) or not typed:
            allowed = ", ".join(repr(c) for c in meta["choices"])
            raise ConfigError([f"{dotted} = {shown}: must list distinct values of {allowed}"])
    elif meta.get("choices") and typed not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError([f"{dotted} = {shown}: must be one of {allowed}"])
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and typed < lo or hi is not None and typed > hi:
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError([f"{dotted} = {shown}: must be {bounds}"])
    problem = ""
    items = typed if isinstance(typed, list) else [typed]
    if meta.get("proxy"):
        problem = next((p for p in (url_problem(v, PROXY_SCHEMES, proxy=True) for v in items if v) if p), "")
    elif meta.get("url"):
        problem = next((p for p in (url_problem(v, meta["url"]) for v in items if v) if p), "")
    elif meta.get("origins"):
        problem = next((p for p in map(origin_problem, items) if p), "")
    if problem:
        raise ConfigError([f"{dotted} = {shown}: {problem}"])
    return typed


def build(
    defaults: Mapping[str, Mapping[str, Any]],
    layers: list[tuple[str, Mapping[str, Any]]],
    server: ServerOptions,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flat {"section.key": value} layers over the defaults, validate all, return Settings."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for section, keys in defaults.items():
        for key, value in keys.items():
            values[f"{section}.{key}"] = value
            sources[f"{section}.{key}"] = "default"
    problems: list[str] = []
    for source, layer in layers:
        for dotted, value in layer.items():
            if dotted not in values:
                problems.append(f"{dotted}: unknown key (from {source})")
                continue
            values[dotted] = value
            sources[dotted] = source
    typed: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for dotted, value in values.items():
        try:
            typed_value = validate_value(dotted, value)
        except ConfigError as exc:
            problems.extend(p + f" (from {sources[dotted]})" for p in exc.problems)
            continue
        section, key = dotted.split(".", 1)
        typed[section][key] = typed_value
    password = typed["app"].get("app_password", "")
    if password in REFUSED_PASSWORDS:
        problems.append(
            "app.app_password = ***: a well-known default password is refused; "
            "leave it empty to have a strong one generated, or set your own"
        )
    if problems:
        raise ConfigError(problems)
    sections = {name: cls(**typed[name]) for name, cls in SECTIONS.items()}
    return Settings(**sections, server=server, sources=sources, environ=dict(environ or {}))


def read_file_layer(path: Path) -> dict[str, Any]:
    """Flatten DATA_DIR/config.toml; a syntax error names the file and line."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {exc}"]) from exc
    flat: dict[str, Any] = {}
    for section, keys in data.items():
        if not isinstance(keys, dict):
            flat[section] = keys  # reported as an unknown key by build()
            continue
        for key, value in keys.items():
            flat[f"{section}.{key}"] = value
    return flat


def server_options(environ: Mapping[str, str], **cli: Any) -> ServerOptions:
    """The seed's environment names, overridden by command-line values that are not None."""
    problems: list[str] = []

    def env_float(name: str, default: float) -> float:
        raw = environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            return float(raw)
        except ValueError:
            problems.append(f"{name} = {raw!r}: must be a number")
            return default

    def env_int(name: str, default: int) -> int:
        raw = environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            problems.append(f"{name} = {raw!r}: must be an integer")
            return default

    opts: dict[str, Any] = {
        "host": environ.get("SERVER_HOST", "0.0.0.0"),
        "port": env_int("SERVER_PORT", 8000),
        "workers": env_int("SERVER_WORKERS", 1),
        "storage_type": (environ.get("SERVER_STORAGE_TYPE") or "sqlite").lower(),
        "storage_url": environ.get("SERVER_STORAGE_URL", ""),
        "data_dir": Path(environ.get("DATA_DIR") or "data"),
        "log_level": (environ.get("LOG_LEVEL") or "INFO").upper(),
        "drain_timeout": env_float("SERVER_DRAIN_TIMEOUT", 30.0),
    }
    for key, value in cli.items():
        if value is not None:
            opts[key] = Path(value) if key in ("data_dir", "config_file") else value
    if opts["storage_type"] not in STORAGE_TYPES:
        problems.append(
            f"SERVER_STORAGE_TYPE = {opts['storage_type']!r}: must be one of {', '.join(STORAGE_TYPES)}"
        )
    if opts["storage_type"] == "local":
        opts["storage_type"] = "sqlite"
    if opts["log_level"] not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL = {opts['log_level']!r}: must be one of {', '.join(LOG_LEVELS)}")
    if not 0 < opts["port"] < 65536:
        problems.append(f"SERVER_PORT = {opts['port']}: must be between 1 and 65535")
    if not 1 <= opts["workers"] <= 256:
        problems.append(f"SERVER_WORKERS = {opts['workers']}: must be between 1 and 256")
    if not 0 <= opts["drain_timeout"] <= 3600:
        problems.append(f"SERVER_DRAIN_TIMEOUT = {opts['drain_timeout']}: must be between 0 and 3600")
    if problems:
        raise ConfigError(problems)
    return ServerOptions(**opts)


def load(
    server: ServerOptions,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load every layer and validate. `overrides` are the admin-saved values from storage."""
    environ = os.environ if environ is None else environ
    defaults = load_defaults()
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("file", read_file_layer(server.config_path)),
        ("admin", dict(overrides or {})),
        ("env", env_overrides(environ, defaults)),
    ]
    env_only = {k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    return build(defaults, layers, server, env_only)


def with_overrides(current: Settings, overrides: Mapping[str, Any]) -> Settings:
    """Rebuild after the admin saved values: the file is read again, over the same environment."""
    return load(current.server, current.environ, overrides)


def write_initial_config(path: Path) -> bool:
    """On first start, copy the commented defaults to DATA_DIR/config.toml. True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = paths.defaults_config().read_text(encoding="utf-8")
    header = (
        "# Written by grok2api on first start from the packaged defaults.\n"
        "# Edit values here; the admin page can override them, environment variables win over both.\n\n"
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + text, encoding="utf-8")
    os.replace(tmp, path)
    return True


__all__ = [
    "AppSection", "CacheSection", "ChatSection", "ConfigError", "ImageSection", "NetworkSection",
    "PerformanceSection", "ProxySection", "RetrySection", "SecuritySection", "ServerOptions",
    "Settings", "StatsSection", "TimeoutSection", "TokenSection", "VoiceSection", "build", "load",
    "redact", "is_secret", "server_options", "validate_value", "write_initial_config",
]
