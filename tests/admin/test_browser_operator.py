"""The operator's day in a real browser (Playwright + Debian's Chromium): saved settings reach grok.com,
no traffic locks the admin out, the tokens page and its batches. Screenshots at 1366 and 390 px are kept
in tests/_artifacts/ (admin-<name>-<width>.png)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from grok2api import fakegrok
from grok2api.access import admin_password as adminauth
from grok2api.app import make_app
from grok2api.fakegrok.options import FakeConfig
from grok2api.keys import LIVE_SETTINGS, STORAGE
from tests.conftest import make_settings
from tests.egress.loopback import ConnectProxy
from tests.test_cli import free_port

from .browser import browser_page, screenshots
from .conftest import PASSWORD, make_admin_app
from .test_browser import import_tokens, log_in

pytestmark = pytest.mark.slow

ServerFactory = Callable[..., Awaitable[TestServer]]
KEY = "sk-browser-operator-0123456789abcdef"
UA_150 = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/150.0.0.0 Safari/537.36")
BASIC = [f"sso-operator-{i:02d}-" + "o" * 34 + f"-{i:02d}" for i in range(4)]
MOVER = "super-operator-mover-" + "m" * 30 + "-99"


async def start(aiohttp_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                **env: str) -> tuple[TestServer, TestServer]:
    """fakegrok, then the gateway (its hosts in config.toml, so the admin may change them), then the admin."""
    fake = await aiohttp_server(fakegrok.make_app(FakeConfig()))
    url = str(fake.make_url("")).rstrip("/")
    (tmp_path / "config.toml").write_text(
        f'[network]\ngrok_url = "{url}"\nassets_url = "{url}"\naccounts_url = "{url}"\n', encoding="utf-8")
    for key, value in {"APP_API_KEY": KEY, "APP_APP_URL": "http://127.0.0.1", "TOKEN_AUTO_REFRESH": "false",
                       "SECURITY_TRUSTED_PROXY_IPS": '["127.0.0.1", "::1"]', **env}.items():
        monkeypatch.setenv("GROK2API_" + key, value)
    return await aiohttp_server(make_admin_app(tmp_path)), fake


def records(fake: TestServer, path: str) -> list[dict[str, Any]]:
    return [r for r in fake.app[fakegrok.FAKE_STATE].records if r["path"].startswith(path)]


async def chat(page: Any) -> None:
    resp = await page.request.post("/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                                   data={"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status == 200, await resp.text()


async def save_section(page: Any, section: str) -> str:
    """Save one section's form; what its new status line says (the answer replaces the whole section)."""
    await page.evaluate(f"document.querySelector('#section-{section}').setAttribute('data-stale', '')")
    await page.click(f"#section-{section} button[type=submit]")
    status = page.locator(f"#section-{section}:not([data-stale]) p[role=status]")
    await status.wait_for()
    return await status.inner_text()


