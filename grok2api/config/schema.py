"""Typed sections of the configuration; defaults live in defaults.toml, not here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


WEB_SCHEMES = ("http", "https", "ws", "wss")
HTTP_SCHEMES = ("http", "https")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def opt(*, choices: tuple[Any, ...] = (), min: float | None = None, max: float | None = None,
        secret: bool = False, url: bool | tuple[str, ...] = False, proxy: bool = False,
        origins: bool = False, restart: bool = False) -> Any:
    """A field without a Python default (the TOML file supplies it) and its constraints: `url` an
    absolute URL (True: any of WEB_SCHEMES, or the schemes named), `proxy` a proxy URL with a port,
    `origins` a list of browser origins (scheme://host[:port]) or "*". Every value applies live in
    every worker except those marked `restart` (sized once when the server starts)."""
    schemes = WEB_SCHEMES if url is True else url or ()
    return field(metadata={"choices": choices, "min": min, "max": max, "secret": secret, "url": schemes,
                           "proxy": proxy, "origins": origins, "restart": restart})


@dataclass(frozen=True, slots=True)
class AppSection:
    app_url: str = opt(url=HTTP_SCHEMES)
    app_username: str = opt()
    app_password: str = opt(secret=True)
    api_key: str = opt(secret=True)
    image_format: str = opt(choices=("url", "base64"))
    video_format: str = opt(choices=("html", "url"))
    reasoning_format: str = opt(choices=("reasoning_content", "think_tags"))


@dataclass(frozen=True, slots=True)
class NetworkSection:
    timeout: int = opt(min=1, max=3600)
    base_proxy_url: str = opt(proxy=True, secret=True)
    asset_proxy_url: str = opt(proxy=True, secret=True)
    grok_url: str = opt(url=HTTP_SCHEMES)
    assets_url: str = opt(url=HTTP_SCHEMES)
    accounts_url: str = opt(url=HTTP_SCHEMES)
    livekit_url: str = opt(url=True)
    statsig_strategies: list[str] = opt(choices=("local", "signer", "manual", "fallback"))
    statsig_demote_sec: float = opt(min=0, max=86_400)
    legacy_media: bool = opt()
    basic_video_max_seconds: int = opt(min=1, max=30)


@dataclass(frozen=True, slots=True)
class SecuritySection:
    cf_clearance: str = opt(secret=True)
    browser: str = opt()
    user_agent: str = opt()
    allow_anonymous_api: bool = opt()
    allow_anonymous_admin: bool = opt()
    cors_allow_origins: list[str] = opt(origins=True)
    max_body_size_mb: int = opt(min=0, max=4096, restart=True)
    fetch_max_size_mb: int = opt(min=1, max=4096)
    attachments_max_total_mb: int = opt(min=1, max=4096)
    attachments_memory_mb: int = opt(min=1, max=65536)
    attachments_spool_mb: int = opt(min=0, max=4096)
    allow_private_fetch: bool = opt()
    rate_limit_enabled: bool = opt()
    rate_limit_per_minute: int = opt(min=1, max=1_000_000)
    rate_limit_burst: int = opt(min=1, max=1_000_000)
    rate_limit_exempt_paths: list[str] = opt()
    admin_rate_limit_per_minute: int = opt(min=0, max=1_000_000)
    trusted_proxy_ips: list[str] = opt()
    client_header_timeout_sec: float = opt(min=1, max=3600)
    client_body_timeout_sec: float = opt(min=1, max=3600)
    max_connections: int = opt(min=0, max=10_000_000)


@dataclass(frozen=True, slots=True)
class ChatSection:
    temporary: bool = opt()
    disable_memory: bool = opt()
    stream: bool = opt()
    thinking: bool = opt()
    dynamic_statsig: bool = opt()
    statsig_id: str = opt(secret=True)
    statsig_signer_url: str = opt(url=HTTP_SCHEMES)
    filter_tags: list[str] = opt()
    transport: str = opt(choices=("ws", "rest"))
    mgw_keep_socket: bool = opt()
    mgw_socket_idle_sec: float = opt(min=1, max=3600)
    responses_retention_hours: float = opt(min=0.0001, max=8760)


@dataclass(frozen=True, slots=True)
class RetrySection:
    max_retry: int = opt(min=0, max=20)
    retry_status_codes: list[int] = opt()
    retry_backoff_base: float = opt(min=0, max=60)
    retry_backoff_factor: float = opt(min=1, max=10)
    retry_backoff_max: float = opt(min=0, max=600)
    retry_budget: float = opt(min=0, max=3600)


@dataclass(frozen=True, slots=True)
class TimeoutSection:
    stream_idle_timeout: float = opt(min=1, max=3600)
    video_idle_timeout: float = opt(min=1, max=3600)
    video_result_wait_timeout: float = opt(min=1, max=3600)
    video_result_poll_interval: float = opt(min=0.5, max=60)
    video_result_scan_pages: int = opt(min=1, max=1000)
    video_result_scan_assets: int = opt(min=1, max=100_000)
    video_result_candidate_attempts: int = opt(min=1, max=100)


@dataclass(frozen=True, slots=True)
class ImageSection:
    image_ws: bool = opt()
    image_ws_nsfw: bool = opt()
    image_ws_blocked_seconds: int = opt(min=1, max=600)
    image_ws_final_min_bytes: int = opt(min=0)
    image_ws_medium_min_bytes: int = opt(min=0)
    image_ws_max_per_request: int = opt(min=1, max=6)
    quality_rest: bool = opt()


@dataclass(frozen=True, slots=True)
class TokenSection:
    auto_refresh: bool = opt()
    refresh_interval_hours: float = opt(min=0.01, max=720)
    super_refresh_interval_hours: float = opt(min=0.01, max=720)
    fail_threshold: int = opt(min=1, max=1000)
    save_delay_ms: int = opt(min=0, max=600_000)
    reload_interval_sec: int = opt(min=1, max=86_400)
    selection_strategy: str = opt(choices=("max_quota", "random", "weighted", "lru"))
    refresh_tick_sec: float = opt(min=1, max=3600)


@dataclass(frozen=True, slots=True)
class CacheSection:
    enable_auto_clean: bool = opt()
    image_limit_mb: int = opt(min=1)
    video_limit_mb: int = opt(min=1)
    cleanup_target_ratio: float = opt(min=0.05, max=1)
    cleanup_interval_sec: int = opt(min=1, max=86_400)
    cleanup_max_delete: int = opt(min=1)


@dataclass(frozen=True, slots=True)
class ProxySection:
    proxy_url: str = opt(proxy=True, secret=True)
    proxy_pool_url: str = opt(url=HTTP_SCHEMES, secret=True)
    proxy_pool_interval: int = opt(min=1, max=86_400)
    egress_urls: list[str] = opt(proxy=True, secret=True)
    clearance_solver_url: str = opt(url=HTTP_SCHEMES)
    clearance_solver_timeout_sec: int = opt(min=5, max=600)
    clearance_refresh_sec: int = opt(min=0, max=86_400)
    clearance_ttl_sec: int = opt(min=60, max=7 * 86_400)
    egress_fail_threshold: int = opt(min=1, max=100)
    egress_check_sec: int = opt(min=1, max=3600)


@dataclass(frozen=True, slots=True)
class StatsSection:
    enabled: bool = opt()
    hourly_retention: int = opt(min=1, max=24 * 366)
    daily_retention: int = opt(min=1, max=3660)
    log_max_entries: int = opt(min=0, max=10_000_000)
    flush_interval_sec: float = opt(min=0.1, max=3600)


@dataclass(frozen=True, slots=True)
class PerformanceSection:
    nsfw_max_concurrent: int = opt(min=1, max=10_000)
    nsfw_batch_size: int = opt(min=1, max=100_000)
    nsfw_max_tokens: int = opt(min=1)
    usage_max_concurrent: int = opt(min=1, max=10_000)
    usage_batch_size: int = opt(min=1, max=100_000)
    usage_max_tokens: int = opt(min=1)
    assets_max_concurrent: int = opt(min=1, max=10_000)
    assets_batch_size: int = opt(min=1, max=100_000)
    assets_max_tokens: int = opt(min=1)
    assets_delete_batch_size: int = opt(min=1, max=100_000)
    media_max_concurrent: int = opt(min=1, max=100_000, restart=True)
    sse_keepalive_sec: float = opt(min=1, max=600)


@dataclass(frozen=True, slots=True)
class CaptureSection:
    enabled: bool = opt()
    dir: str = opt()
    max_mb: int = opt(min=1, max=1_000_000)
    max_age_hours: float = opt(min=0.01, max=8760)
    max_body_kb: int = opt(min=1, max=1_048_576)


@dataclass(frozen=True, slots=True)
class VoiceSection:
    livekit_url: str = opt(url=True)


SECTIONS: dict[str, type] = {
    "app": AppSection,
    "network": NetworkSection,
    "security": SecuritySection,
    "chat": ChatSection,
    "retry": RetrySection,
    "timeout": TimeoutSection,
    "image": ImageSection,
    "token": TokenSection,
    "cache": CacheSection,
    "proxy": ProxySection,
    "stats": StatsSection,
    "performance": PerformanceSection,
    "voice": VoiceSection,
    "capture": CaptureSection,
}
