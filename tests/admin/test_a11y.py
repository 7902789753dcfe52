"""Every admin page, at a desktop and a phone width, through axe-core (WCAG 2.1 A/AA) and a reflow check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .a11y import axe_violations, overflow, smallest_chart_label
from .browser import WIDTHS, browser_page, screenshot
from .test_browser import PAGES, TOKENS, ServerFactory, import_tokens, log_in, seed_traffic, start

pytestmark = pytest.mark.slow
LEGIBLE_PX = 10  # smallest chart label on screen


async def check_page(page: Any, label: str, problems: list[str]) -> None:
    for line in await axe_violations(page):
        problems.append(f"{label}: {line}")
    reflow = await overflow(page)
    if reflow["scrollWidth"] > reflow["width"]:
        problems.append(f"{label}: {reflow['scrollWidth']} px wide in {reflow['width']} px: {reflow['out']}")
    smallest = await smallest_chart_label(page)
    if smallest is not None and smallest < LEGIBLE_PX:
        problems.append(f"{label}: a chart label is {smallest:.1f} px on screen")


@pytest.mark.parametrize("width", sorted(WIDTHS, reverse=True))
async def test_every_page_passes_axe_and_reflows(aiohttp_server: ServerFactory, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    await seed_traffic(server.app)
    problems: list[str] = []
    async with browser_page(str(server.make_url("/")), width=width, height=WIDTHS[width]) as (page, rec):
        await page.goto("/admin/login")
        await check_page(page, "login", problems)
        await log_in(page)
        await import_tokens(page, TOKENS[:3], "basic")
        # Every page the navigation offers (so a new page is checked without touching this test).
        nav = await page.eval_on_selector_all("header nav a", "links => links.map(a => a.getAttribute('href'))")
        assert {f"/admin/{name}" for name in PAGES} <= set(nav)
        for href in nav:
            name = href.rsplit("/", 1)[-1]
            await page.goto(href)
            await page.wait_for_load_state("networkidle")
            await check_page(page, name, problems)
            await screenshot(page, f"{name}-{width}")
        # The states that only appear after an action: an edited row, a key shown once, an import.
        await page.goto("/admin/tokens")
        await page.locator("#tokens-table tbody tr").first.get_by_role("button", name="Edit").click()
        await page.wait_for_selector("#tokens-table input[name=tags]")
        await import_tokens(page, TOKENS[3:4], "super")
        await check_page(page, "tokens (editing a row, import open)", problems)
        await page.locator("#tokens-table input[name=ids]").first.check()
        await page.click("#upstream-check")
        await page.locator("#doctor .doctor-done").wait_for(timeout=30_000)
        await check_page(page, "tokens (an upstream check done)", problems)
        await screenshot(page, f"tokens-check-{width}")
        await page.goto("/admin/keys")
        await page.fill("#key-form input[name=name]", "a11y")
        await page.click("#key-form button[type=submit]")
        await page.wait_for_selector("#key-created .secret")
        await page.locator("#keys-table tbody tr").first.get_by_role("button", name="Edit").click()
        await page.wait_for_selector("#keys-table input[name=name]")
        await check_page(page, "keys (a new key shown, editing a row)", problems)
        await screenshot(page, f"keys-editing-{width}")
        rec.assert_clean()
        await page.goto("/admin/nowhere")  # the error page (its 404 is the point, not a fault)
        await check_page(page, "error", problems)
    assert problems == [], "\n".join(problems)