# -- 1: saved settings take effect -------------------------------------------------------------------
async def test_settings_saved_in_the_page_reach_grok(aiohttp_server: ServerFactory, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server, fake = await start(aiohttp_server, tmp_path, monkeypatch)
    proxy = ConnectProxy("127.0.0.2")
    await proxy.start()
    try:
        async with browser_page(str(server.make_url("/"))) as (page, rec):
            await log_in(page)
            await import_tokens(page, BASIC[:1], "basic")
            await chat(page)
            assert records(fake, "/ws/mgw")[-1]["headers"]["user-agent"] != UA_150
            await page.goto("/admin/config#section-security")
            await page.fill("#section-security input[name='security.user_agent']", UA_150)
            said = await save_section(page, "security")
            assert said == "Saved 1 value(s); every worker applies them within a second."
            await chat(page)  # the very next call, no restart
            assert records(fake, "/ws/mgw")[-1]["headers"]["user-agent"] == UA_150
            # The proxy: set, the next call leaves through it; emptied and saved, it is cleared again.
            await page.fill("#section-proxy input[name='proxy.proxy_url']", proxy.url)
            assert "Saved 1 value(s)" in await save_section(page, "proxy")
            await chat(page)
            assert records(fake, "/ws/mgw")[-1]["remote"] == "127.0.0.2" and proxy.tunnels > 0
            await expect(page.locator("#section-proxy .src.admin").first).to_be_visible()
            await page.fill("#section-proxy input[name='proxy.proxy_url']", "ftp://bad proxy")
            assert "Nothing was saved" in await save_section(page, "proxy")
            await expect(page.locator("#section-proxy .field-error")).to_contain_text("must start with http://")
            await page.fill("#section-proxy input[name='proxy.proxy_url']", "")
            assert "Saved 1 value(s)" in await save_section(page, "proxy")
            await chat(page)
            assert records(fake, "/ws/mgw")[-1]["remote"] == "127.0.0.1"
            # What is sized at start says so, next to the value and when saved.
            restart = page.locator("#section-performance .src.restart")
            await expect(restart).to_have_count(1)
            await page.fill("#section-performance input[name='performance.media_max_concurrent']", "50")
            assert "except performance.media_max_concurrent: applies after a restart" in await save_section(
                page, "performance")
            await page.goto("/admin/config#section-security")
            await screenshots(page, "config-applied")
            rec.assert_clean()
    finally:
        await proxy.stop()


# -- 2: the demo and the admin are not limited by the API's per-IP limit ------------------------------
async def _set_password(app: web.Application) -> None:
    await adminauth.set_password(app[STORAGE], PASSWORD)


async def test_demo_batches_and_admin_pages_are_not_rate_limited(aiohttp_server: ServerFactory,
                                                                 tmp_path: Path) -> None:
    port = free_port()
    env = {"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "10", "GROK2API_SECURITY_RATE_LIMIT_BURST": "5",
           "GROK2API_SECURITY_ADMIN_RATE_LIMIT_PER_MINUTE": "6"}
    app = make_app(make_settings(tmp_path, env=env, host="127.0.0.1", port=port, demo=True))
    app.on_startup.append(_set_password)
    server = await aiohttp_server(app, port=port)
    base = str(server.make_url("/"))
    demo_key = app[LIVE_SETTINGS].current.app.api_key
    async with browser_page(base) as (page, rec):
        await log_in(page)
        # Every demo account's quotas through the mounted fake: each is several calls from 127.0.0.1.
        for action, label in (("refresh", "Refresh quotas"), ("nsfw", "Enable NSFW")):
            await page.check("input[name=scope][value=all]")
            await page.click(f"button[name=action][value={action}]")
            await expect(page.locator("#batch-start")).to_have_text(f"{label} · 4")
            await page.click("#batch-start")
            summary = page.locator("#batch .summary")
            await summary.wait_for(timeout=30_000)
            assert "Finished: 4 ok, 0 failed of 4." in await summary.inner_text()
            assert await page.get_attribute("#batch progress", "value") == "100"
        await screenshots(page, "demo-batches")
        for _ in range(2):  # far more admin requests than the API's burst or the admin's anonymous limit
            for name in ("tokens", "keys", "stats", "logs", "cache", "config"):
                resp = await page.goto(f"/admin/{name}")
                assert resp is not None and resp.status == 200, name
        api = [(await page.request.get("/v1/models", headers={"Authorization": f"Bearer {demo_key}"})).status
               for _ in range(7)]
        assert 429 in api and api[0] == 200  # the API's own limit still holds
        rec.assert_clean()
    async with browser_page(base) as (anonymous, rec):
        statuses = []
        for _ in range(7):
            resp = await anonymous.goto("/admin/login")
            assert resp is not None
            statuses.append(resp.status)
        # The admin's own limit (6 a minute before login, the operator's own login included) ends in a page.
        limited = statuses.index(429)
        assert 0 < limited and set(statuses[:limited]) == {200} and set(statuses[limited:]) == {429}
        assert await anonymous.inner_text("main h1") == "429"
        assert "Too many requests" in await anonymous.inner_text("[role=alert]")
        assert "{" not in await anonymous.inner_text("main")  # a page, not a JSON body
        await screenshots(anonymous, "admin-rate-limited")
        rec.allowed_errors.append("429")  # the refused page load itself


# -- 3: nobody can lock the operator out -----------------------------------------------------------------
async def test_a_spray_of_wrong_passwords_does_not_lock_the_operator_out(aiohttp_server: ServerFactory,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        for i in range(5):  # four wrong passwords from each of five addresses (behind the trusted proxy)
            for _ in range(4):
                resp = await page.request.post("/admin/login", form={"username": "admin", "password": "guess"},
                                               headers={"X-Forwarded-For": f"203.0.113.{i}"}, max_redirects=0)
                assert resp.status == 401
        await page.goto("/admin/login")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", "not the password")
        await page.click("button[type=submit]")
        await expect(page.locator("[role=alert]").first).to_contain_text("Wrong user name or password")
        await screenshots(page, "login-wrong")
        await log_in(page)  # the operator's own address has not failed: straight in
        await expect(page.locator("main h1")).to_have_text("Tokens")
        bearer = await page.request.get("/api/v1/admin/keys", headers={
            "Authorization": f"Bearer {PASSWORD}", "X-Forwarded-For": "198.51.100.7"})
        assert bearer.status == 200
        await screenshots(page, "login-after-spray")
        rec.allowed_errors.append("401")  # the wrong password typed on purpose
        rec.assert_clean()


# -- 5: the tokens page ---------------------------------------------------------------------------------
async def test_tokens_summary_row_refresh_copy_and_pool_change(aiohttp_server: ServerFactory, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    server, fake = await start(aiohttp_server, tmp_path, monkeypatch)
    fake.app[fakegrok.FAKE_STATE].upsert_account(MOVER, "super", {"fast": {"remaining": 77, "total": 140}})
    async with browser_page(str(server.make_url("/")), clipboard=True) as (page, rec):
        await log_in(page)
        await import_tokens(page, [*BASIC[:2], MOVER], "basic")
        bar = page.locator("#tokens-summary")
        await expect(bar.locator("[data-summary=accounts] dd")).to_have_text("3")
        await expect(bar.locator("[data-pool=basic]")).to_have_text("basic 3")
        await expect(bar.locator("[data-bucket=fast]")).to_have_text("fast 90/90")
        row = page.locator("tr", has=page.locator(f"code:text('{MOVER[:6]}…{MOVER[-4:]}')"))
        # Refresh one row: grok.com's numbers replace the defaults, in the row and the bar.
        await row.get_by_role("button", name="Refresh").click()
        row = page.locator("tr", has=page.locator(f"code:text('{MOVER[:6]}…{MOVER[-4:]}')"))
        await expect(row.locator(".row-notice.ok")).to_have_text("quotas re-read from grok.com")
        await expect(row.locator("td.quota")).to_contain_text("fast 77/140")
        await expect(bar.locator("[data-bucket=fast]")).to_have_text("fast 137/200")
        # Copy the token: on the clipboard, never in the page.
        await row.get_by_role("button", name="Copy token").click()
        await expect(row.locator("[data-copy-status]")).to_have_text("Copied.")
        assert await page.evaluate("navigator.clipboard.readText()") == MOVER
        assert MOVER not in await page.content()
        # Move it to the super pool from the row's edit form: its quotas are re-read there too.
        await row.get_by_role("button", name="Edit").click()
        await page.locator("tr.status-active select[name=pool]").select_option("super")
        await page.get_by_role("button", name="Save").click()
        row = page.locator("tr", has=page.locator(f"code:text('{MOVER[:6]}…{MOVER[-4:]}')"))
        await expect(row.locator(".row-notice.ok")).to_have_text("moved to super; quotas re-read from grok.com")
        await expect(bar.locator("[data-pool=super]")).to_have_text("super 1")
        # Search matches what the masked token shows.
        await page.locator("#search").press_sequentially(MOVER[-4:])  # typed: the filter follows keystrokes
        await expect(page.locator("#tokens-count")).to_have_text(re.compile(r"^1 account"))
        await page.fill("#search", "")
        await page.locator("#search").press("Backspace")
        await expect(page.locator("#tokens-count")).to_have_text(re.compile(r"^3 accounts"))
        await screenshots(page, "tokens-day")
        rec.assert_clean()


# -- 7: batches -----------------------------------------------------------------------------------------
async def test_batch_confirms_skips_lists_failures_reloads_and_falls_back_to_polling(
        aiohttp_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, fake = await start(aiohttp_server, tmp_path, monkeypatch)
    fake.app[fakegrok.FAKE_STATE].set_switches(BASIC[1], {"invalid_token": True})
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await import_tokens(page, BASIC, "basic")
        # Export with nothing ticked explains itself in place (no navigation, no error page).
        await page.click("#export")
        await expect(page.locator("#export-note")).to_contain_text("Nothing to export")
        assert page.url.endswith("/admin/tokens")
        # One account disabled: the refresh skips it and says so before anything starts.
        first = page.locator("#tokens-table tbody tr").first
        await first.get_by_role("button", name="Disable").click()
        await expect(page.locator("#tokens-table tbody tr.status-disabled")).to_have_count(1)
        await page.check("input[name=scope][value=all]")
        await page.click("button[name=action][value=refresh]")
        await expect(page.locator("#batch .batch-count")).to_contain_text("for 3 accounts")
        await expect(page.locator("#batch [data-skip=disabled]")).to_have_text("1 disabled")
        await screenshots(page, "batch-confirm")
        await page.click("#batch-start")
        card = page.locator("#batch section.batch")
        await expect(card).to_have_attribute("data-status", "done", timeout=30_000)
        await expect(card.locator(".summary")).to_contain_text("Finished: 2 ok, 1 failed of 3, 1 skipped.")
        await expect(card.get_by_role("button", name="Cancel")).to_have_count(0)
        failure = card.locator(".batch-errors li")
        await expect(failure).to_have_count(1)
        await expect(failure).to_contain_text(f"{BASIC[1][:6]}…")
        await expect(failure).to_contain_text("auth")
        await expect(page.locator("#tokens-summary [data-status=invalid]")).to_have_text("invalid 0")
        await screenshots(page, "batch-done")
        # The event stream fails (a proxy that cuts SSE): the card polls instead and still ends.
        await page.route("**/admin/batch/*/stream", lambda route: route.abort())
        rec.allowed_errors += ["ERR_FAILED", "[object Event]"]  # the cut stream, as htmx reports it
        await page.click("button[name=action][value=tos]")
        await page.click("#batch-start")
        card = page.locator("#batch section.batch")
        await expect(card).to_have_attribute("data-status", "done", timeout=30_000)
        assert any("poll=1" in url for url in rec.requests), rec.requests[-10:]
        await expect(card.locator(".summary")).to_contain_text("Finished:")
        rec.assert_clean()
