"""The doctor's output for a terminal: the plan of a dry run, and the result table with what to do next."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from .plan import Step, budget
from .run import Report, Result

_DETAIL_WIDTH = 70


def plan_text(steps: Sequence[Step], account: str, egress: str) -> str:
    """`--dry-run`: every request each step may send; nothing is sent."""
    grok, signer = budget(steps)
    lines = [f"grok2api doctor (dry run) for {account} via {egress}: nothing is sent.", ""]
    for step in steps:
        need = "needed by the gateway" if step.required else "informational"
        lines.append(f"{step.id:<12} {step.title} — {step.endpoint} ({need})")
        for req in step.requests:
            lines.append(f"    {req.line()}")
    lines.append("")
    tail = f" and at most {signer} to the signer" if signer else ""
    lines.append(f"at most {grok} requests to grok.com{tail}")
    return "\n".join(lines)


def _cells(result: Result) -> list[str]:
    latency = f"{result.latency_ms:.0f} ms" if result.result != "skipped" else "-"
    return [result.id, result.endpoint, result.result, latency]


def table_text(report: Report) -> str:
    """The table: step, endpoint, result, latency; then detail and next step indented under failures."""
    header = ["STEP", "ENDPOINT", "RESULT", "LATENCY"]
    rows = [_cells(r) for r in report.results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"grok2api doctor for {report.account} via {report.egress or '?'}", "", line(header)]
    for result, row in zip(report.results, rows):
        out.append(line(row) + ("" if result.required or result.result == "ok" else "  (informational)"))
        for text in textwrap.wrap(result.detail, _DETAIL_WIDTH):
            out.append(" " * 4 + text)
        if result.next:
            for i, text in enumerate(textwrap.wrap(result.next, _DETAIL_WIDTH - 6)):
                out.append(" " * 4 + ("next: " if i == 0 else "      ") + text)
    grok_max, signer_max = report.planned
    grok, signer = report.spent
    out.append("")
    signer_part = f"; {signer} of at most {signer_max} to the signer" if signer_max else ""
    verdict = "every step the gateway needs passed" if report.exit_code == 0 else "a step the gateway needs failed"
    out.append(f"{grok} of at most {grok_max} requests to grok.com{signer_part}; {verdict}.")
    return "\n".join(out)
