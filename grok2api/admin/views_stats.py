"""Stats dashboard (inline SVG), pool health, proxy status, request log — pages and JSON API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..gateway import model_check
from ..storage.base import LogEntry, LogQuery
from ..upstream.errors import UpstreamError
from ..upstream.statsig_chain import summary
from . import charts, render
from .pool_summary import pool_health
from .upstream_ops import upstream_actions
from .view_models import AdminInputError, fmt_ago, fmt_time, optional_service, settings_of, storage_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

LOG_PAGE_SIZE = 50


def proxy_status(request: web.Request) -> dict[str, Any] | None:
    manager = optional_service(request, "PROXIES") or optional_service(request, "PROXY")
    if manager is None:
        return None
    status = manager.status()
    data = dataclasses.asdict(status)
    data["fetched"] = fmt_time(status.fetched_at) if status.fetched_at else "—"
    return data


@routes.get("/", name="admin.home")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/admin/tokens")


@routes.get("/stats", name="admin.stats")
async def stats_page(request: web.Request) -> web.StreamResponse:
    s = settings_of(request)
    report = await charts.build_report(storage_of(request), hours=48, days=30)
    health = await pool_health(request)
    ctx = {
        "enabled": s.stats.enabled,
        "report": report,
        "hourly_chart": charts.bar_chart(report.hourly, "%d %Hh", "Requests per hour, last 48 hours (UTC)"),
        "daily_chart": charts.bar_chart(report.daily, "%m-%d", "Requests per day, last 30 days (UTC)"),
        "ttft_chart": charts.line_chart([(b.start, b.ttft_ms) for b in report.hourly], "%d %Hh",
                                        "Average time to first token per hour (ms)", " ms"),
        "model_chart": charts.share_bars([(r.name, r.total) for r in report.by_model], "Requests by model"),
        "key_chart": charts.share_bars([(r.name, r.total) for r in report.by_key], "Requests by key"),
        "error_chart": charts.share_bars([(r.name, r.total) for r in report.by_error], "Failures by error kind"),
        "status_chart": charts.share_bars(list(health.by_status.items()), "Accounts by status"),
        "health": health,
        "proxy": proxy_status(request),
        "antibot": antibot_line(request),
        "upstream": upstream_health(request),
    }
    return render.page(request, "admin/stats.html", ctx)


@dataclass(slots=True)
class HealthRow:
    """One upstream step of the health panel."""

    step: str
    label: str
    ok: int
    failed: int
    failures: str  # "anti_bot 3 · cloudflare 1"
    last_error: str
    when: str


def upstream_health(request: web.Request) -> list[HealthRow] | None:
    """The last hour per upstream step in this worker (None when the gateway does not run here)."""
    health = optional_service(request, "UPSTREAM_HEALTH")
    if health is None:
        return None
    rows = []
    for step in health.snapshot():
        failures = " · ".join(f"{kind} {n}" for kind, n in step.failures.items())
        when = f"{fmt_time(step.last_error_at)} ({fmt_ago(step.last_error_at)})" if step.last_error_at else "—"
        rows.append(HealthRow(step.step, step.label, step.ok, step.failed, failures, step.last_error, when))
    return rows


def antibot_line(request: web.Request) -> str:
    """How each x-statsig-id strategy fares in this worker ("local 412 ok / 3 refused · ...")."""
    client = optional_service(request, "GROK_CLIENT")
    chain = getattr(client, "statsig", None)
    return summary(chain.totals()) if chain is not None else ""


@routes.post("/models/check", name="admin.models_check")
async def models_check(request: web.Request) -> web.StreamResponse:
    """The catalog against grok.com's /rest/modes, asked with one active account (C10)."""
    actions = upstream_actions(request)
    catalog = optional_service(request, "CATALOG")
    pool = optional_service(request, "POOL")
    accounts = [a for a in (pool.accounts() if pool is not None else []) if a.status == "active"]
    if catalog is None or not accounts:
        raise AdminInputError("Models check needs the catalog and at least one active account.")
    try:
        findings, upstream = await model_check.run(actions.client, catalog, accounts[0].token,
                                                   await actions.route(accounts[0].token))
    except UpstreamError as exc:
        raise AdminInputError(f"grok.com /rest/modes failed ({exc.kind.value}): {exc.message}") from None
    return render.fragment(request, "admin/_models_check.html",
                           {"findings": findings, "upstream": upstream})


