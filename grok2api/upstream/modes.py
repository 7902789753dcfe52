"""`POST /rest/modes` (§0.2 C10): the modes grok.com offers and the subscription tier each needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ErrorKind, UpstreamError
from .headers import rest_headers
from .transport import Call, Transport

MODES_PATH = "/rest/modes"


@dataclass(frozen=True, slots=True)
class UpstreamMode:
    """One mode of the picker; `min_tier` is ours: basic, super or heavy."""

    id: str
    title: str
    min_tier: str
    upstream_tier: str  # the raw `minimumSubscriptionTier`, "" when the mode needs no upgrade


def tier_of(subscription_tier: str) -> str:
    """grok.com's subscription tier name -> our pool tier (HEAVY -> heavy, any paid plan -> super)."""
    name = subscription_tier.upper()
    if not name or name.endswith(("_FREE", "_UNSPECIFIED", "_BASIC")):
        return "basic"
    return "heavy" if "HEAVY" in name else "super"


def parse_modes(data: Any) -> list[UpstreamMode]:
    """`{"modes": [{"id"|"modeId", "title", "requiresUpgrade": {"minimumSubscriptionTier"} | null}]}`."""
    items = data.get("modes") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UpstreamError(ErrorKind.UPSTREAM, "unexpected /rest/modes answer")
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        mode_id = str(item.get("id") or item.get("modeId") or "")
        if not mode_id:
            continue
        upgrade = item.get("requiresUpgrade")
        raw = str(upgrade.get("minimumSubscriptionTier") or "") if isinstance(upgrade, dict) else ""
        out.append(UpstreamMode(mode_id, str(item.get("title") or mode_id), tier_of(raw), raw))
    return out


async def fetch_modes(transport: Transport, token: str, *, locale: str = "en",
                      proxy: str | None = None) -> list[UpstreamMode]:
    config = transport.config
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    result = await transport.request("POST", config.grok_url + MODES_PATH,
                                     Call(token, proxy, statsig_path=MODES_PATH), headers, json_body={"locale": locale})
    return parse_modes(result.json())
