"""The admin with the keyboard only: skip link, visible focus, focus after htmx row swaps, Enter saves a row."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from .browser import browser_page
from .test_browser import TOKENS, ServerFactory, import_tokens, log_in, start

pytestmark = pytest.mark.slow


async def focused(page: Any) -> dict[str, Any]:
    """What has keyboard focus: tag, id, name, the id of its table row, its text."""
    info: dict[str, Any] = await page.evaluate("""() => {
      const el = document.activeElement;
      const row = el && el.closest('tr');
      return {tag: el ? el.tagName.toLowerCase() : '', id: el ? el.id : '', name: el ? (el.getAttribute('name') || '') : '',
              type: el ? (el.getAttribute('type') || '') : '', row: row ? row.id : '', text: el ? el.textContent.trim() : ''};
    }""")
    return info


async def focus_lands_in(page: Any, row_id: str | None) -> dict[str, Any]:
    """Wait until htmx is idle (no request, swap or settle under way: focus moves once a swap
    settled) with focus inside that row; what has it."""
    await page.wait_for_function(
        """id => { if (document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')) return false;
                   const el = document.activeElement; const row = el && el.closest('tr'); return !!row && row.id === id; }""",
        arg=row_id, timeout=5000)
    return await focused(page)


async def outline_of(page: Any) -> tuple[str, float]:
    style: list[Any] = await page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    return str(style[0]), float(style[1])


async def test_skip_link_and_visible_focus(aiohttp_server: ServerFactory, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await page.goto("/admin/keys")
        await page.keyboard.press("Tab")
        first = await focused(page)
        assert first["tag"] == "a" and first["text"] == "Skip to content"
        box = await page.locator(".skip-link").bounding_box()
        assert box is not None and box["y"] >= 0 and box["height"] > 0  # shown while focused
        assert await outline_of(page) != ("none", 0.0)
        await page.keyboard.press("Enter")
        assert (await focused(page))["id"] == "content"  # straight to the page's content
        await page.keyboard.press("Tab")
        inside = await focused(page)
        assert inside["tag"] in ("summary", "input"), inside  # the first control of the page, not the nav
        style, width = await outline_of(page)
        assert style != "none" and width >= 2  # our own focus ring, not only the browser's default
        rec.assert_clean()


async def test_focus_follows_row_swaps_and_enter_saves_the_row(aiohttp_server: ServerFactory, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await import_tokens(page, TOKENS[:3], "basic")
        await page.goto("/admin/tokens")
        downloads: list[Any] = []
        page.on("download", lambda d: downloads.append(d))
        rows = page.locator("#tokens-table tbody tr")
        await expect(rows).to_have_count(3)
        row_id = await rows.nth(1).get_attribute("id")
        row = page.locator(f"#{row_id}")

        # Edit with the keyboard: focus lands in the swapped row, on its Tags field.
        await row.get_by_role("button", name="Edit").focus()
        await page.keyboard.press("Enter")
        await expect(row.locator("input[name=tags]")).to_be_visible()
        await expect(row.locator("input[name=tags]")).to_be_focused()
        # Enter in Tags saves that row and never submits the surrounding export form.
        await page.keyboard.type("team-a, eu")
        await page.keyboard.press("Enter")
        await expect(row.locator("input[name=tags]")).to_have_count(0)
        await expect(row.locator(".tag")).to_have_text(["team-a", "eu"])
        assert (await focus_lands_in(page, row_id))["type"] == "checkbox"  # the saved row's first control
        # Enter in Note too.
        await row.get_by_role("button", name="Edit").focus()
        await page.keyboard.press("Enter")
        await expect(row.locator("input[name=tags]")).to_be_focused()  # the swap settled
        await page.keyboard.press("Tab")  # Tags -> Note
        await page.keyboard.type("primary account")
        await page.keyboard.press("Enter")
        await expect(row.locator("td").nth(9)).to_have_text("primary account")
        await focus_lands_in(page, row_id)
        assert page.url.endswith("/admin/tokens") and downloads == []

        # Disable: the new row keeps the focus.
        await row.get_by_role("button", name="Disable").focus()
        await page.keyboard.press("Enter")
        await expect(row.locator(".badge")).to_have_text("disabled")
        assert (await focus_lands_in(page, row_id))["type"] == "checkbox"
        # Delete: focus goes to the next row.
        next_id = await rows.nth(2).get_attribute("id")
        await row.get_by_role("button", name="Delete").focus()
        await page.keyboard.press("Enter")  # the confirm dialog is accepted by the browser helper
        await expect(page.locator(f"#{row_id}")).to_have_count(0)
        after_delete = await focus_lands_in(page, next_id)
        assert after_delete["type"] == "checkbox", after_delete
        assert downloads == [] and not any("/tokens/export" in url for url in rec.requests)
        rec.assert_clean()


async def test_enter_saves_a_key_row(aiohttp_server: ServerFactory, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await page.goto("/admin/keys")
        await page.fill("#key-form input[name=name]", "ci-bot")
        await page.click("#key-form button[type=submit]")
        row = page.locator("#keys-table tbody tr").first
        await expect(row).to_contain_text("ci-bot")
        row_id = await row.get_attribute("id")
        await row.get_by_role("button", name="Edit").focus()
        await page.keyboard.press("Enter")
        name = page.locator(f"#{row_id} input[name=name]")
        await expect(name).to_be_focused()
        await name.fill("ci-bot-2")
        await page.keyboard.press("Enter")
        await expect(page.locator(f"#{row_id} input[name=name]")).to_have_count(0)
        await expect(page.locator(f"#{row_id} td").first).to_have_text("ci-bot-2")
        focus = await focus_lands_in(page, row_id)
        assert focus["tag"] == "button" and re.match("Edit", focus["text"])  # keys rows start with their name
        rec.assert_clean()
