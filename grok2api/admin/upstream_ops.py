"""The upstream calls the admin's account actions need, taken from the application's Grok client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..pool.refresher import FetchLimits, limits_reader
from .view_models import AdminInputError, optional_service

TokenCall = Callable[[str], Awaitable[Any]]
Route = Callable[[str], Awaitable[str | None]]


async def _default_route(token: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class UpstreamActions:
    """The client's account calls, each sent through the account's own egress (`route` gives the
    proxy for a token; without a gateway, the client's default)."""

    client: Any
    route: Route = _default_route

    def _method(self, name: str, purpose: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name, None)
        if method is None:
            raise AdminInputError(f"{purpose} is not available: the Grok client has no `{name}` call in this build")
        route = self.route

        async def call(token: str, *args: Any, **kwargs: Any) -> Any:
            return await method(token, *args, proxy=await route(token), **kwargs)

        return call

    @property
    def fetch_limits(self) -> FetchLimits:
        own = getattr(self.client, "fetch_limits", None)
        return own if own is not None else limits_reader(self._method("rate_limits", "Refreshing quotas"))

    @property
    def accept_tos(self) -> TokenCall:
        return self._method("accept_tos", "Accepting the terms of service")

    @property
    def set_birth_date(self) -> TokenCall:
        return self._method("set_birth_date", "Setting a birth date")

    @property
    def enable_nsfw(self) -> TokenCall:
        return self._method("enable_nsfw", "Enabling NSFW")

    @property
    def livekit_token(self) -> Callable[..., Awaitable[Any]]:
        return self._method("livekit_token", "Voice")


def upstream_actions(request: web.Request) -> UpstreamActions:
    """The Grok client of the running gateway; a readable error when this build has none."""
    gateway = optional_service(request, "GATEWAY")
    client = getattr(gateway, "client", None) or optional_service(request, "GROK_CLIENT")
    if client is None:
        raise AdminInputError("The upstream Grok client is not running in this server, so account "
                              "actions that call grok.com are unavailable.")
    route = getattr(gateway, "egress_for_token", None)
    return UpstreamActions(client, route) if route is not None else UpstreamActions(client)
