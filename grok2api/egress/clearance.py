"""Clearance renewal per egress: one solve in flight per egress, shared by every worker through storage.

A worker that needs a fresh clearance first looks at what the others earned (a storage document per
egress proxy); only when there is nothing newer does it take the egress's storage lock and ask the
solver, while the others wait for the document to change. In one worker, the egress's asyncio lock
makes concurrent callers wait for the solve in flight and take its result.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from ..storage.base import Storage, StorageError
from ..upstream.identity import Clearance
from .model import Egress
from .options import EgressConfig
from .proxies import mask_proxy
from .solver import SolverError, solve

log = logging.getLogger(__name__)

DOC_NAMESPACE = "egress"
_PEER_POLL_SEC = 0.25  # how often a worker waiting for another's solve looks for its result

Emit = Callable[[str, Egress, str], None]


def doc_key(egress: Egress) -> str:
    # Keyed by the proxy itself (a pool's rotates) through a digest: the URL may hold credentials.
    return "clearance:" + hashlib.sha256(egress.proxy.encode()).hexdigest()[:24]


def encode(c: Clearance) -> dict[str, Any]:
    return {"cookies": dict(c.cookies), "user_agent": c.user_agent, "browser": c.browser,
            "obtained_at": c.obtained_at, "expires_at": c.expires_at}


def decode(doc: dict[str, Any] | None) -> Clearance | None:
    """A stored clearance, or None for a missing or malformed document."""
    if not doc:
        return None
    try:
        cookies = doc["cookies"]
        if not isinstance(cookies, dict):
            return None
        return Clearance(cookies={str(k): str(v) for k, v in cookies.items()}, user_agent=str(doc["user_agent"]),
                         browser=str(doc["browser"]), obtained_at=float(doc["obtained_at"]),
                         expires_at=float(doc["expires_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def newer(candidate: Clearance | None, seen: Clearance | None, now: float) -> bool:
    """A clearance worth retrying with: valid, and earned after the one that was refused."""
    return candidate is not None and candidate.valid(now) and (seen is None or candidate.obtained_at > seen.obtained_at)


class ClearanceKeeper:
    """Renews egresses' clearances through the solver, once per egress however many callers ask."""

    def __init__(self, config: EgressConfig, storage: Storage, owner: str, fallback_browser: str, emit: Emit,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.storage = storage
        self.owner = owner
        self.fallback_browser = fallback_browser
        self.emit = emit
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def renew(self, egress: Egress, seen: Clearance | None) -> Clearance | None:
        """A clearance newer than `seen` for this egress: the one another caller or worker earned
        meanwhile, else a new solve. None without a solver or when the solve fails."""
        async with egress.solving:
            if newer(egress.clearance, seen, self.clock()):
                return egress.clearance
            shared = await self._shared(egress)
            if shared is not None and newer(shared, seen, self.clock()):
                egress.clearance = shared
                return shared
            if not self.config.solver_url:
                return None
            return await self._solve_once(egress, seen)

    async def adopt_shared(self, egress: Egress) -> None:
        """Take a clearance another worker earned for this egress, when it is newer than ours."""
        shared = await self._shared(egress)
        if newer(shared, egress.clearance, self.clock()):
            egress.clearance = shared

    async def _shared(self, egress: Egress) -> Clearance | None:
        try:
            return decode(await self.storage.doc_get(DOC_NAMESPACE, doc_key(egress)))
        except StorageError as exc:  # storage down: this worker solves on its own
            log.warning("egress %s: shared clearance unreadable: %s", egress.name, exc)
            return None

    async def _solve_once(self, egress: Egress, seen: Clearance | None) -> Clearance | None:
        lock = "egress-solve:" + doc_key(egress).split(":", 1)[1]
        deadline = self.clock() + self.config.solver_timeout + 15
        while True:
            try:
                held = await self.storage.acquire_lock(lock, self.owner, self.config.solver_timeout + 30)
            except StorageError as exc:
                log.warning("egress %s: solve lock unavailable (%s); solving without it", egress.name, exc)
                return await self._solve(egress)
            if held:
                try:
                    shared = await self._shared(egress)  # a peer may have finished just before we got the lock
                    if shared is not None and newer(shared, seen, self.clock()):
                        egress.clearance = shared
                        return shared
                    return await self._solve(egress)
                finally:
                    try:
                        await self.storage.release_lock(lock, self.owner)
                    except StorageError:
                        pass  # it expires on its own
            # Another worker is solving for this egress: wait for what it earns.
            await asyncio.sleep(_PEER_POLL_SEC)
            shared = await self._shared(egress)
            if shared is not None and newer(shared, seen, self.clock()):
                egress.clearance = shared
                return shared
            if self.clock() > deadline:
                log.warning("egress %s: no clearance from the worker solving for it", egress.name)
                return None

    async def _solve(self, egress: Egress) -> Clearance | None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        started = self.clock()
        try:
            clearance = await solve(self._session, self.config.solver_url, self.config.target_url, egress.proxy,
                                    timeout=self.config.solver_timeout, fallback_browser=self.fallback_browser,
                                    default_ttl=self.config.default_ttl)
        except SolverError as exc:
            egress.solve_failures += 1
            egress.solve_error = str(exc)[:300]
            self.emit("solve", egress, "failed")
            log.warning("egress %s: no clearance: %s", egress.name, exc)
            return None
        egress.solves += 1
        egress.solve_error = ""
        egress.clearance = clearance
        self.emit("solve", egress, "ok")
        log.info("egress %s: clearance earned in %.1f s (%s, valid %d s, cookies %s)", egress.name,
                 self.clock() - started, clearance.browser, int(clearance.expires_at - clearance.obtained_at),
                 ", ".join(sorted(clearance.cookies)) or "none")
        if not clearance.cookies.get("cf_clearance"):
            log.info("egress %s: the solver met no challenge (no cf_clearance); using its User-Agent",
                     mask_proxy(egress.proxy) or egress.name)
        try:
            ttl = max(1.0, clearance.expires_at - self.clock())
            await self.storage.doc_put(DOC_NAMESPACE, doc_key(egress), encode(clearance), ttl)
        except StorageError as exc:
            log.warning("egress %s: clearance not shared with other workers: %s", egress.name, exc)
        return clearance
