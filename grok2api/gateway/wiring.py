"""The running gateway's services (egress pool, upstream client, pool, gateway, stats) and their lifetimes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from ..config.settings import ConfigError, Settings
from ..egress.options import EgressConfig
from ..egress.pool import EgressPool
from ..egress.proxies import SeedProxy
from ..keys import (
    API_KEYS,
    CAPTURE,
    CATALOG,
    DRAIN,
    EGRESS,
    GATEWAY,
    GROK_CLIENT,
    LIVE_SETTINGS,
    MEDIA,
    POOL,
    PROXIES,
    RECORDER,
    REFRESHER,
    STORAGE,
    UPSTREAM_HEALTH,
    WATCHER,
    WORKER_ID,
)
from ..periodic import periodic
from ..pool.ops import mask_token
from ..pool.options import PoolConfig
from ..pool.pool import Pool
from ..pool.refresher import Refresher, limits_reader
from ..stats.journal import Journal, orphans
from ..stats.recorder import Recorder, RequestRecord
from ..stats.upstream_health import UpstreamHealth
from ..storage.base import TOPIC_ACCOUNTS, TOPIC_KEYS, StorageError
from ..upstream.capture import Capture
from ..upstream.client import GrokClient
from ..upstream.exchange import STEP_LABELS
from ..upstream.options import UpstreamConfig
from .core import Gateway, Outcome
from .jobs import CallContext
from .observe import HealthTap, capture_options

log = logging.getLogger(__name__)

PRUNE_EVERY_SEC = 60.0

# HTTP status a client saw for each failure kind (the gateway raises the matching ApiError).
_STATUS_FOR_KIND = {"": 200, "no_account": 503, "rate_limited": 503, "timeout": 504, "moderated": 400,
                    "bad_request": 400, "cancelled": 499, "server_shutdown": 503, "internal": 500,
                    "anti_bot": 503, "stale_page": 503, "transient": 503, "model_unavailable": 503}


def statsig_strategies(s: Settings) -> tuple[str, ...]:
    """`network.statsig_strategies` with the seed's keys mapped onto it: a signer URL set while the
    order is the default goes first (the seed's "takes precedence"); `chat.dynamic_statsig = false`
    keeps only the fixed values (signer, manual), or `fallback` when nothing else is left."""
    order = list(s.network.statsig_strategies)
    if s.chat.statsig_signer_url and "signer" in order and s.sources.get("network.statsig_strategies") == "default":
        order.remove("signer")
        order.insert(0, "signer")
    if not s.chat.dynamic_statsig:
        fixed = [name for name in order if name in ("signer", "manual")]
        order = fixed or ["fallback"]
    return tuple(order)


def upstream_config(s: Settings) -> UpstreamConfig:
    return UpstreamConfig(
        grok_url=s.network.grok_url, assets_url=s.network.assets_url, accounts_url=s.network.accounts_url,
        livekit_url=s.voice.livekit_url or s.network.livekit_url, browser=s.security.browser,
        user_agent=s.security.user_agent, cf_clearance=s.security.cf_clearance, timeout=float(s.network.timeout),
        idle_timeout=s.timeout.stream_idle_timeout, chat_transport=s.chat.transport,
        mgw_keep_socket=s.chat.mgw_keep_socket, mgw_socket_idle_sec=float(s.chat.mgw_socket_idle_sec),
        temporary=s.chat.temporary, disable_memory=s.chat.disable_memory, statsig_strategies=statsig_strategies(s),
        statsig_value=s.chat.statsig_id, statsig_signer_url=s.chat.statsig_signer_url,
        statsig_demote_seconds=float(s.network.statsig_demote_sec), legacy_media=s.network.legacy_media,
        quality_images_rest=s.image.quality_rest,
        image_ws_nsfw=s.image.image_ws_nsfw, image_ws_blocked_seconds=float(s.image.image_ws_blocked_seconds),
        image_ws_final_min_bytes=s.image.image_ws_final_min_bytes,
        image_ws_medium_min_bytes=s.image.image_ws_medium_min_bytes,
        proxy_url=s.proxy.proxy_url or s.network.base_proxy_url, asset_proxy_url=s.network.asset_proxy_url,
    )


async def _fetch_text(url: str) -> str:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
        resp.raise_for_status()
        return await resp.text()


def _masked(text: str, token: str) -> str:
    """Upstream error text for the log: the account's token never appears in full."""
    return text.replace(token, mask_token(token)) if token and token in text else text


def _record_hook(app: web.Application) -> Any:
    def record(ctx: CallContext, model: str, outcome: Outcome, started: float) -> None:
        pool = app[POOL]
        account = pool.get(outcome.account_id) if outcome.account_id else None
        now = time.monotonic()
        app[RECORDER].record(RequestRecord(
            ts=time.time(), request_id=ctx.request_id, key_name=ctx.key_name, model=model, stream=ctx.stream,
            status=_STATUS_FOR_KIND.get(outcome.error_kind, 502), error_kind=outcome.error_kind,
            latency_ms=(now - started) * 1000,
            ttft_ms=(outcome.first_event_at - started) * 1000 if outcome.first_event_at else 0.0,
            account=mask_token(account.token) if account else "", client_ip=ctx.client_ip, path=ctx.path,
            detail=_masked(outcome.error_detail, account.token if account else "")[:500]))

    return record


def egress_config(s: Settings) -> EgressConfig:
    """The egress settings; a malformed proxy URL is a configuration error naming the key."""
    try:
        return EgressConfig.from_settings(s)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None


def provide(app: web.Application) -> None:
    """Put the egress pool, proxies, pool, recorder, upstream client (with its health and capture taps) and
    gateway under their AppKeys (no I/O), so tests and the admin find them before start. Needs
    LIVE_SETTINGS, STORAGE, WORKER_ID, CATALOG and MEDIA."""
    live = app[LIVE_SETTINGS]
    s = live.current
    app[POOL] = pool = Pool(app[STORAGE], PoolConfig.from_settings(s))
    app[RECORDER] = Recorder(app[STORAGE], lambda: live.current.stats.enabled,
                             lambda: live.current.stats.flush_interval_sec)

    async def probe(proxy: str) -> object:  # the client is looked up at call time: the demo may swap it
        return await app[GROK_CLIENT].reachable(proxy)

    app[EGRESS] = egresses = EgressPool(egress_config(s), storage=app[STORAGE], owner=app[WORKER_ID],
                                        bind=pool.bind_egress, probe=probe, fetch=_fetch_text,
                                        fallback_browser=s.security.browser)
    # The seed's /api/v1/admin/proxy status: the pool egress's rotation, else the static proxy.
    app[PROXIES] = proxies = SeedProxy(egresses.proxies, _fetch_text)
    proxies.configure(s.proxy.proxy_url or s.network.base_proxy_url, bool(s.proxy.proxy_pool_url))
    # Built here, not in the cleanup context: the app freezes at start, and tests may swap them first.
    # GrokClient opens its sessions in start(); the demo re-points it at the fake before that.
    app[GROK_CLIENT] = client = GrokClient(upstream_config(s), egress_hooks=egresses)
    app[UPSTREAM_HEALTH] = health = UpstreamHealth(STEP_LABELS)
    app[CAPTURE] = capture = Capture(capture_options(lambda: live.current))
    client.transport.taps += [HealthTap(health), capture]
    app[GATEWAY] = Gateway(catalog=app[CATALOG], pool=pool, client=client, media=app[MEDIA],
                           settings=lambda: live.current, record=_record_hook(app), egresses=egresses,
                           shutting_down=lambda: app[DRAIN].active)

    async def no_reader(token: str, bucket: str) -> None:  # replaced by services_ctx once the client runs
        return None

    app[REFRESHER] = Refresher(app[STORAGE], pool.config, no_reader, owner=app[WORKER_ID])


def apply_upstream(app: web.Application, s: Settings) -> list[str]:
    """Make the running services follow `s`: the one place that turns settings into the upstream client
    (hosts, identity, timeouts, dialects, x-statsig-id chain, Imagine), the egresses and proxies, the
    account pool's policy and the quota refresher. At start it brings in the values saved from the admin
    (storage opens after the objects are built), then it runs in every worker whenever the settings
    change. Returns what could not be applied (the previous value stays for those)."""
    problems: list[str] = []
    app[GROK_CLIENT].reconfigure(upstream_config(s))
    try:
        app[EGRESS].configure(egress_config(s))
    except ConfigError as exc:
        problems.append(str(exc))
    app[EGRESS].keeper.fallback_browser = s.security.browser
    try:
        app[PROXIES].configure(s.proxy.proxy_url or s.network.base_proxy_url, bool(s.proxy.proxy_pool_url))
    except ValueError as exc:
        problems.append(f"proxy.proxy_url: {exc}")
    pool_config = PoolConfig.from_settings(s)
    app[POOL].config = pool_config
    refresher = app.get(REFRESHER)
    if refresher is not None:
        refresher.reconfigure(pool_config)
    for problem in problems:
        log.error("settings not applied: %s", problem)
    return problems


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the upstream sessions and load the pool; flush stats, prune and refresh quotas meanwhile."""
    live = app[LIVE_SETTINGS]
    pool, recorder = app[POOL], app[RECORDER]
    client, egresses, gateway = app[GROK_CLIENT], app[EGRESS], app[GATEWAY]
    apply_upstream(app, live.current)  # the admin-saved values, applied by storage_ctx a moment ago

    async def follow(s: Settings) -> None:
        apply_upstream(app, s)

    live.listeners.append(follow)
    if live.current.stats.enabled:
        # Durable first: records wait for the batched write in a journal; dead workers' are recorded anew.
        journal_dir = live.current.server.data_dir / "journal"
        recovered = orphans(journal_dir)
        recorder.journal = Journal(journal_dir, app[WORKER_ID])
        for entry in recovered:
            recorder.record(entry, replayed=True)
    await client.start()
    await pool.load()
    egresses.sync_bindings((a.id, a.egress) for a in pool.accounts())
    await egresses.load_drains()

    async def on_change(topic: str) -> None:
        if topic == TOPIC_ACCOUNTS:
            await pool.sync()
            egresses.sync_bindings((a.id, a.egress) for a in pool.accounts())
        elif topic == TOPIC_KEYS:
            app[API_KEYS].invalidate()

    async def rate_limits(token: str, mode: str = "fast") -> Any:  # through the account's own egress
        return await client.rate_limits(token, mode, proxy=await gateway.egress_for_token(token))

    app[WATCHER].subscribe(on_change)
    refresher = app[REFRESHER]
    refresher.fetch_limits = limits_reader(rate_limits)
    try:
        async with contextlib.AsyncExitStack() as loops:
            await loops.enter_async_context(periodic("stats-flush", recorder.flush, recorder.interval))
            await loops.enter_async_context(periodic("stats-prune", lambda: prune_once(app), PRUNE_EVERY_SEC))
            # Probe down egresses, renew clearances near expiry, follow drains other workers stored.
            await loops.enter_async_context(periodic("egress-check", egresses.check,
                                                     lambda: egresses.config.check_interval))
            # Always looping: `token.auto_refresh` and the tick are read each round, so both follow the admin.
            loops.push_async_callback(refresher.release)  # runs after the loop below has stopped
            await loops.enter_async_context(periodic("refresher", refresher.run_if_enabled,
                                                     lambda: refresher.config.refresh_tick_sec, at_start=True))
            yield
    finally:
        live.listeners.remove(follow)
        try:
            await pool.close()
        except StorageError as exc:
            log.error("account usage could not be written at shutdown: %s", exc)
        await recorder.close()
        await egresses.close()
        await client.close()
        await app[CAPTURE].close()  # the transcripts of the last calls reach the disk


async def prune_once(app: web.Application) -> None:
    """Retention of stats, the request log, documents and limit windows; only the worker holding the lock does it."""
    storage = app[STORAGE]
    s = app[LIVE_SETTINGS].current.stats
    if await storage.acquire_lock("stats-prune", app[WORKER_ID], 2 * PRUNE_EVERY_SEC):
        await app[RECORDER].prune(s.hourly_retention, s.daily_retention, s.log_max_entries)
        await storage.doc_prune()
        await storage.prune_limits()
