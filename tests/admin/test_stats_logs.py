"""Dashboard (server-side SVG from stored stats, pool health) and the request-log audit."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient

from grok2api.admin import charts
from grok2api.keys import STORAGE
from grok2api.storage.base import LogEntry, StatsDelta

from .conftest import PASSWORD
from .html import parse, text

Client = TestClient[Any, Any]
BEARER = {"Authorization": f"Bearer {PASSWORD}"}
HOUR, DAY = 3600, 86400


def deltas(now: float) -> list[StatsDelta]:
    h = int(now // HOUR * HOUR)
    d = int(now // DAY * DAY)
    out = []
    for period, start in (("hour", h), ("hour", h - 5 * HOUR), ("day", d), ("day", d - 3 * DAY)):
        out.append(StatsDelta(period, start, "grok-4", "team-a", 200, "", count=8, latency_ms_sum=8000, ttft_ms_sum=2400))
        out.append(StatsDelta(period, start, "grok-4.1-fast", "team-b", 429, "rate_limited", count=2,
                              latency_ms_sum=100, ttft_ms_sum=0))
    return out


async def test_report_aggregates_buckets_models_keys_errors() -> None:
    now = time.time()

    class Store:
        async def query_stats(self, period: str, since: int) -> list[StatsDelta]:
            return [x for x in deltas(now) if x.period == period and x.start >= since]

    report = await charts.build_report(Store(), hours=48, days=30, now=now)  # type: ignore[arg-type]
    assert len(report.hourly) == 48 and len(report.daily) == 30
    assert report.hourly[-1].total == 10 and report.hourly[-1].success == 8
    assert report.hourly[-1].ttft_ms == 300
    assert report.hourly[-6].total == 10 and report.hourly[-2].total == 0
    assert (report.total, report.success) == (20, 16)
    assert [(b.name, b.total) for b in report.by_model] == [("grok-4", 16), ("grok-4.1-fast", 4)]
    assert [(b.name, b.total) for b in report.by_error] == [("rate_limited", 4)]
    assert report.by_key[0].name == "team-a" and report.by_key[0].rate == 1.0
    svg = charts.bar_chart(report.hourly, "%H", "t")
    assert svg.startswith("<svg") and svg.count('class="ok"') == 2 and svg.count('class="fail"') == 2


async def test_dashboard_page_draws_inline_svg(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    storage = client.app[STORAGE]
    await storage.add_stats(deltas(time.time()))
    await client.post("/api/v1/admin/tokens", json={"tokens": ["tokenAAAAAAAAAAAAAAAAAAAAAAAA1"]},
                      headers={"X-CSRF-Token": csrf})
    page = parse(await (await client.get("/admin/stats")).text())
    assert page.body is not None
    assert len(page.select("svg")) >= 7
    assert page.body.select("script") == []  # charts need no JavaScript
    shown = text(page)
    assert "80.0 %" in shown  # success rate over 30 days
    assert "rate_limited" in shown and "team-a" in shown
    rows = [row for row in page.select("tr") if [text(td) for td in row.select("td")[:2]] == ["basic", "fast"]]
    assert len(rows) == 1 and rows[0].select("td")[2].select_one("meter") is not None
    api = await (await client.get("/api/v1/admin/stats/requests?hours=24&days=7", headers=BEARER)).json()
    assert api["data"]["summary"] == {"total": 20, "success": 16, "failed": 4, "success_rate": 0.8}
    assert len(api["data"]["hourly"]) == 24 and api["pool"]["by_status"]["active"] == 1


async def test_log_audit_filters_paginates_and_shows_detail(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    now = time.time()
    entries = [LogEntry(ts=now - i, request_id=f"req-{i}", key_name="team-a" if i % 2 else "team-b",
                        model="grok-4" if i < 60 else "grok-3", stream=True, status=200 if i % 10 else 502,
                        error_kind="" if i % 10 else "upstream", latency_ms=1000 + i, ttft_ms=300,
                        account="abc123…wxyz", client_ip="10.0.0.1", path="/v1/chat/completions",
                        detail="upstream said <b>no</b>" if i == 0 else "") for i in range(70)]
    await client.app[STORAGE].append_logs(entries)
    page = await (await client.get("/admin/logs")).text()
    assert "70 entries · page 1 of 2" in page and "older ›" in page
    assert "upstream said &lt;b&gt;no&lt;/b&gt;" in page  # autoescaped detail
    assert "req-0" in page and "<details" in page
    frag = await (await client.get("/admin/logs?status=502", headers={"HX-Request": "true"})).text()
    assert frag.startswith("<p") and "7 entries" in frag
    assert "3 entries" not in frag
    frag = await (await client.get("/admin/logs?model=grok-3&key=team-a", headers={"HX-Request": "true"})).text()
    assert "5 entries" in frag
    frag = await (await client.get("/admin/logs?error=upstream&page=1", headers={"HX-Request": "true"})).text()
    assert "7 entries" in frag
    bad = await client.get("/admin/logs?since=yesterday", headers={"HX-Request": "true"})
    assert bad.status == 400 and "is not a date-time" in await bad.text()
    api = await (await client.get("/api/v1/admin/logs?limit=5&model=grok-4")).json()
    assert api["total"] == 60 and len(api["data"]) == 5 and api["data"][0]["request_id"] == "req-0"
