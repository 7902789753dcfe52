"""`grok2api models check`: the catalog's chat modes and tiers against what grok.com's /rest/modes says (C10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..catalog import TIERS, Catalog
from ..upstream.modes import UpstreamMode


@dataclass(frozen=True, slots=True)
class Finding:
    """One catalog entry that disagrees with upstream."""

    model: str
    problem: str


def check(catalog: Catalog, upstream: list[UpstreamMode]) -> list[Finding]:
    """Chat models whose mode grok.com does not offer, or whose min_tier is below the tier it needs."""
    by_id = {m.id: m for m in upstream}
    findings = []
    for route in catalog.all():
        if route.kind != "chat" or not route.mode:
            continue
        mode = by_id.get(route.mode)
        if mode is None:
            findings.append(Finding(route.id, f"mode {route.mode!r} is not offered by grok.com "
                                              f"(it offers {', '.join(sorted(by_id)) or 'nothing'})"))
        elif TIERS.index(route.min_tier) < TIERS.index(mode.min_tier):
            findings.append(Finding(route.id, f"min_tier {route.min_tier!r} but grok.com needs {mode.min_tier!r} "
                                              f"for mode {route.mode!r} ({mode.upstream_tier})"))
    return findings


def report(findings: list[Finding], upstream: list[UpstreamMode]) -> str:
    """Plain text for the command line and the admin page."""
    offered = ", ".join(f"{m.id} ({m.min_tier})" for m in upstream)
    if not findings:
        return f"catalog agrees with grok.com's modes: {offered}"
    lines = [f"grok.com offers: {offered}"] + [f"{f.model}: {f.problem}" for f in findings]
    return "\n".join(lines)


class CheckClient(Protocol):
    async def modes(self, token: str, *, proxy: str | None = None) -> list[UpstreamMode]: ...


async def run(client: CheckClient, catalog: Catalog, token: str,
              proxy: str | None = None) -> tuple[list[Finding], list[UpstreamMode]]:
    """Ask grok.com with one account (through `proxy`, its egress), then compare."""
    upstream = await client.modes(token, proxy=proxy)
    return check(catalog, upstream), upstream
