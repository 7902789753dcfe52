"""Request statistics for the dashboard, and the inline SVG charts that draw them (no JS)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from ..storage.base import StatsDelta, Storage

HOUR = 3600
DAY = 86400


@dataclass(slots=True)
class Bucket:
    start: int
    total: int = 0
    success: int = 0
    ttft_sum: float = 0.0
    ttft_n: int = 0

    @property
    def failed(self) -> int:
        return self.total - self.success

    @property
    def ttft_ms(self) -> float:
        return self.ttft_sum / self.ttft_n if self.ttft_n else 0.0


@dataclass(slots=True)
class Breakdown:
    name: str
    total: int = 0
    success: int = 0
    ttft_sum: float = 0.0
    ttft_n: int = 0

    @property
    def rate(self) -> float:
        return self.success / self.total if self.total else 0.0

    @property
    def ttft_ms(self) -> float:
        return self.ttft_sum / self.ttft_n if self.ttft_n else 0.0


@dataclass(slots=True)
class StatsReport:
    hourly: list[Bucket]
    daily: list[Bucket]
    by_model: list[Breakdown] = field(default_factory=list)
    by_key: list[Breakdown] = field(default_factory=list)
    by_error: list[Breakdown] = field(default_factory=list)
    total: int = 0
    success: int = 0

    @property
    def success_rate(self) -> float:
        return self.success / self.total if self.total else 0.0

    def to_json(self) -> dict[str, object]:
        def series(buckets: list[Bucket]) -> list[dict[str, object]]:
            return [{"start": b.start, "total": b.total, "success": b.success, "failed": b.failed,
                     "ttft_ms": round(b.ttft_ms, 1)} for b in buckets]

        def rows(items: list[Breakdown]) -> list[dict[str, object]]:
            return [{"name": r.name, "total": r.total, "success": r.success,
                     "success_rate": round(r.rate, 4), "ttft_ms": round(r.ttft_ms, 1)} for r in items]

        return {"hourly": series(self.hourly), "daily": series(self.daily),
                "models": rows(self.by_model), "keys": rows(self.by_key), "errors": rows(self.by_error),
                "summary": {"total": self.total, "success": self.success, "failed": self.total - self.success,
                            "success_rate": round(self.success_rate, 4)}}


def _ok(d: StatsDelta) -> bool:
    return not d.error_kind and 0 < d.status < 400


def _fill(deltas: Sequence[StatsDelta], size: int, count: int, now: float) -> list[Bucket]:
    last = int(now // size * size)
    buckets = {last - i * size: Bucket(last - i * size) for i in range(count)}
    for d in deltas:
        b = buckets.get(d.start)
        if b is None:
            continue
        b.total += d.count
        if _ok(d):
            b.success += d.count
            if d.ttft_ms_sum:
                b.ttft_sum += d.ttft_ms_sum
                b.ttft_n += d.count
    return [buckets[k] for k in sorted(buckets)]


def _group(deltas: Sequence[StatsDelta], attr: str, limit: int = 10) -> list[Breakdown]:
    groups: dict[str, Breakdown] = {}
    for d in deltas:
        name = getattr(d, attr) or "—"
        if attr == "error_kind" and _ok(d):
            continue
        g = groups.setdefault(name, Breakdown(name))
        g.total += d.count
        if _ok(d):
            g.success += d.count
            if d.ttft_ms_sum:
                g.ttft_sum += d.ttft_ms_sum
                g.ttft_n += d.count
    return sorted(groups.values(), key=lambda g: (-g.total, g.name))[:limit]


async def build_report(storage: Storage, hours: int = 48, days: int = 30, now: float | None = None) -> StatsReport:
    now = time.time() if now is None else now
    hourly_d = await storage.query_stats("hour", int(now // HOUR * HOUR - (hours - 1) * HOUR))
    daily_d = await storage.query_stats("day", int(now // DAY * DAY - (days - 1) * DAY))
    report = StatsReport(_fill(hourly_d, HOUR, hours, now), _fill(daily_d, DAY, days, now))
    report.by_model = _group(daily_d, "model")
    report.by_key = _group(daily_d, "key_name")
    report.by_error = _group(daily_d, "error_kind")
    report.total = sum(b.total for b in report.daily)
    report.success = sum(b.success for b in report.daily)
    return report


# -- SVG ---------------------------------------------------------------------------
def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000,
                 100_000, 200_000, 500_000, 1_000_000):
        if value <= step:
            return float(step)
    return float(value)


def _tick(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _no_data(parts: list[str], width: int, top: int, plot_h: int) -> None:
    parts.append(f'<text class="axis nodata" x="{width / 2:.0f}" y="{top + plot_h / 2:.0f}" '
                 'text-anchor="middle">nothing recorded in this period</text>')


def bar_chart(buckets: Sequence[Bucket], label_fmt: str, title: str, width: int = 1200,
              height: int = 200) -> Markup:
    """Stacked bars (success / failed) with an accessible title per bar."""
    left, bottom, top = 48, 22, 8
    plot_w, plot_h = width - left - 6, height - bottom - top
    peak = _nice_max(max((b.total for b in buckets), default=0))
    n = max(1, len(buckets))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.75)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_tick(peak * frac)}</text>')
    if not any(b.total for b in buckets):
        _no_data(parts, width, top, plot_h)
    for i, b in enumerate(buckets):
        x = left + i * slot + (slot - bar_w) / 2
        ok_h = plot_h * b.success / peak
        fail_h = plot_h * b.failed / peak
        label = time.strftime(label_fmt, time.gmtime(b.start))
        tip = f"{label}: {b.total} requests, {b.success} ok, {b.failed} failed"
        parts.append(f'<g><title>{escape(tip)}</title>')
        if b.success:
            parts.append(f'<rect class="ok" x="{x:.1f}" y="{top + plot_h - ok_h:.1f}" width="{bar_w:.1f}" height="{ok_h:.1f}"/>')
        if b.failed:
            parts.append(f'<rect class="fail" x="{x:.1f}" y="{top + plot_h - ok_h - fail_h:.1f}" width="{bar_w:.1f}" height="{fail_h:.1f}"/>')
        if not b.total:
            parts.append(f'<rect class="empty" x="{x:.1f}" y="{top + plot_h - 1:.1f}" width="{bar_w:.1f}" height="1"/>')
        parts.append("</g>")
        if i % max(1, n // 6) == 0:
            parts.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(values: Sequence[tuple[int, float]], label_fmt: str, title: str, unit: str,
               width: int = 1200, height: int = 180) -> Markup:
    """A polyline over the buckets that have a value (gaps where there was no traffic)."""
    left, bottom, top = 64, 22, 8
    plot_w, plot_h = width - left - 6, height - bottom - top
    peak = _nice_max(max((v for _, v in values), default=0))
    n = max(1, len(values) - 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_tick(peak * frac)}{unit}</text>')
    if not any(v > 0 for _, v in values):
        _no_data(parts, width, top, plot_h)
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (start, v) in enumerate(values):
        x = left + plot_w * i / n
        if v > 0:
            y = top + plot_h * (1 - v / peak)
            segment.append(f"{x:.1f},{y:.1f}")
            label = time.strftime(label_fmt, time.gmtime(start))
            parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(label)}: {v:.0f}{unit}</title></circle>')
        elif segment:
            segments.append(segment)
            segment = []
        if i % max(1, len(values) // 6) == 0:
            label = time.strftime(label_fmt, time.gmtime(start))
            parts.append(f'<text class="axis" x="{x:.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>')
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            parts.append(f'<polyline class="line" points="{" ".join(seg)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def share_bars(items: Sequence[tuple[str, int]], title: str, width: int = 340) -> Markup:
    """Horizontal bars for a breakdown (by model, key, error kind, account status)."""
    row_h = 22
    height = max(row_h, row_h * len(items)) + 4
    peak = max((v for _, v in items), default=0) or 1
    label_w = 130
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i, (name, value) in enumerate(items):
        y = 2 + i * row_h
        w = (width - label_w - 50) * value / peak
        short = name if len(name) <= 18 else name[:17] + "…"
        parts.append(f'<text class="axis" x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(short)}<title>{escape(name)}</title></text>')
        parts.append(f'<rect class="ok" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 8}"/>')
        parts.append(f'<text class="axis" x="{label_w + w + 4:.1f}" y="{y + 15}">{value}</text>')
    if not items:
        parts.append(f'<text class="axis" x="{width / 2}" y="{row_h - 6}" text-anchor="middle">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
