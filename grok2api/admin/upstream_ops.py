"""The upstream calls the admin's account actions need, taken from the application's Grok client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..pool.refresher import FetchLimits, limits_reader
from .view_models import AdminInputError, optional_service

TokenCall = Callable[[str], Awaitable[Any]]
@dataclass(frozen=True, slots=True)
class UpstreamActions:
    client: Any

    def _method(self, name: str, purpose: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name, None)
        if method is None:
            raise AdminInputError(f"{purpose} is not available: the Grok client has no `{name}` call in this build")
        return method

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
    return UpstreamActions(client)
