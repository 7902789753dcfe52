"""The tokens page an operator needs: summary bar, per-row refresh and copy, moving an account to another pool."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from grok2api import fakegrok
from grok2api.keys import STORAGE
from grok2api.storage.base import StatsDelta, account_id_for

from .conftest import PASSWORD, ClientFactory, login, make_admin_app
from .html import attr, form_values, one, parse, text

BEARER = {"Authorization": f"Bearer {PASSWORD}"}
# fakegrok's tier rule: a token starting with "super" is a SuperGrok account there.
MOVER = "super-moving-account-" + "m" * 30
BASIC = [f"basic-day-{i}-" + "b" * 30 for i in range(3)]
Client = TestClient[Any, Any]


def hx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


async def _setup(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[Client, TestServer, str]:
    fake = await aiohttp_server(fakegrok.make_app())
    url = str(fake.make_url("")).rstrip("/")
    for key in ("GROK_URL", "ASSETS_URL", "ACCOUNTS_URL"):
        monkeypatch.setenv(f"GROK2API_NETWORK_{key}", url)
    monkeypatch.setenv("GROK2API_TOKEN_AUTO_REFRESH", "false")
    client = await aiohttp_client(make_admin_app(tmp_path))
    csrf = await login(client)
    await client.post("/api/v1/admin/tokens", headers=BEARER, json={"pool": "basic", "tokens": [MOVER, *BASIC]})
    # What grok.com says about the mover once it is asked: numbers no default has.
    fake.app[fakegrok.FAKE_STATE].upsert_account(MOVER, "super", {"fast": {"remaining": 77, "total": 140},
                                                                  "auto": {"remaining": 33, "total": 50}})
    return client, fake, csrf


async def _quota(client: Client, token: str) -> dict[str, tuple[int, int]]:
    rec = await client.app[STORAGE].get_account(account_id_for(token))
    assert rec is not None
    return {b: (q.remaining, q.total) for b, q in rec.quota.items()}


async def test_summary_bar_counts_status_pool_quota_and_calls_today(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _, csrf = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    await client.post(f"/admin/tokens/{account_id_for(BASIC[0])}/disable", headers=hx(csrf))
    today = int(time.time() // 86400 * 86400)
    await client.app[STORAGE].add_stats([
        StatsDelta("day", today, "grok-4", "k", 200, "", count=7),
        StatsDelta("day", today, "grok-4", "k", 502, "upstream", count=2),
        StatsDelta("day", today - 86400, "grok-4", "k", 200, "", count=50)])  # yesterday: not counted
    page = parse(await (await client.get("/admin/tokens")).text())
    bar = one(page, "#tokens-summary")
    assert text(one(bar, "[data-summary=accounts] dd")) == "4"
    assert text(one(bar, "[data-status=active]")) == "active 3" and text(one(bar, "[data-status=disabled]")) == "disabled 1"
    assert text(one(bar, "[data-pool=basic]")) == "basic 4"
    # Quota over the usable accounts (the disabled one is not): three basic accounts' default fast 30.
    assert text(one(bar, "[data-bucket=fast]")) == "fast 90/90"
    assert text(one(bar, "[data-summary=calls] dd")) == "9 (2 failed)"
    # The bar reloads itself when accounts change (htmx trigger) from its own fragment.
    assert "tokens-changed from:body" in attr(bar, "hx-trigger")
    frag = parse(await (await client.get("/admin/tokens/summary", headers={"HX-Request": "true"})).text())
    assert text(one(frag, "[data-summary=accounts] dd")) == "4"


async def test_row_refresh_and_copy_token(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client, _, csrf = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    aid = account_id_for(MOVER)
    assert (await _quota(client, MOVER))["fast"] == (30, 30)  # basic defaults until grok.com is asked
    resp = await client.post(f"/admin/tokens/{aid}/refresh", headers=hx(csrf))
    row = parse(await resp.text())
    assert resp.status == 200 and resp.headers["HX-Trigger"] == "tokens-summary"
    assert "quotas re-read from grok.com" in text(one(row, ".row-notice.ok"))
    assert (await _quota(client, MOVER))["fast"] == (77, 140)
    assert "fast 77/140" in text(one(row, "td.quota"))
    # Copy: the full token only as the answer to a CSRF-checked POST, never in a page.
    copied = await client.post(f"/admin/tokens/{aid}/token", headers={"X-CSRF-Token": csrf})
    assert copied.status == 200 and await copied.text() == MOVER
    assert copied.content_type == "text/plain" and copied.headers["Cache-Control"] == "no-store"
    assert (await client.post(f"/admin/tokens/{aid}/token")).status == 403
    assert (await client.get(f"/admin/tokens/{aid}/token")).status in (404, 405)
    page = await (await client.get("/admin/tokens")).text()
    assert MOVER not in page and f'data-copy-token="/admin/tokens/{aid}/token"' in page
    # A disabled account is not asked for: the row says why.
    await client.post(f"/admin/tokens/{aid}/disable", headers=hx(csrf))
    refused = parse(await (await client.post(f"/admin/tokens/{aid}/refresh", headers=hx(csrf))).text())
    assert "enable it" in text(one(refused, ".row-notice.error"))


async def test_pool_change_from_the_row_and_the_api_rereads_quotas(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, fake, csrf = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    aid = account_id_for(MOVER)
    edit = parse(await (await client.get(f"/admin/tokens/{aid}/edit", headers=hx(csrf))).text())
    fields = form_values(one(edit, "tr"))
    assert fields["pool"] == "basic"
    fields["pool"] = "super"
    saved = await client.post(f"/admin/tokens/{aid}/edit", data=fields, headers=hx(csrf))
    row = parse(await saved.text())
    assert "moved to super; quotas re-read from grok.com" in text(one(row, ".row-notice.ok"))
    assert text(row.select("td")[2]) == "super"
    assert (await _quota(client, MOVER))["fast"] == (77, 140) and (await _quota(client, MOVER))["auto"] == (33, 50)
    # The JSON API moves it back; grok.com is asked again (its quota there changed meanwhile).
    fake.app[fakegrok.FAKE_STATE].upsert_account(MOVER, "basic", {"fast": {"remaining": 12, "total": 30}})
    moved = await client.patch(f"/api/v1/admin/tokens/{aid}", headers=BEARER, json={"pool": "basic"})
    body = await moved.json()
    assert moved.status == 200 and body["pool"] == "basic" and body["pool_changed"] and body["quotas_reread"]
    assert (await _quota(client, MOVER))["fast"] == (12, 30)
    bad = await client.patch(f"/api/v1/admin/tokens/{aid}", headers=BEARER, json={"pool": "platinum"})
    assert bad.status == 400 and "unknown pool" in (await bad.json())["error"]["message"]
    # When grok.com cannot be asked, the move still happens and the row says the quotas were not read.
    fake.app[fakegrok.FAKE_STATE].set_switches(MOVER, {"server_error": 500})
    failed = await client.patch(f"/api/v1/admin/tokens/{aid}", headers=BEARER, json={"pool": "heavy"})
    body = await failed.json()
    assert body["pool"] == "heavy" and not body["quotas_reread"] and body["quota_error"]
    assert MOVER not in body["quota_error"]


async def test_batch_confirms_counts_skips_disabled_and_lists_failures(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, fake, csrf = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    await client.post(f"/admin/tokens/{account_id_for(BASIC[0])}/disable", headers=hx(csrf))
    fake.app[fakegrok.FAKE_STATE].set_switches(BASIC[1], {"invalid_token": True})
    # The confirmation: how many accounts the refresh touches, and the disabled one it skips.
    resp = await client.post("/admin/tokens/batch", data={"action": "refresh", "scope": "all"}, headers=hx(csrf))
    confirm = parse(await resp.text())
    assert "call grok.com for 3 accounts" in text(one(confirm, ".batch-count"))
    assert text(one(confirm, "[data-skip=disabled]")) == "1 disabled"
    assert text(one(confirm, "#batch-start")) == "Refresh quotas · 3"
    assert not fake.app[fakegrok.FAKE_STATE].records  # nothing was sent to grok.com yet
    started = parse(await (await client.post("/admin/tokens/batch", data=form_values(one(confirm, "form")),
                                             headers=hx(csrf))).text())
    card = one(started, "section.batch")
    assert "1 skipped: 1 disabled" in text(one(card, ".batch-skipped"))
    job_id = attr(card, "data-job")
    stream = await (await client.get(f"/admin/batch/{job_id}/stream")).text()
    done = parse(stream.split("event: done\n", 1)[1].replace("data: ", ""))
    finished = one(done, "section.batch")
    assert finished.has_attr("data-batch-finished") and finished.select("button") == []  # no Cancel left
    assert "Finished: 2 ok, 1 failed of 3, 1 skipped." in text(one(finished, ".summary"))
    (failure,) = finished.select(".batch-errors li")
    assert text(one(failure, "code")).startswith(BASIC[1][:6]) and "…" in text(failure)
    assert "auth" in text(failure) and BASIC[1] not in str(finished)
    # The polling fallback renders the same card; a finished job has nothing left to poll.
    polled = parse(await (await client.get(f"/admin/batch/{job_id}?poll=1", headers=hx(csrf))).text())
    assert polled.select("[hx-trigger]") == [] and one(polled, "[data-batch-finished]")
    # The JSON API says what it skipped too.
    api = await client.post("/api/v1/admin/tokens/refresh", headers=BEARER, json={})
    body = await api.json()
    assert (body["total"], body["skipped"], body["skip_reasons"]) == (3, 1, {"disabled": 1})


async def test_a_running_batch_polls_when_asked(aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    client, fake, csrf = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    fake.app[fakegrok.FAKE_STATE].set_switches(None, {"slow_first_byte": 30})
    body = await (await client.post("/api/v1/admin/tokens/refresh", headers=BEARER, json={})).json()
    polled = parse(await (await client.get(f"/admin/batch/{body['batch_id']}?poll=1", headers=hx(csrf))).text())
    poller = one(polled, "[data-batch-polling]")
    assert attr(poller, "hx-trigger") == "every 1s" and attr(poller, "hx-get").endswith("?poll=1")
    assert polled.select("[sse-connect]") == [] and text(one(polled, "button")) == "Cancel"
    cancelled = parse(await (await client.post(f"/admin/batch/{body['batch_id']}/cancel", headers=hx(csrf))).text())
    assert one(cancelled, "[data-batch-finished]") and "Cancelled" in text(cancelled)


async def test_an_import_naming_another_pool_moves_a_known_account_to_fresh_quotas(
        aiohttp_client: ClientFactory, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _, csrf = await _setup(aiohttp_client, aiohttp_server, tmp_path, monkeypatch)
    aid = account_id_for(MOVER)
    await client.post(f"/admin/tokens/{aid}/refresh", headers=hx(csrf))
    assert (await _quota(client, MOVER))["fast"] == (77, 140)  # grok.com's super numbers, in the basic pool
    resp = await client.post("/api/v1/admin/tokens", headers=BEARER,
                             json={"tokens": [{"token": MOVER, "pool": "heavy"}]})
    assert (await resp.json())["repooled"] == [aid]
    rec = await client.app[STORAGE].get_account(aid)
    assert rec is not None and rec.pool == "heavy" and rec.last_sync_at == 0  # due for the refresher at once
    assert (await _quota(client, MOVER))["fast"] == (400, 400)  # the heavy tier's defaults, not the old reading
