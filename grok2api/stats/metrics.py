"""GET /metrics in the Prometheus text format (prometheus_client).

Series:
- grok2api_http_requests_total{route,method,status}, grok2api_http_request_duration_seconds{route}
  (every HTTP request, measured by the edge middleware; route = the matched route template);
  grok2api_http_requests_in_flight (livesum over workers).
- grok2api_requests_total{model,status,kind}, grok2api_request_latency_seconds{model},
  grok2api_time_to_first_token_seconds{model} (every RequestRecord given to the Recorder: the calls
  the gateway made and every refused API request, bad JSON or an unknown model included, each once;
  `model` is a catalog model, "unknown" for any other name a request gave, "-" for none);
  grok2api_request_errors_total{model,status,kind} (those of them answered with an error);
  grok2api_upstream_errors_total{kind} (failures of calls that reached grok.com). No `_created` series.
- grok2api_statsig_total{strategy,path,outcome}: x-statsig-id values by strategy, signed path and what
  grok.com made of them (ok, refused = anti-bot C1, stale = stale page C3, unavailable = no value).
- grok2api_upstream_calls_total{step,outcome}: every upstream exchange by step (chat_mgw, chat_rest, imagine,
  media_rest, rate_limits, session, other) and outcome (ok or the error kind); and, from this worker's
  upstream health view at scrape time, grok2api_upstream_last_hour{step,outcome} (the figures of the
  stats page's upstream health panel) and grok2api_upstream_last_error_timestamp_seconds{step}.
- grok2api_gateway_overhead_seconds (time to response headers as the gateway saw it, Server-Timing).
- grok2api_egress_requests_total{egress,outcome} (every call to grok.com by egress: ok, egress = a connect
  error or a challenge a fresh clearance did not cure, upstream = grok.com answered with an error),
  grok2api_egress_challenges_total{egress}, grok2api_egress_solves_total{egress,outcome} (ok, failed);
  grok2api_egress_accounts{egress,state} (accounts bound, at scrape time).
- grok2api_accounts{pool,status} (from the pool view at scrape time; every worker's view is the
  same storage, so it is answered by the scraped worker).

Several workers: set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped before start) in the
environment of every worker *before* Python starts; each worker then writes its samples to
mmap files there and any worker's /metrics aggregates all of them (MultiProcessCollector).
Without it the numbers are this worker's only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as mp
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..keys import CATALOG, EGRESS, GROK_CLIENT, METRICS, POOL, RECORDER, UNMETERED, UPSTREAM_HEALTH
from .recorder import RequestRecord

routes = web.RouteTableDef()
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


# Failure kinds that are not Grok's (the client went away, a bug of ours).
_NOT_UPSTREAM = frozenset({"cancelled", "internal"})


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))


class Metrics:
    """The metric objects of one app (own registry, so several apps can live in one process)."""

    def __init__(self, known_model: Callable[[str], bool] = lambda model: True) -> None:
        # A refused request keeps the model it named in the request log; as a label only catalog
        # models are kept (any other name is "unknown"), so clients cannot mint series.
        self.known_model = known_model
        # No `_created` series: they double the output and Prometheus does not use them for counters
        # (prometheus_client's switch is process-wide; nothing else here wants them either).
        disable_created_metrics()
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter("grok2api_http_requests", "HTTP requests by route, method and status.",
                                     ["route", "method", "status"], registry=r)
        self.http_duration = Histogram("grok2api_http_request_duration_seconds",
                                       "HTTP request duration (whole response, streams included).",
                                       ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("grok2api_http_requests_in_flight", "HTTP requests being served.",
                               registry=r, multiprocess_mode="livesum")
        self.requests = Counter("grok2api_requests", "Recorded API requests by model, status and error kind.",
                                ["model", "status", "kind"], registry=r)
        self.errors = Counter("grok2api_request_errors",
                              "Recorded API requests answered with an error (a status of 400 or more, or an "
                              "error kind), by model, status and error kind.",
                              ["model", "status", "kind"], registry=r)
        self.latency = Histogram("grok2api_request_latency_seconds", "Recorded API request latency.",
                                 ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("grok2api_time_to_first_token_seconds", "Time to the first upstream event.",
                              ["model"], buckets=TTFT_BUCKETS, registry=r)
        self.upstream_errors = Counter("grok2api_upstream_errors", "Upstream failures by kind.", ["kind"],
                                       registry=r)
        self.statsig = Counter("grok2api_statsig", "x-statsig-id values by strategy, path and outcome.",
                               ["strategy", "path", "outcome"], registry=r)
        self.upstream_calls = Counter("grok2api_upstream_calls", "Upstream exchanges by step and outcome.",
                                      ["step", "outcome"], registry=r)
        self.egress_requests = Counter("grok2api_egress_requests", "Calls to grok.com by egress and outcome.",
                                       ["egress", "outcome"], registry=r)
        self.egress_challenges = Counter("grok2api_egress_challenges", "Cloudflare challenges by egress.",
                                         ["egress"], registry=r)
        self.egress_solves = Counter("grok2api_egress_solves", "Clearance solves by egress and outcome.",
                                     ["egress", "outcome"], registry=r)
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # Bounded as the series are: catalog models ("unknown", "-" otherwise), statuses, error kinds.
        self._record_counters: dict[tuple[str, int, str], tuple[Counter, Counter | None]] = {}
        self._latency: dict[str, Histogram] = {}
        self._ttft: dict[str, Histogram] = {}
        # Bounded too: strategies x routes x outcomes, and upstream steps x outcomes.
        self._statsig: dict[tuple[str, str, str], Counter] = {}
        self._upstream_calls: dict[tuple[str, str], Counter] = {}
        self._egress_requests: dict[tuple[str, str], Counter] = {}
        self.overhead = Histogram("grok2api_gateway_overhead_seconds",
                                  "Time from arrival to response headers (the Server-Timing value).",
                                  buckets=OVERHEAD_BUCKETS, registry=r)

    def on_record(self, rec: RequestRecord) -> None:
        model = "-" if not rec.model else rec.model if self.known_model(rec.model) else "unknown"
        kind = rec.error_kind or ""
        key = (model, rec.status, kind)
        counters = self._record_counters.get(key)
        if counters is None:  # as on_http: the children of one label set, looked up once
            status = str(rec.status)
            counters = self._record_counters[key] = (
                self.requests.labels(model, status, kind),
                self.errors.labels(model, status, kind) if rec.status >= 400 or kind else None)
        counters[0].inc()
        if counters[1] is not None:
            counters[1].inc()
        if rec.model:
            # A model's histograms appear with its first observation, as before: no empty series.
            latency = self._latency.get(model)
            if latency is None:
                latency = self._latency[model] = self.latency.labels(model)
            latency.observe(rec.latency_ms / 1000)
            if rec.ttft_ms > 0:
                ttft = self._ttft.get(model)
                if ttft is None:
                    ttft = self._ttft[model] = self.ttft.labels(model)
                ttft.observe(rec.ttft_ms / 1000)
            # Only calls that reached grok.com (an account was tried): a refusal names a model too.
            if kind and rec.account and kind not in _NOT_UPSTREAM and rec.status not in (401, 403, 413, 429):
                self.upstream_errors.labels(kind).inc()


    def on_http(self, request: web.Request, status: int, seconds: float) -> None:
        """One HTTP request answered (the edge middleware calls it for every metered request)."""
        route = _route(request)
        key = (route, request.method, status)
        children = self._http_children.get(key)
        if children is None:
            # labels() validates and locks on every call; the children never change, so look them up once.
            # Bounded: routes are templates ("unmatched" for any other path), methods and statuses few.
            children = self._http_children[key] = (self.http_requests.labels(route, request.method, str(status)),
                                                   self.http_duration.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def on_statsig(self, strategy: str, path: str, outcome: str) -> None:
        """One x-statsig-id outcome: a value passed or refused by grok.com, or a strategy without one."""
        key = (strategy, path, outcome)
        child = self._statsig.get(key)
        if child is None:
            child = self._statsig[key] = self.statsig.labels(strategy, path, outcome)
        child.inc()

    def on_upstream_call(self, step: str, outcome: str) -> None:
        key = (step, outcome)
        child = self._upstream_calls.get(key)
        if child is None:
            child = self._upstream_calls[key] = self.upstream_calls.labels(step, outcome)
        child.inc()

    def on_egress(self, event: str, egress: str, outcome: str) -> None:
        if event == "request":  # one a call: its child looked up once (egresses are configured, so few)
            key = (egress, outcome)
            child = self._egress_requests.get(key)
            if child is None:
                child = self._egress_requests[key] = self.egress_requests.labels(egress, outcome)
            child.inc()
        elif event == "challenge":
            self.egress_challenges.labels(egress).inc()
        elif event == "solve":
            self.egress_solves.labels(egress, outcome).inc()


class PoolCollector(Collector):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("grok2api_accounts", "Accounts by pool and status.", labels=["pool", "status"])
        pool = self.app.get(POOL)
        if pool is not None:
            for pool_name, per in sorted(pool.summary().items()):
                for status, n in sorted(per.items()):
                    family.add_metric([pool_name, status], n)
        yield family
        if pool is not None:
            yield GaugeMetricFamily("grok2api_reservations_in_flight",
                                    "Quota reservations taken and not yet settled or released.", value=pool.reserved)
        egresses = self.app.get(EGRESS)
        if egresses is not None:
            bound = GaugeMetricFamily("grok2api_egress_accounts", "Accounts bound per egress, with its state.",
                                      labels=["egress", "state"])
            for view in egresses.snapshot():
                bound.add_metric([view.name, view.state], view.accounts)
            yield bound




class HealthCollector(Collector):
    """The upstream health panel's last-hour figures, read from this worker's view at scrape time."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        hour = GaugeMetricFamily("grok2api_upstream_last_hour", "Upstream exchanges in the last hour by step and "
                                 "outcome (this worker).", labels=["step", "outcome"])
        last = GaugeMetricFamily("grok2api_upstream_last_error_timestamp_seconds",
                                 "When an upstream step last failed (unix seconds; this worker).", labels=["step"])
        health = self.app.get(UPSTREAM_HEALTH)
        for step in health.snapshot() if health is not None else []:
            hour.add_metric([step.step, "ok"], step.ok)
            for kind, n in step.failures.items():
                hour.add_metric([step.step, kind], n)
            if step.last_error_at:
                last.add_metric([step.step], step.last_error_at)
        yield hour
        yield last


