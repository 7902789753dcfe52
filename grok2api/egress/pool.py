"""The egress pool: which egress each account leaves through, egress health and drain, and the hooks
the upstream transport calls (the clearance to present, a fresh one after a challenge, each outcome).

Bindings: an account is bound to one egress on first use (the least loaded that takes accounts) and
keeps it; the binding is stored with the account (through the `bind` callback), so every worker and
every restart uses the same egress for it. An egress whose failures reach `fail_threshold` in a row
(connect errors, challenges a fresh clearance did not cure) is down: its accounts move to the others,
and the move is logged. A down egress is probed every `check_interval`; once it answers it takes new
accounts again (those that moved stay where they are). A drained egress takes none and gives its
accounts away; the drain is stored, so every worker follows it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from ..storage.base import Storage, StorageError
from ..upstream.errors import ErrorKind
from ..upstream.identity import Clearance
from .assign import least_loaded, spread
from .clearance import DOC_NAMESPACE, ClearanceKeeper
from .model import DIRECT, POOL, Egress, EgressView, egress_name
from .options import EgressConfig
from .proxies import Fetcher, ProxyManager, mask_proxy

log = logging.getLogger(__name__)

# Failures that are the egress's (the path to grok.com), not the account's nor grok.com's.
EGRESS_FAULTS = frozenset({ErrorKind.NETWORK, ErrorKind.CLOUDFLARE})
_DRAIN_DOC = "drained"

Bind = Callable[[list[tuple[str, str]]], Awaitable[None]]  # persist (account id, egress name) pairs
Probe = Callable[[str], Awaitable[object]]  # a call through one proxy; raises when it does not get through
Listener = Callable[[str, str, str], None]  # (event, egress name, outcome)


class EgressError(Exception):
    """An egress operation that cannot be done (unknown egress, nowhere to move accounts)."""


class EgressPool:
    """Every egress of this worker and the accounts bound to them."""

    def __init__(self, config: EgressConfig, *, storage: Storage, owner: str, bind: Bind, probe: Probe,
                 fetch: Fetcher, fallback_browser: str, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.storage = storage
        self._bind = bind
        self._probe = probe
        self.clock = clock
        self.listeners: list[Listener] = []
        self.proxies = ProxyManager("", config.pool_url, config.pool_interval, fetch, clock=clock)
        self.keeper = ClearanceKeeper(config, storage, owner, fallback_browser, self._emit, clock)
        self._egresses: dict[str, Egress] = {}  # by name, in configured order
        self._by_proxy: dict[str, Egress] = {}
        self._bound: dict[str, str] = {}  # account id -> egress name
        self._pending: dict[str, str] = {}  # bindings decided here and not yet stored
        self._counts: collections.Counter[str] = collections.Counter()
        self._tasks: set[asyncio.Future[object]] = set()
        self.configure(config)

    # -- configuration ---------------------------------------------------------------
    def configure(self, config: EgressConfig) -> None:
        """(Re)build the egress list; egresses that stay keep their state and clearance."""
        self.config = config
        self.keeper.config = config
        self.proxies.pool_url, self.proxies.interval = config.pool_url, config.pool_interval
        wanted: list[Egress] = [Egress(egress_name(url), "static", url, url) for url in config.urls]
        if config.pool_url:
            wanted.append(Egress(POOL, "pool", config.pool_url, ""))
        if not wanted:
            wanted.append(Egress(DIRECT, "direct", "", ""))
        old = self._egresses
        self._egresses = {}
        for egress in wanted:
            kept = old.get(egress.name)
            keep = kept is not None and kept.url == egress.url
            self._egresses[egress.name] = kept if keep and kept is not None else egress
        self._by_proxy = {e.proxy: e for e in self._egresses.values() if e.kind != "pool" or e.proxy}
        gone = [name for name in old if name not in self._egresses]
        if gone:
            log.info("egresses no longer configured: %s (their accounts move on their next call)", ", ".join(gone))

    def egresses(self) -> list[Egress]:
        return list(self._egresses.values())

    def find(self, name_or_id: str) -> Egress:
        for egress in self._egresses.values():
            if name_or_id in (egress.name, egress.id):
                return egress
        raise EgressError(f"no egress named {name_or_id!r}")

    # -- bindings ----------------------------------------------------------------------
    def sync_bindings(self, pairs: Iterable[tuple[str, str]]) -> None:
        """The bindings storage holds (account id, egress name), from the account view; bindings this
        worker decided and is still storing win over the view's older ones."""
        self._bound = {account: name for account, name in pairs if name}
        self._bound.update(self._pending)
        self._counts = collections.Counter(self._bound.values())

    def _set(self, account: str, name: str) -> None:
        old = self._bound.get(account)
        if old:
            self._counts[old] -= 1
        self._bound[account] = name
        self._counts[name] += 1

    def _takers(self, exclude: str = "") -> list[str]:
        return [e.name for e in self._egresses.values() if e.takes_accounts and e.name != exclude]

    async def route(self, account_id: str, bound: str) -> str | None:
        """The proxy an account's calls leave through (None: the client's default, i.e. direct).
        An account without a usable egress is bound to the least loaded one first, and that is stored."""
        if DIRECT in self._egresses:
            return None
        if account_id not in self._bound and bound:
            self._set(account_id, bound)  # bound by another worker since our last view sync
        name = self._bound.get(account_id, "")
        egress = self._egresses.get(name)
        if egress is None or not egress.takes_accounts:
            target = least_loaded(self._counts, self._takers())
            if target is not None:
                self._set(account_id, target)  # before any await: concurrent calls see it at once
                if name:
                    log.info("account %s: egress %s (moved from %s: %s)", account_id, target, name,
                             "no longer configured" if egress is None else egress.state)
                else:
                    log.debug("account %s: egress %s (first call)", account_id, target)
                await self._persist([(account_id, target)])
                egress = self._egresses[target]
            elif egress is None:  # nothing takes accounts: try the first egress rather than none
                egress = next(iter(self._egresses.values()))
        return await self._proxy_of(egress)

    async def _proxy_of(self, egress: Egress) -> str | None:
        if egress.kind == "pool":
            if egress.rotate:
                egress.rotate = False
                await self.proxies.on_cloudflare(egress.proxy)
            current = await self.proxies.current()
            if current != egress.proxy:
                self._by_proxy.pop(egress.proxy, None)
                egress.proxy, egress.clearance, egress.fails = current, None, 0
                if current:
                    self._by_proxy[current] = egress
        return egress.proxy

    async def _persist(self, pairs: list[tuple[str, str]]) -> None:
        self._pending.update(pairs)
        try:
            await self._bind(pairs)
        except StorageError as exc:  # kept in memory; the next view sync binds again
            log.warning("egress bindings of %d accounts not stored: %s", len(pairs), exc)
        finally:
            for account, name in pairs:
                if self._pending.get(account) == name:
                    del self._pending[account]

    async def evacuate(self, egress: Egress, reason: str) -> int:
        """Move every account of an egress to the others (balanced); how many moved."""
        accounts = sorted(a for a, name in self._bound.items() if name == egress.name)
        if not accounts:
            return 0
        plan = spread(accounts, self._counts, self._takers(exclude=egress.name))
        if not plan:
            log.warning("egress %s is %s but no other egress takes accounts: its %d accounts stay",
                        egress.name, reason, len(accounts))
            return 0
        for account, target in plan.items():
            self._set(account, target)
        per = collections.Counter(plan.values())
        log.warning("egress %s is %s: moved %d accounts to %s", egress.name, reason, len(plan),
                    ", ".join(f"{name} ({n})" for name, n in per.items()))
        await self._persist(sorted(plan.items()))
        return len(plan)

    # -- the transport's hooks -----------------------------------------------------------
    def clearance(self, egress: str) -> Clearance | None:
        found = self._by_proxy.get(egress)
        clr = found.clearance if found is not None else None
        return clr if clr is not None and clr.valid(self.clock()) else None

    async def challenged(self, egress: str, seen: Clearance | None) -> Clearance | None:
        found = self._by_proxy.get(egress)
        if found is None:
            return None
        found.challenges += 1
        found.last_challenge_at = self.clock()
        self._emit("challenge", found, "")
        return await self.keeper.renew(found, seen)

    def observed(self, egress: str, kind: ErrorKind | None) -> None:
        found = self._by_proxy.get(egress)
        if found is None:
            return
        now = self.clock()
        found.requests += 1
        if kind not in EGRESS_FAULTS:  # the call got through to grok.com (whatever grok.com said)
            self._emit("request", found, "ok" if kind is None else "upstream")
            found.fails = 0
            if kind is None:
                found.last_success_at = now
            if found.down:
                found.down = False
                log.info("egress %s answers again: it takes new accounts", found.name)
            return
        self._emit("request", found, "egress")
        found.failures += 1
        found.fails += 1
        found.last_failure_at = now
        found.last_error = f"{kind.value} ({found.fails} in a row)" if kind else ""
        if found.fails < self.config.fail_threshold or found.down or found.kind == "direct":
            return
        if found.kind == "pool":
            found.fails, found.rotate = 0, True  # the next route asks the pool for another proxy
            log.warning("egress %s: %s failed %d times in a row: taking another proxy from the pool",
                        found.name, mask_proxy(found.proxy), self.config.fail_threshold)
            return
        found.down, found.down_since = True, now
        log.warning("egress %s is down after %d failures in a row (last: %s)", found.name, found.fails,
                    kind.value if kind else "")
        self._spawn(self.evacuate(found, "down"))

    # -- operations ------------------------------------------------------------------------
    async def drain(self, name_or_id: str, on: bool = True) -> int:
        """Drain an egress (no new accounts, its accounts move to the others) or end a drain; the
        decision is stored so every worker follows. Returns how many accounts moved."""
        egress = self.find(name_or_id)
        if on and egress.kind == "direct":
            raise EgressError("the direct egress cannot be drained: configure proxies first")
        if on and not self._takers(exclude=egress.name):
            raise EgressError(f"no other egress takes accounts, so {egress.name} cannot be drained")
        egress.draining = on
        await self._store_drains()
        log.info("egress %s %s by the operator", egress.name, "drained" if on else "back in service")
        return await self.evacuate(egress, "drained") if on else 0

    async def _store_drains(self) -> None:
        names = sorted(e.name for e in self._egresses.values() if e.draining)
        await self.storage.doc_put(DOC_NAMESPACE, _DRAIN_DOC, {"names": names})

    async def load_drains(self) -> None:
        """Follow the drains other workers (or an earlier run) decided."""
        try:
            doc = await self.storage.doc_get(DOC_NAMESPACE, _DRAIN_DOC)
        except StorageError as exc:
            log.warning("egress drains unreadable: %s", exc)
            return
        names = set(doc.get("names", [])) if doc else set()
        for egress in self._egresses.values():
            egress.draining = egress.name in names and egress.kind != "direct"

    async def check(self) -> None:
        """One round of upkeep: follow stored drains, probe down egresses, renew clearances near expiry."""
        await self.load_drains()
        now = self.clock()
        for egress in self.egresses():
            if egress.down:
                try:
                    await self._probe(egress.proxy)  # its outcome reaches observed() through the transport
                except Exception as exc:
                    log.info("egress %s still down: %s", egress.name, str(exc)[:200])
            clr = egress.clearance
            if self.config.solver_url and self.config.refresh_before > 0 and clr is not None and \
                    clr.expires_at and clr.expires_at - now <= self.config.refresh_before and not egress.down:
                log.info("egress %s: clearance expires in %d s, renewing", egress.name, int(clr.expires_at - now))
                await self.keeper.renew(egress, clr)
            elif clr is None:
                await self.keeper.adopt_shared(egress)

    def snapshot(self) -> list[EgressView]:
        return [EgressView.of(e, self._counts.get(e.name, 0)) for e in self._egresses.values()]

    def bound_to(self, account_id: str) -> str:
        return self._bound.get(account_id, "")

    @staticmethod
    def blames(kind: ErrorKind) -> bool:
        """A failure of the egress (not of the account): the account may go on, on its new egress."""
        return kind in EGRESS_FAULTS

    # -- plumbing --------------------------------------------------------------------------
    def _emit(self, event: str, egress: Egress, outcome: str) -> None:
        for listener in self.listeners:
            try:
                listener(event, egress.name, outcome)
            except Exception:  # metrics must never break a call
                log.exception("egress listener failed")

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def moved(self) -> None:
        """Wait until the moves started by failures (background tasks) are done."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self.keeper.close()

