"""The admin in a real browser (Playwright + Debian's Chromium) against a real server and fakegrok."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from grok2api import fakegrok
from grok2api.fakegrok.options import FakeConfig
from grok2api.keys import POOL, STORAGE
from grok2api.storage.base import LogEntry, StatsDelta

from .browser import browser_page, screenshot
from .conftest import PASSWORD, make_admin_app

pytestmark = pytest.mark.slow

ServerFactory = Callable[..., Awaitable[TestServer]]
TOKENS = [f"sso-browser-{i:02d}-" + "k" * 36 + f"-{i:02d}" for i in range(6)]
SUPER_TOKENS = [f"super-browser-{i:02d}-" + "s" * 36 + f"-{i:02d}" for i in range(3)]
PAGES = ("tokens", "keys", "stats", "logs", "cache", "config", "imagine", "voice")


async def start(aiohttp_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestServer:
    """fakegrok, then the gateway pointed at it through the environment, then the admin."""
    fake = await aiohttp_server(fakegrok.make_app(FakeConfig()))
    fake_url = str(fake.make_url("")).rstrip("/")
    fake_config = fake.app[fakegrok.FAKE_STATE].config
    fake_config.assets_origin = fake_url
    fake_config.imagine_origin = fake_url
    fake_config.livekit_url = fake_url.replace("http://", "ws://")
    for key, value in (("NETWORK_GROK_URL", fake_url), ("NETWORK_ASSETS_URL", fake_url),
                       ("NETWORK_ACCOUNTS_URL", fake_url), ("NETWORK_LIVEKIT_URL", fake_config.livekit_url),
                       ("APP_APP_URL", "http://127.0.0.1"), ("SECURITY_RATE_LIMIT_ENABLED", "false")):
        monkeypatch.setenv("GROK2API_" + key, value)
    app: web.Application = make_admin_app(tmp_path)
    return await aiohttp_server(app)


async def log_in(page: Any) -> None:
    await page.goto("/admin/tokens")
    assert "/admin/login" in page.url
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/admin/tokens")


async def import_tokens(page: Any, tokens: list[str], pool: str) -> None:
    if await page.get_attribute("#import-card", "open") is None:
        await page.click("#import-card summary")
    await page.evaluate("document.querySelector('#import-result').innerHTML = ''")
    await page.fill("textarea[name=text]", "\n".join(tokens))
    await page.select_option("#import-form select[name=pool]", pool)
    await page.click("#import-form button[type=submit]")
    await page.wait_for_selector("#import-result .ok")


async def shown_count(page: Any) -> int:
    text = await page.inner_text("#tokens-count")
    return int(text.split()[0])


async def test_login_import_filter_and_batch_refresh(aiohttp_server: ServerFactory, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await import_tokens(page, TOKENS, "basic")
        assert "6 added" in await page.inner_text("#import-result")
        await expect(page.locator("#tokens-count")).to_have_text(re.compile(r"^6 "))
        await import_tokens(page, SUPER_TOKENS, "super")
        await expect(page.locator("#tokens-count")).to_have_text(re.compile(r"^9 "))
        html = await page.content()
        for token in TOKENS + SUPER_TOKENS:
            assert token not in html
        # Filter by pool, then by search, through the htmx filter form (URL follows).
        await page.select_option("#filters select[name=pool]", "super")
        await expect(page.locator("#tokens-count")).to_have_text(re.compile(r"^3 "))
        assert "pool=super" in page.url
        await page.select_option("#filters select[name=pool]", "")
        await expect(page.locator("#tokens-count")).to_have_text(re.compile(r"^9 "))
        await screenshot(page, "tokens")
        # Batch refresh of every account over SSE: the bar reaches 100 % and a summary appears.
        await page.check("input[name=scope][value=all]")
        await page.click("button[name=action][value=refresh]")
        await expect(page.locator("#batch .batch-count")).to_contain_text("for 9 accounts")
        await page.click("#batch-start")
        done = page.locator("#batch .summary").or_(page.locator("#flash .error"))
        await done.first.wait_for(timeout=30_000)
        assert await page.locator("#flash .error").count() == 0, await page.inner_text("#flash")
        assert await page.get_attribute("#batch progress", "value") == "100"
        assert "100 %" in await page.inner_text("#batch .pct")
        summary = await page.inner_text("#batch .summary")
        assert "Finished: 9 ok, 0 failed of 9." in summary, summary
        await screenshot(page, "tokens-batch")
        # The refreshed quotas (read from fakegrok) are in the table, reloaded when the job ended.
        await expect(page.locator("#tokens-table")).to_contain_text("fast ")
        rec.assert_clean()


async def test_every_page_renders_cleanly_and_never_shows_a_token(aiohttp_server: ServerFactory, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    await seed_traffic(server.app)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await screenshot_login(page)
        await log_in(page)
        await import_tokens(page, TOKENS[:2], "basic")
        for name in PAGES:
            resp = await page.goto(f"/admin/{name}")
            assert resp is not None and resp.status == 200, name
            await page.wait_for_load_state("networkidle")
            html = await page.content()
            for token in TOKENS:
                assert token not in html, name
            assert await page.locator("main h1").count() == 1, name
            await screenshot(page, name)
        rec.assert_clean()


async def seed_traffic(app: web.Application) -> None:
    """Recorded requests, so the dashboard and the log have something to draw."""
    now = time.time()
    deltas, logs = [], []
    for i in range(48):
        start_h = int(now // 3600 * 3600) - i * 3600
        ok, failed = 5 + (i * 7) % 13, i % 4
        deltas.append(StatsDelta("hour", start_h, "grok-4" if i % 3 else "grok-4.1-fast", "team-a", 200, "",
                                 count=ok, latency_ms_sum=ok * 900.0, ttft_ms_sum=ok * (250.0 + i * 5)))
        if failed:
            deltas.append(StatsDelta("hour", start_h, "grok-4", "team-b", 429, "rate_limited", count=failed))
    for i in range(30):
        start_d = int(now // 86400 * 86400) - i * 86400
        deltas.append(StatsDelta("day", start_d, "grok-4", "team-a", 200, "", count=80 + i * 3,
                                 ttft_ms_sum=(80 + i * 3) * 300.0))
        deltas.append(StatsDelta("day", start_d, "grok-4.1-fast", "team-b", 502, "upstream", count=i % 5))
    for i in range(12):
        logs.append(LogEntry(ts=now - i * 60, request_id=f"req-{i}", key_name="team-a", model="grok-4", stream=True,
                             status=200 if i % 4 else 429, error_kind="" if i % 4 else "rate_limited",
                             latency_ms=900 + i, ttft_ms=300, account="sso-br…k-01", client_ip="127.0.0.1",
                             path="/v1/chat/completions"))
    await app[STORAGE].add_stats(deltas)
    await app[STORAGE].append_logs(logs)


async def screenshot_login(page: Any) -> None:
    await page.goto("/admin/login")
    await screenshot(page, "login")


async def test_create_key_see_it_once_and_config_takes_effect(aiohttp_server: ServerFactory, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await page.goto("/admin/keys")
        await page.fill("#key-form input[name=name]", "browser key")
        await page.fill("#key-form input[name=rpm]", "60")
        await page.click("#key-form button[type=submit]")
        key = await page.input_value("#new-key")
        assert re.fullmatch(r"sk-[A-Za-z0-9_-]{20,}", key)
        # The form starts empty again for the next key; a second key of the same name is refused in place.
        assert await page.input_value("#key-form input[name=name]") == ""
        assert await page.input_value("#key-form input[name=rpm]") == "0"
        await page.fill("#key-form input[name=name]", "Browser Key")
        await page.click("#key-form button[type=submit]")
        await expect(page.locator("#flash .error")).to_contain_text("already exists")
        assert await page.input_value("#key-form input[name=name]") == "Browser Key"
        rec.allowed_errors.append("status of 400")  # the refused duplicate, on purpose
        await page.click("button[data-copy]")
        await page.wait_for_selector("[data-copy-status]:not(:empty)")
        await expect(page.locator("#keys-table")).to_contain_text("browser key")
        await screenshot(page, "keys-created")
        await page.reload()
        assert key not in await page.content()  # shown once
        assert key[:7] + "…" in await page.inner_text("#keys-table")
        # Config: set the global API key from the page.
        global_key = "sk-global-from-the-admin-page"
        await page.goto("/admin/config#section-app")
        await page.fill("#section-app input[name='app.api_key']", global_key)
        await page.click("#section-app button[type=submit]")
        await page.wait_for_selector("#section-app p.ok")
        assert global_key not in await page.content()
        # An invalid value is refused in place with a readable message.
        await page.fill("#section-retry input[name='retry.max_retry']", "99")
        await page.click("#section-retry button[type=submit]")
        await page.wait_for_selector("#section-retry .field-error")
        assert "between 0 and 20" in await page.inner_text("#section-retry .field-error")
        await screenshot(page, "config-error")
        # The change is live on the OpenAI API: the global key now authenticates, a wrong one does not.
        ok = await page.request.get("/v1/models", headers={"Authorization": f"Bearer {global_key}"})
        assert ok.status == 200, await ok.text()
        managed = await page.request.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert managed.status == 200
        bad = await page.request.get("/v1/models", headers={"Authorization": "Bearer sk-wrong"})
        assert bad.status == 401
        rec.assert_clean()


# A WebSocket that a proxy or firewall kills before it opens, as the page would see it.
BROKEN_WEBSOCKET = """
window.WebSocket = class {
  constructor() {
    this.readyState = 0;
    setTimeout(() => { this.readyState = 3; if (this.onerror) this.onerror(new Event("error")); }, 20);
  }
  send() { throw new Error("not open"); }
  close() {}
};
window.WebSocket.OPEN = 1;
"""


@pytest.mark.parametrize("transport", ["ws", "sse", "ws-broken"])
async def test_imagine_waterfall_shows_final_images(aiohttp_server: ServerFactory, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, transport: str) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await import_tokens(page, TOKENS[:2], "basic")
        if transport == "ws-broken":
            await page.add_init_script(BROKEN_WEBSOCKET)
        await page.goto("/admin/imagine" + ("?transport=sse" if transport == "sse" else ""))
        await page.fill("#imagine-prompt", "a lighthouse in a storm")
        await page.select_option("#imagine-form select[name=n]", "2")
        await page.click("#imagine-start")
        await page.wait_for_selector("#imagine-status:is([data-state=done], [data-state=error], [data-state=stopped])",
                                     timeout=30_000)
        status = await page.inner_text("#imagine-status")
        assert await page.get_attribute("#imagine-status", "data-state") == "done", (status, rec.errors)
        expected = "sse" if transport == "ws-broken" else transport  # the automatic fallback
        assert await page.get_attribute("#imagine-form", "data-active-transport") == expected
        images = page.locator("#waterfall img")
        assert await images.count() == 2
        for i in range(2):
            loaded = await images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            assert loaded
            assert (await images.nth(i).get_attribute("src") or "").startswith("/v1/files/image/")
        assert not await page.is_disabled("#imagine-download")
        async with page.expect_download() as info:
            await page.click("#imagine-download")
        download = await info.value
        path = tmp_path / "imagine.zip"
        await download.save_as(str(path))
        import zipfile
        with zipfile.ZipFile(path) as zf:
            assert len(zf.namelist()) == 2
        await screenshot(page, f"imagine-{transport}")
        rec.assert_clean()


async def test_voice_token_flow(aiohttp_server: ServerFactory, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await page.goto("/admin/voice")
        await page.click("#voice-token")
        await page.wait_for_selector("#voice-state[data-state=error]")
        assert "No active account" in await page.inner_text("#voice-error")
        rec.allowed_errors.append("status of 400")  # the refused token request above, on purpose
        await import_tokens_via_api(page)
        await page.click("#voice-token")
        await page.wait_for_selector("#voice-state[data-state=token]")
        assert await page.inner_text("#voice-room") != "—"
        assert "…" in await page.inner_text("#voice-account")
        assert not await page.is_disabled("#voice-connect")
        assert await page.evaluate("typeof window.LivekitClient.Room") == "function"
        await screenshot(page, "voice-token")
        rec.assert_clean()


async def import_tokens_via_api(page: Any) -> None:
    csrf = await page.get_attribute("body", "data-csrf")
    resp = await page.request.post("/api/v1/admin/tokens", data={"tokens": TOKENS[:1]},
                                   headers={"X-CSRF-Token": csrf})
    assert resp.status == 200


async def test_upstream_check_table_fills_in_and_health_panel_counts(aiohttp_server: ServerFactory, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-browser-health-0123456789"
    monkeypatch.setenv("GROK2API_APP_API_KEY", key)
    server = await start(aiohttp_server, tmp_path, monkeypatch)
    async with browser_page(str(server.make_url("/"))) as (page, rec):
        await log_in(page)
        await import_tokens(page, TOKENS[:2], "basic")
        await page.locator("#tokens-table input[name=ids]").first.check()
        await page.click("#upstream-check")
        table = page.locator("#doctor table.doctor-table")
        await table.wait_for()
        steps = await table.locator("tbody tr").count()
        assert steps >= 12
        # The rows arrive one by one over SSE; at the end none is pending and the summary is in.
        await page.locator("#doctor .doctor-done").wait_for(timeout=30_000)
        assert await table.locator("tr.pending").count() == 0
        results = await table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.result)")
        # fakegrok keeps serving an mgw socket after response.done (its default, C8): reuse works too.
        assert results == ["ok"] * steps
        assert "Every step the gateway needs passed" in await page.inner_text("#doctor .doctor-summary")
        html = await page.content()
        assert all(token not in html for token in TOKENS)
        await screenshot(page, "tokens-upstream-check")
        # The stats page counts the upstream calls the gateway made (the check used a client of its own).
        await server.app[POOL].sync()
        resp = await page.request.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                       data={"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status == 200, await resp.text()
        await page.goto("/admin/stats")
        panel = page.locator("#upstream-health")
        await panel.wait_for()
        labels = await panel.locator("tbody tr td:first-child").all_inner_texts()
        assert labels[:6] == ["Chat (mgw WebSocket)", "Chat (REST)", "Imagine WebSocket", "Media (REST)",
                              "Rate limits", "Session"]
        assert await panel.locator("tr[data-step=chat_mgw] .ok-count").inner_text() == "1"
        assert await panel.locator("tr[data-step=session] .ok-count").inner_text() == "1"
        assert await panel.locator("tr[data-step=imagine] .ok-count").inner_text() == "0"
        await screenshot(page, "stats-upstream-health")
        rec.assert_clean()
