"""Playwright helpers: Debian's Chromium, and a page that records console errors and every request."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def require_browser() -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is missing: run build/browser.sh (apt-get install chromium)")


@dataclass
class Recorder:
    """What a page did: console errors, uncaught exceptions, and every URL it requested."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    allowed_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed_errors)]

    def assert_clean(self) -> None:
        assert self.unexpected_errors() == [], self.unexpected_errors()
        assert self.foreign_requests() == [], self.foreign_requests()


# The widths the operator's screenshots are kept at: a laptop and a phone.
WIDTHS = {1366: 900, 390: 844}


@asynccontextmanager
async def browser_page(base_url: str, *, clipboard: bool = False, width: int = 1366,
                       height: int = 900) -> AsyncIterator[tuple[object, Recorder]]:
    from playwright.async_api import async_playwright

    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(base_url=base_url, viewport={"width": width, "height": height},
                                                accept_downloads=True)
            if clipboard:
                await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/"))
            page = await context.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda msg: rec.errors.append(f"console.{msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.on("pageerror", lambda exc: rec.errors.append(f"pageerror: {exc}"))
            page.on("request", lambda req: rec.requests.append(req.url))
            page.on("dialog", lambda dialog: dialog.accept())
            yield page, rec
            await context.close()
        finally:
            await browser.close()


async def screenshot(page: object, name: str) -> Path:
    path = ARTIFACTS / f"admin-{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


async def screenshots(page: object, name: str) -> list[Path]:
    """The page at each of WIDTHS (admin-<name>-1366.png, admin-<name>-390.png), back at 1366 after."""
    paths = []
    for width, height in sorted(WIDTHS.items(), reverse=True):
        await page.set_viewport_size({"width": width, "height": height})  # type: ignore[attr-defined]
        paths.append(await screenshot(page, f"{name}-{width}"))
    await page.set_viewport_size({"width": 1366, "height": 900})  # type: ignore[attr-defined]
    return paths
