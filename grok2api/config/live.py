"""Live settings shared by a worker, and the watcher that applies admin changes from storage."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..storage.base import TOPIC_CONFIG, Storage
from . import settings as settings_mod
from .settings import ConfigError, Settings

log = logging.getLogger(__name__)

Listener = Callable[[str], Awaitable[None]]
# Told the new Settings after they replaced different ones (services rebuilt from settings listen).
SettingsListener = Callable[[Settings], Awaitable[None]]


class LiveSettings:
    """Holds the current Settings; replaced whole when the admin saves values in any worker."""

    def __init__(self, current: Settings) -> None:
        self.current = current
        self.version = 0
        self.listeners: list[SettingsListener] = []

    async def apply_overrides(self, storage: Storage) -> None:
        """Re-read admin overrides from storage and rebuild; a bad stored value keeps the old settings.
        When the result differs, every listener hears it before this returns."""
        overrides = await storage.get_config_overrides()
        try:
            fresh = settings_mod.with_overrides(self.current, overrides)
        except ConfigError as exc:
            log.error("ignoring saved configuration: %s", exc)
            return
        changed = fresh != self.current
        self.current = fresh
        self.version += 1
        if changed:
            for listener in list(self.listeners):
                try:
                    await listener(fresh)
                except Exception:  # one service failing to follow must not stop the others
                    log.exception("a service could not apply the new settings")


class ChangeWatcher:
    """Polls storage's change counters and tells listeners which topic moved.

    Polling a single small read per second is cheaper and simpler than pub/sub that would
    need a different mechanism on each of the four engines.
    """

    def __init__(self, storage: Storage, interval: float = 1.0) -> None:
        self.storage = storage
        self.interval = interval
        self.listeners: list[Listener] = []
        self._seen: dict[str, int] = {}

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    async def prime(self) -> None:
        self._seen = await self.storage.counters()

    async def poll_once(self) -> list[str]:
        current = await self.storage.counters()
        moved = [topic for topic, value in current.items() if self._seen.get(topic) != value]
        self._seen = current
        for topic in moved:
            for listener in self.listeners:
                try:
                    await listener(topic)
                except Exception:  # one bad listener must not stop the others
                    log.exception("change listener failed for topic %s", topic)
        return moved


async def save_overrides(storage: Storage, live: LiveSettings, values: dict[str, Any]) -> None:
    """Store admin-saved values (validated by the caller) and apply them in this worker at once; storing
    bumps the config counter, so every other worker's watcher applies them within a second."""
    await storage.set_config_overrides(values)
    await live.apply_overrides(storage)


async def settings_listener(live: LiveSettings, storage: Storage) -> Listener:
    async def on_change(topic: str) -> None:
        if topic == TOPIC_CONFIG:
            await live.apply_overrides(storage)

    return on_change
