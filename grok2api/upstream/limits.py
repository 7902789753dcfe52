"""Quota readings: `/rest/rate-limits` per chat mode (§9.1) and Imagine `quota_info` (§9.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import ErrorKind, UpstreamError
from .headers import rest_headers
from .transport import Call, Transport

RATE_LIMITS_PATH = "/rest/rate-limits"
QUOTA_INFO_PATH = "/rest/media/imagine/quota_info"
LEGACY_MODEL = "grok-4-1-thinking-1129"  # PY-A always asked about this model (§9.1)
QUOTA_PRODUCTS = ("image", "imagePro", "imageEdit", "video", "video720p")


@dataclass(frozen=True, slots=True)
class RateLimits:
    """One window as the upstream reports it; None = the field was absent."""

    remaining: int | None
    total: int | None
    window_seconds: int
    wait_seconds: float = 0.0  # only when exhausted: seconds until the window resets
    unit: str = "queries"  # "queries" (per mode) or "tokens" (the G1 cost-weighted budget)


@dataclass(frozen=True, slots=True)
class ProductQuota:
    """One Imagine product of quota_info."""

    available: bool
    remaining: int | None = None
    window_seconds: int | None = None
    next_available_at: float | None = None  # unix seconds, when exhausted


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def rate_limits_body(mode: str) -> dict[str, str]:
    """Per-mode body (G2+); "" or "default" asks the G1 way (requestKind DEFAULT + the legacy model)."""
    if not mode or mode.lower() == "default":
        return {"requestKind": "DEFAULT", "modelName": LEGACY_MODEL}
    return {"modelName": mode}


def parse_rate_limits(data: Any) -> RateLimits:
    """Both body styles: a G1 token budget (remainingTokens/totalTokens) wins when it is non-zero."""
    if not isinstance(data, dict):
        raise UpstreamError(ErrorKind.UPSTREAM, "unexpected rate-limits answer")
    window = _int(data.get("windowSizeSeconds")) or 0
    wait = float(_int(data.get("waitTimeSeconds")) or 0)
    tokens_total, tokens_left = _int(data.get("totalTokens")), _int(data.get("remainingTokens"))
    if tokens_total or (tokens_left and not _int(data.get("totalQueries"))):
        return RateLimits(tokens_left, tokens_total, window, wait, "tokens")
    return RateLimits(_int(data.get("remainingQueries")), _int(data.get("totalQueries")), window, wait)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_quota_info(data: Any) -> dict[str, ProductQuota | None]:
    """The five products; None where the upstream said null (§9.2)."""
    if not isinstance(data, dict):
        raise UpstreamError(ErrorKind.UPSTREAM, "unexpected quota_info answer")
    out: dict[str, ProductQuota | None] = {}
    for name in QUOTA_PRODUCTS:
        item = data.get(name)
        if not isinstance(item, dict):
            out[name] = None
            continue
        out[name] = ProductQuota(bool(item.get("available")), _int(item.get("remainingQueries")),
                                 _int(item.get("windowSizeSeconds")), _timestamp(item.get("nextAvailableAt")))
    return out


async def rate_limits(transport: Transport, token: str, mode: str = "fast", *, proxy: str | None = None) -> RateLimits:
    config = transport.config
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    result = await transport.request("POST", config.grok_url + RATE_LIMITS_PATH,
                                     Call(token, proxy, statsig_path=RATE_LIMITS_PATH), headers,
                                     json_body=rate_limits_body(mode))
    return parse_rate_limits(result.json())


async def quota_info(transport: Transport, token: str, *, proxy: str | None = None) -> dict[str, ProductQuota | None]:
    config = transport.config
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/imagine")
    result = await transport.request("POST", config.grok_url + QUOTA_INFO_PATH,
                                     Call(token, proxy, statsig_path=QUOTA_INFO_PATH), headers, json_body={})
    return parse_quota_info(result.json())
