"""Egress settings as one frozen value: the proxies, the clearance solver and the health rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import egress_name
from .proxies import mask_proxy, normalize_proxy

if TYPE_CHECKING:
    from ..config.settings import Settings


@dataclass(frozen=True, slots=True)
class EgressConfig:
    """What the egress pool needs to know; built from settings, compared to notice a change."""

    urls: tuple[str, ...] = ()  # static egresses, normalised, in configured order (secret: may hold credentials)
    pool_url: str = ""  # the seed's proxy-pool API: one more egress whose proxy rotates
    pool_interval: float = 300.0
    solver_url: str = ""  # FlareSolverr-compatible API; "" = no solver
    solver_timeout: float = 60.0
    target_url: str = "https://grok.com/"  # the page the solver opens (the clearance is for its host)
    refresh_before: float = 300.0  # renew a clearance this long before it expires (0 = never ahead)
    default_ttl: float = 1800.0  # a clearance cookie without an expiry is trusted this long
    fail_threshold: int = 2  # consecutive egress failures before its accounts move
    check_interval: float = 30.0

    @classmethod
    def from_settings(cls, s: Settings) -> EgressConfig:
        """`proxy.egress_urls`, then the seed's static proxy (`proxy.proxy_url`, else
        `network.base_proxy_url`) when it is not already listed; raises ValueError naming a bad URL."""
        p = s.proxy
        urls: list[str] = []
        for raw in [*p.egress_urls, p.proxy_url or s.network.base_proxy_url]:
            if not raw:
                continue
            try:
                url = normalize_proxy(raw)
            except ValueError as exc:
                raise ValueError(f"proxy.egress_urls: {mask_proxy(raw) if '://' in raw else '***'}: {exc}") from None
            if url not in urls:
                urls.append(url)
        return cls(urls=tuple(urls), pool_url=p.proxy_pool_url, pool_interval=float(p.proxy_pool_interval),
                   solver_url=p.clearance_solver_url, solver_timeout=float(p.clearance_solver_timeout_sec),
                   target_url=s.network.grok_url.rstrip("/") + "/", refresh_before=float(p.clearance_refresh_sec),
                   default_ttl=float(p.clearance_ttl_sec), fail_threshold=p.egress_fail_threshold,
                   check_interval=float(p.egress_check_sec))

    def static_proxy(self, name: str) -> str:
        """For a one-off call outside the gateway (the CLI): the static proxy of the egress an account is
        bound to, else the first static one; "" when there is none (the pool's proxy is not known here)."""
        for url in self.urls:
            if egress_name(url) == name:
                return url
        return self.urls[0] if self.urls else ""
