"""Accessibility checks in the browser: axe-core's WCAG 2.1 A/AA rules, reflow, focus and contrast helpers.

axe-core is vendored for the tests only (tests/admin/vendor/, never served by the app) and injected
into the page under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def axe_violations(page: Any) -> list[str]:
    """Every WCAG 2.1 A/AA violation axe finds on the page as it is now, one line per node."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the admin's CSP (script-src 'self') stays in force
        # for the page's own scripts, and axe is never served by the app.
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']}))"
        ".violations.map(v => v.nodes.map(n => `${v.id} (${v.impact}): ${n.target.join(' ')} :: `"
        " + (n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 300))).flat()",
        WCAG21_AA)
    return list(result)


# The page's scroll width, and (to say why) the elements sticking out past the right edge of the
# viewport, unless a scrolling ancestor holds them (a wide table may scroll inside its card; the page
# itself must not). Absolutely positioned ones are always listed: a scroller that is not their
# containing block does not hold them.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (/(auto|scroll|hidden|clip)/.test(s.overflowX) && p !== document.body && p !== document.documentElement) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    const positioned = /(absolute|fixed)/.test(getComputedStyle(el).position);
    if (r.right > width + 1 && (positioned || !clipped(el))) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''} right=${Math.round(r.right)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 15)};
}"""


# The smallest on-screen size of a chart label: SVG text scales with its chart, so a chart squeezed
# into a phone's width would shrink its labels below legibility.
CHART_LABELS_JS = """() => {
  let smallest = Infinity;
  for (const svg of document.querySelectorAll('svg.chart')) {
    const box = svg.viewBox.baseVal;
    if (!box || !box.width) continue;
    const scale = svg.getBoundingClientRect().width / box.width;
    for (const text of svg.querySelectorAll('text')) {
      smallest = Math.min(smallest, parseFloat(getComputedStyle(text).fontSize) * scale);
    }
  }
  return smallest === Infinity ? null : smallest;
}"""


async def smallest_chart_label(page: Any) -> float | None:
    """The on-screen font size (px) of the smallest chart label, None without charts."""
    size = await page.evaluate(CHART_LABELS_JS)
    return None if size is None else float(size)


async def overflow(page: Any) -> dict[str, Any]:
    """The page's scroll width against the viewport, and what sticks out."""
    result: dict[str, Any] = await page.evaluate(OVERFLOW_JS)
    return result
