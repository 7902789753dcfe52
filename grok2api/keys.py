"""Every web.AppKey and web.RequestKey of the main application (no module globals anywhere else)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .admin.auth import Session
    from .admin.state import AdminState
    from .catalog import Catalog
    from .config.live import ChangeWatcher, LiveSettings
    from .edge.api_auth import KeyAuthenticator
    from .edge.key_limits import KeyLimits
    from .edge.rate_limit import Limiter
    from .egress.pool import EgressPool
    from .egress.proxies import SeedProxy
    from .gateway.core import Gateway
    from .gateway.drain import Drain
    from .gateway.jobs import CallContext
    from .gateway.video_jobs import VideoJobs
    from .media.budget import ByteBudget
    from .media.cache import MediaCache
    from .pool.pool import Pool
    from .pool.refresher import Refresher
    from .stats.metrics import Metrics
    from .stats.recorder import Recorder
    from .stats.upstream_health import UpstreamHealth
    from .storage.base import ApiKeyRecord, Storage
    from .upstream.capture import Capture
    from .upstream.client import GrokClient

# -- configuration and storage
LIVE_SETTINGS: web.AppKey[LiveSettings] = web.AppKey("live_settings")
STORAGE: web.AppKey[Storage] = web.AppKey("storage")
WATCHER: web.AppKey[ChangeWatcher] = web.AppKey("change_watcher")
WORKER_ID: web.AppKey[str] = web.AppKey("worker_id", str)
STARTED_AT: web.AppKey[float] = web.AppKey("started_at", float)

# -- the running gateway
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog")
# On a sub-app whose requests are not client traffic (the demo's simulated grok.com): not in HTTP metrics.
UNMETERED: web.AppKey[bool] = web.AppKey("unmetered", bool)
POOL: web.AppKey[Pool] = web.AppKey("pool")
# The background quota refresher (one worker at a time works, under a storage lock).
REFRESHER: web.AppKey[Refresher] = web.AppKey("refresher")
GROK_CLIENT: web.AppKey[GrokClient] = web.AppKey("grok_client")
PROXIES: web.AppKey[SeedProxy] = web.AppKey("proxies")
EGRESS: web.AppKey[EgressPool] = web.AppKey("egress_pool")
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
MEDIA: web.AppKey[MediaCache] = web.AppKey("media")
# Attachment bytes this worker lets fetches hold at once (security.attachments_memory_mb).
FETCH_BUDGET: web.AppKey[ByteBudget] = web.AppKey("fetch_budget")
# Bounds concurrent image and video generations (performance.media_max_concurrent).
MEDIA_SLOTS: web.AppKey[asyncio.Semaphore] = web.AppKey("media_slots", asyncio.Semaphore)
VIDEO_JOBS: web.AppKey[VideoJobs] = web.AppKey("video_jobs")
DRAIN: web.AppKey[Drain] = web.AppKey("drain")
# Taps on the upstream client: health per upstream step, and transcripts when `capture.enabled`.
UPSTREAM_HEALTH: web.AppKey[UpstreamHealth] = web.AppKey("upstream_health")
CAPTURE: web.AppKey[Capture] = web.AppKey("capture")

# -- the request edge, stats and metrics
API_KEYS: web.AppKey[KeyAuthenticator] = web.AppKey("api_keys")
KEY_LIMITS: web.AppKey[KeyLimits] = web.AppKey("key_limits")
LIMITER: web.AppKey[Limiter] = web.AppKey("limiter")
RECORDER: web.AppKey[Recorder] = web.AppKey("recorder")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")

# -- the admin sub-apps (pages and JSON API), registered on the main app, and their shared state
ADMIN_STATE: web.AppKey[AdminState] = web.AppKey("admin_state")
PAGES_APP: web.AppKey[web.Application] = web.AppKey("admin_pages_app", web.Application)
API_APP: web.AppKey[web.Application] = web.AppKey("admin_api_app", web.Application)

# -- per-request values
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
# perf_counter at arrival, set by the hygiene edge middleware; read for latency.
STARTED_AT_REQ: web.RequestKey[float] = web.RequestKey("started_perf", float)
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip", str)
# The caller's API key record, or None when anonymous.
API_KEY: web.RequestKey[ApiKeyRecord | None] = web.RequestKey("api_key")
# The gateway call a request made, if it got that far (its `recorded` tells the edge not to record again).
CALL_CONTEXT: web.RequestKey[CallContext] = web.RequestKey("call_context")
# Set once a body has been read (edge/body.py), which keeps no copy of its bytes: the `model` a JSON
# object named ("" for none), for the log line of a refusal.
BODY_MODEL: web.RequestKey[str] = web.RequestKey("body_model", str)
SESSION: web.RequestKey[Session | None] = web.RequestKey("admin_session")
CSRF_TOKEN: web.RequestKey[str] = web.RequestKey("admin_csrf", str)
# An extra origin an admin page may connect to (the voice page's LiveKit server), added to the CSP.
CSP_CONNECT: web.RequestKey[str] = web.RequestKey("admin_csp_connect", str)
