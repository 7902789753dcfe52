"""Settings: layers, environment parsing, validation messages, defaults/schema agreement."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grok2api.config import settings as settings_mod
from grok2api.config.schema import SECTIONS
from grok2api.config.settings import ConfigError

from .conftest import make_settings


def test_schema_and_defaults_file_agree() -> None:
    defaults = settings_mod.load_defaults()
    assert set(defaults) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        assert set(defaults[name]) == {f.name for f in dataclasses.fields(cls)}, name


def test_every_seed_readme_key_exists_with_seed_default(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    seed = {
        "app.app_url": "http://127.0.0.1:8000", "app.app_username": "admin", "app.api_key": "",
        "app.image_format": "url", "app.video_format": "html", "network.timeout": 120,
        "security.allow_anonymous_api": False,
        "security.max_body_size_mb": 50, "security.rate_limit_per_minute": 120,
        "security.rate_limit_burst": 60, "chat.temporary": True, "chat.filter_tags":
        ["xaiartifact", "xai:tool_usage_card", "grok:render"], "retry.max_retry": 3,
        "retry.retry_status_codes": [401, 429, 403], "retry.retry_budget": 90.0,
        "timeout.stream_idle_timeout": 120.0, "timeout.video_result_scan_assets": 800,
        "image.image_ws_final_min_bytes": 100000, "image.image_ws_max_per_request": 6,
        "token.fail_threshold": 5, "token.selection_strategy": "max_quota",
        "token.super_refresh_interval_hours": 2.0, "cache.image_limit_mb": 2048,
        "cache.cleanup_target_ratio": 0.8, "proxy.proxy_pool_interval": 300,
        "stats.hourly_retention": 48, "stats.log_max_entries": 1000,
        "performance.media_max_concurrent": 200, "performance.sse_keepalive_sec": 15.0,
        "network.grok_url": "https://grok.com", "network.assets_url": "https://assets.grok.com",
        "network.accounts_url": "https://accounts.x.ai", "network.livekit_url": "wss://livekit.grok.com",
        "chat.transport": "ws",
    }
    for dotted, value in seed.items():
        assert s.get(dotted) == value, dotted
        assert s.sources[dotted] == "default"
    # The seed's chrome136 is refused by grok.com's edge today: the key stays, its default is the newest
    # Chrome profile of the pinned curl_cffi, with that profile's User-Agent (protocol §0.2 C11).
    assert s.security.browser == "chrome152" and "Chrome/152.0.0.0" in s.security.user_agent


def test_layers_file_admin_env_in_order(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[chat]\ntransport = "rest"\n[app]\napi_key = "from-file"\n'
                                          '[stats]\nlog_max_entries = 5\n')
    options = settings_mod.server_options({"DATA_DIR": str(tmp_path)})
    s = settings_mod.load(options, environ={"GROK2API_APP_API_KEY": "from-env"},
                          overrides={"chat.transport": "ws", "stats.log_max_entries": 7})
    assert s.app.api_key == "from-env" and s.sources["app.api_key"] == "env"
    assert s.chat.transport == "ws" and s.sources["chat.transport"] == "admin"
    assert s.stats.log_max_entries == 7
    s2 = settings_mod.load(options, environ={})
    assert s2.chat.transport == "rest" and s2.sources["chat.transport"] == "file"
    assert s2.app.api_key == "from-file"


def test_env_values_are_toml_values(tmp_path: Path) -> None:
    s = make_settings(tmp_path, env={
        "GROK2API_SECURITY_CORS_ALLOW_ORIGINS": '["https://a.example", "https://b.example"]',
        "GROK2API_CHAT_THINKING": "false",
        "GROK2API_RETRY_RETRY_BACKOFF_BASE": "1",
        "GROK2API_NETWORK_GROK_URL": "http://127.0.0.1:9000",
    })
    assert s.security.cors_allow_origins == ["https://a.example", "https://b.example"]
    assert s.chat.thinking is False
    assert s.retry.retry_backoff_base == 1.0 and isinstance(s.retry.retry_backoff_base, float)
    assert s.network.grok_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(("env", "needle"), [
    ({"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "abc"}, "security.rate_limit_per_minute = 'abc': must be an integer"),
    ({"GROK2API_CHAT_TRANSPORT": "grpc"}, "chat.transport = 'grpc': must be one of 'ws', 'rest'"),
    ({"GROK2API_TOKEN_FAIL_THRESHOLD": "0"}, "token.fail_threshold = 0: must be between 1 and 1000"),
    ({"GROK2API_NETWORK_GROK_URL": "grok.com"}, "network.grok_url = 'grok.com': must be an absolute URL"),
    ({"GROK2API_CHAT_STREAM": "yes"}, "chat.stream = 'yes': must be true or false"),
    ({"GROK2API_APP_APP_PASSWORD": "CHANGE_ME_NOW"}, "app.app_password = ***: a well-known default password is refused"),
])
def test_bad_values_name_key_value_and_allowed(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_settings(tmp_path, env=env)
    assert needle in str(info.value)


def test_secret_value_never_in_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        make_settings(tmp_path, env={"GROK2API_APP_API_KEY": "12345"})
    assert "12345" not in str(info.value)
    assert "app.api_key" in str(info.value)


def test_unknown_file_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[chat]\ntransprot = 'ws'\n")
    with pytest.raises(ConfigError, match=r"chat.transprot: unknown key \(from file\)"):
        make_settings(tmp_path)


def test_file_syntax_error_names_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[chat\n")
    with pytest.raises(ConfigError, match="config.toml"):
        make_settings(tmp_path)


def test_server_options_from_seed_env_names(tmp_path: Path) -> None:
    o = settings_mod.server_options({"SERVER_PORT": "9001", "SERVER_STORAGE_TYPE": "local",
                                     "SERVER_WORKERS": "3", "DATA_DIR": str(tmp_path), "LOG_LEVEL": "debug"})
    assert (o.port, o.storage_type, o.workers, o.data_dir, o.log_level) == (9001, "sqlite", 3, tmp_path, "DEBUG")
    with pytest.raises(ConfigError, match="SERVER_STORAGE_TYPE = 'oracle'"):
        settings_mod.server_options({"SERVER_STORAGE_TYPE": "oracle"})
    with pytest.raises(ConfigError, match="SERVER_PORT = 'x'"):
        settings_mod.server_options({"SERVER_PORT": "x"})


def test_initial_config_is_written_once_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert settings_mod.write_initial_config(path) is True
    assert path.read_text().count("#") > 50  # the comments document every key
    assert settings_mod.write_initial_config(path) is False
    s = make_settings(tmp_path)
    assert all(src == "file" for src in s.sources.values())


def test_redact() -> None:
    assert settings_mod.redact("short") == "***"
    assert settings_mod.redact("sk-abcdefghijklmnop") == "sk-a***"
    assert settings_mod.redact("http://user:pw@proxy.example:8080") == "http://***@proxy.example"
    assert settings_mod.is_secret("app.api_key") and not settings_mod.is_secret("app.app_url")


@pytest.mark.parametrize(("key", "value", "why"), [
    ("proxy.proxy_url", "ftp://bad proxy", "must start with http://, https://, socks5://, socks5h://"),
    ("proxy.proxy_url", "http://proxy.example", "with a port and nothing after it"),
    ("proxy.proxy_url", "http://proxy.example:8080/path", "with a port and nothing after it"),
    ("network.base_proxy_url", "socks5://h:99999", "invalid port"),
    ("proxy.egress_urls", ["http://127.0.0.2:8080", "gopher://x:1"], "must start with http://"),
    ("security.cors_allow_origins", ["not a url"], "is not an origin"),
    ("security.cors_allow_origins", ["https://app.example.com/path"], "an origin is only scheme://host[:port]"),
    ("network.grok_url", "grok.com", "must be an absolute URL starting with http://, https://"),
    ("network.grok_url", "ws://grok.com", "must start with http://, https://"),
    ("app.app_url", "http://exa mple.com", "must not contain spaces"),
    ("chat.statsig_signer_url", "http://", "names no host"),
])
def test_urls_are_validated_by_kind(key: str, value: object, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_mod.validate_value(key, value)
    assert why in str(err.value)


@pytest.mark.parametrize(("key", "value"), [
    ("proxy.proxy_url", "socks5h://user:pw@127.0.0.1:1080"), ("proxy.proxy_url", "https://proxy.example:443/"),
    ("proxy.egress_urls", ["http://127.0.0.2:8080", "socks5://10.0.0.1:1080"]), ("proxy.proxy_url", ""),
    ("security.cors_allow_origins", ["*", "http://localhost:3000", "https://app.example.com"]),
    ("network.livekit_url", "wss://livekit.example"), ("voice.livekit_url", ""),
])
def test_good_urls_pass(key: str, value: object) -> None:
    assert settings_mod.validate_value(key, value) == value