def _route(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or getattr(info, "http_exception", None) is not None:
        return "unmatched"  # 404/405: no label per unknown path (cardinality)
    return resource.canonical


def unmetered(request: web.Request) -> bool:
    return any(UNMETERED in app for app in request.match_info.apps)


@routes.get("/metrics", name="metrics")
async def metrics_handler(request: web.Request) -> web.Response:
    app = request.app
    if multiprocess():
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
    else:
        registry = app[METRICS].registry
    body = generate_latest(registry)
    body += generate_latest(_pool_registry(app))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _pool_registry(app: web.Application) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PoolCollector(app))
    registry.register(HealthCollector(app))
    return registry


def mark_dead_worker(pid: int) -> None:
    """Call from the process supervisor when a worker exits (multiprocess mode only)."""
    if multiprocess():
        mp.mark_process_dead(pid)


def provide(app: web.Application) -> None:
    """Put the metric objects under METRICS, listening to the Recorder under RECORDER when there is one."""
    catalog = app.get(CATALOG)
    app[METRICS] = m = Metrics((lambda model: model in catalog) if catalog is not None else (lambda model: True))
    if RECORDER in app:
        app[RECORDER].listeners.append(m.on_record)
    if GROK_CLIENT in app:
        app[GROK_CLIENT].statsig.listeners.append(m.on_statsig)
    if UPSTREAM_HEALTH in app:
        app[UPSTREAM_HEALTH].listeners.append(m.on_upstream_call)
    if EGRESS in app:
        app[EGRESS].listeners.append(m.on_egress)