@api_routes.get("/stats/requests", name="api.stats")
async def api_stats(request: web.Request) -> web.StreamResponse:
    try:
        hours = min(24 * 30, max(1, int(request.query.get("hours", 48))))
        days = min(366, max(1, int(request.query.get("days", 30))))
    except ValueError:
        raise AdminInputError("hours and days must be integers") from None
    report = await charts.build_report(storage_of(request), hours=hours, days=days)
    health = await pool_health(request)
    upstream = optional_service(request, "UPSTREAM_HEALTH")
    return web.json_response({"status": "success", "enabled": settings_of(request).stats.enabled,
                              "data": report.to_json(),
                              "upstream": [h.to_json() for h in upstream.snapshot()] if upstream is not None else None,
                              "pool": {"total": health.total, "by_status": health.by_status,
                                       "by_pool": health.by_pool,
                                       "quota": {p: {b: {"remaining": r, "total": t} for b, (r, t) in bs.items()}
                                                 for p, bs in health.quota.items()}}})


@api_routes.get("/proxy", name="api.proxy")
async def api_proxy(request: web.Request) -> web.StreamResponse:
    status = proxy_status(request)
    if status is None:
        s = settings_of(request)
        mode = "pool" if s.proxy.proxy_pool_url else "static" if (s.proxy.proxy_url or s.network.base_proxy_url) else "direct"
        return web.json_response({"data": {"mode": mode, "running": False}})
    return web.json_response({"data": status | {"running": True}})


# -- request log -----------------------------------------------------------------
def _ts(value: str, name: str) -> float:
    if not value:
        return 0.0
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise AdminInputError(f"{name}: {value[:30]!r} is not a date-time like 2026-11-28T10:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def log_query(q: dict[str, str]) -> tuple[LogQuery, int]:
    try:
        page = max(1, int(q.get("page") or 1))
        status = int(q.get("status") or 0)
    except ValueError:
        raise AdminInputError("page and status must be numbers") from None
    query = LogQuery(since=_ts(q.get("since", ""), "from"), until=_ts(q.get("until", ""), "until"),
                     model=q.get("model", "").strip(), key_name=q.get("key", "").strip(), status=status,
                     error_kind=q.get("error", "").strip(), offset=(page - 1) * LOG_PAGE_SIZE,
                     limit=LOG_PAGE_SIZE)
    return query, page


def log_json(e: LogEntry) -> dict[str, Any]:
    return dataclasses.asdict(e)


@dataclass(frozen=True, slots=True)
class KnownValues:
    """What the log filters suggest: values seen in the last 30 days' stats, the catalog's models and
    the keys' names (the filters match any text contained, so these are only suggestions)."""

    models: list[str]
    keys: list[str]
    errors: list[str]


async def known_values(request: web.Request) -> KnownValues:
    storage = storage_of(request)
    seen = await storage.query_stats("day", int(time.time()) - 30 * 86400)
    catalog = optional_service(request, "CATALOG")
    models = {d.model for d in seen if d.model} | ({r.id for r in catalog.all()} if catalog is not None else set())
    keys = {d.key_name for d in seen if d.key_name} | {k.name for k in await storage.list_keys()}
    errors = {d.error_kind for d in seen if d.error_kind}
    return KnownValues(sorted(models), sorted(keys), sorted(errors))


@routes.get("/logs", name="admin.logs")
async def logs_page(request: web.Request) -> web.StreamResponse:
    q = dict(request.query)
    query, page = log_query(q)
    entries, total = await storage_of(request).query_logs(query)
    params = {k: v for k, v in q.items() if v and k != "page"}
    ctx = {"entries": entries, "total": total, "page": page, "pages": max(1, -(-total // LOG_PAGE_SIZE)),
           "q": q, "params": params, "fmt_time": fmt_time, "enabled": settings_of(request).stats.enabled}
    if not render.is_htmx(request):
        ctx["known"] = await known_values(request)
    return render.page(request, "admin/logs.html", ctx, fragment="admin/_logs_table.html")


@api_routes.get("/logs", name="api.logs")
async def api_logs(request: web.Request) -> web.StreamResponse:
    q = dict(request.query)
    query, _ = log_query(q)
    try:
        query.offset = max(0, int(q.get("offset", query.offset)))
        query.limit = min(5000, max(1, int(q.get("limit", 100))))
    except ValueError:
        raise AdminInputError("offset and limit must be integers") from None
    entries, total = await storage_of(request).query_logs(query)
    return web.json_response({"status": "success", "total": total, "data": [log_json(e) for e in entries]})
