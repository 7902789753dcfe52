"""Keys (shown once, limits, expiry, enable/disable) and the config form (sources, env lock, errors, secrets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from grok2api.keys import LIVE_SETTINGS, STORAGE
from grok2api.storage.base import ApiKeyRecord

from .conftest import PASSWORD, ClientFactory, login, make_admin_app
from .html import attr, form_values, one, parse, text

Client = TestClient[Any, Any]
BEARER = {"Authorization": f"Bearer {PASSWORD}"}


def hx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


async def test_create_key_shows_it_once_and_it_works_on_the_api(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    resp = await client.post("/admin/keys", data={"name": "ci bot", "rpm": "30", "max_concurrent": "2",
                                                  "daily_quota": "100", "allowed_models": "grok-4, grok-4.1-fast",
                                                  "expires_at": "2099-01-01T00:00"}, headers=hx(csrf))
    html = await resp.text()
    assert resp.headers["HX-Trigger"] == "keys-changed"
    created = parse(html)
    key = attr(one(created, "#new-key"), "value")
    assert key.startswith("sk-")
    assert "shown only this once" in text(created) and one(created, '[data-copy="#new-key"]')
    table = await (await client.get("/admin/keys")).text()
    assert key not in table and key[:7] + "…" in table
    assert "ci bot" in table and "grok-4, grok-4.1-fast" in table and "2099-01-01" in table
    api = (await (await client.get("/api/v1/admin/keys")).json())["data"][0]
    assert api["rpm"] == 30 and api["max_concurrent"] == 2 and api["daily_quota"] == 100
    assert "key" not in api and "key_hash" not in api
    # The key authenticates the OpenAI API (models list is filtered by its allow-list when wired).
    models = await client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status == 200


async def test_key_validation_errors_are_shown_in_place(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    for data, message in (({"name": ""}, "needs a name"), ({"name": "a", "rpm": "-1"}, "cannot be negative"),
                          ({"name": "a", "rpm": "ten"}, "whole number"),
                          ({"name": "a", "expires_at": "2001-01-01"}, "in the past"),
                          ({"name": "a", "expires_at": "soon"}, "is not a date")):
        resp = await client.post("/admin/keys", data=data, headers=hx(csrf))
        assert resp.status == 400 and resp.headers["HX-Retarget"] == "#flash"
        assert message in await resp.text()


async def test_key_edit_toggle_delete_and_json_api(client: Client) -> None:
    made = await client.post("/api/v1/admin/keys", headers=BEARER, json={
        "name": "k", "allowed_models": ["grok-4"], "rpm": 5, "expires_at": "2099-06-01T00:00:00Z",
        "reasoning_format": "think_tags"})
    body = await made.json()
    assert made.status == 201 and body["key"].startswith("sk-") and body["reasoning_format"] == "think_tags"
    kid = body["id"]
    patched = await (await client.patch(f"/api/v1/admin/keys/{kid}", headers=BEARER,
                                        json={"enabled": False, "rpm": 9})).json()
    assert patched["enabled"] is False and patched["rpm"] == 9
    csrf = await login(client)
    row = await (await client.post(f"/admin/keys/{kid}/enable", headers=hx(csrf))).text()
    assert "badge active" in row
    row = await (await client.post(f"/admin/keys/{kid}/edit", headers=hx(csrf), data={
        "name": "renamed", "rpm": "0", "max_concurrent": "3", "daily_quota": "0", "expires_at": "",
        "allowed_models": ""})).text()
    assert "renamed" in row and ">all<" in row and ">never<" in row
    assert (await client.post(f"/admin/keys/{kid}/delete", headers=hx(csrf))).status == 200
    assert (await (await client.get("/api/v1/admin/keys")).json())["data"] == []
    assert (await client.delete(f"/api/v1/admin/keys/{kid}", headers=BEARER)).status == 404


async def test_config_page_shows_every_section_with_sources(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    page = parse(await (await client.get("/admin/config")).text())
    for section in ("app", "network", "security", "chat", "retry", "timeout", "image", "token", "cache", "proxy",
                    "stats", "performance", "voice"):
        one(page, f"section#section-{section}")
    retry = one(page, "#section-retry")
    assert one(retry, '[name="retry.max_retry"]')
    assert "default" in {text(src) for src in retry.select(".src.default")}


async def test_config_save_applies_at_once_and_inline_errors(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    form = await (await client.get("/admin/config")).text()
    resp = await client.post("/admin/config/retry", headers=hx(csrf), data={
        "retry.max_retry": "7", "retry.retry_status_codes": "401\n429", "retry.retry_backoff_base": "0.5",
        "retry.retry_backoff_factor": "2.0", "retry.retry_backoff_max": "30.0", "retry.retry_budget": "90.0"})
    saved = parse(await resp.text())
    assert "Saved 2 value(s)" in text(saved) and [text(s) for s in saved.select(".src.admin")] == ["admin", "admin"]
    live = client.app[LIVE_SETTINGS].current
    assert live.retry.max_retry == 7 and live.retry.retry_status_codes == [401, 429]
    assert live.sources["retry.max_retry"] == "admin"
    bad = await client.post("/admin/config/retry", headers=hx(csrf), data={
        "retry.max_retry": "99", "retry.retry_status_codes": "401", "retry.retry_backoff_base": "abc",
        "retry.retry_backoff_factor": "2.0", "retry.retry_backoff_max": "30.0", "retry.retry_budget": "90.0"})
    refused = parse(await bad.text())
    assert bad.status == 200 and "Nothing was saved" in text(refused)
    errors = [text(e) for e in refused.select(".field-error")]
    assert len(errors) == 2
    assert any("must be between 0 and 20" in e for e in errors) and any("must be a number" in e for e in errors)
    assert attr(one(refused, '[name="retry.max_retry"]'), "value") == "99"  # what was typed stays in the field
    assert client.app[LIVE_SETTINGS].current.retry.max_retry == 7
    assert "retry.max_retry" in form


async def test_secrets_are_redacted_and_kept_when_untouched(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    secret = "sk-global-secret-value-123456"
    saved = await client.post("/api/v1/admin/config", json={"app": {"api_key": secret}},
                              headers={"X-CSRF-Token": csrf})
    assert (await saved.json())["saved"] == ["app.api_key"]
    html = await (await client.get("/admin/config")).text()
    assert secret not in html and secret[4:-4] not in html
    api = await (await client.get("/api/v1/admin/config")).json()
    assert api["app"]["api_key"] == {"value": "sk-g***", "source": "admin"}
    # Save the [app] form with the placeholder left as is, and change another field.
    fields = form_values(one(parse(html), "section#section-app"))
    assert fields["app.api_key"] == "••••••••"
    fields["app.image_format"] = "base64"
    fields["app.video_format"] = "url"
    fields["app.reasoning_format"] = "think_tags"
    resp = await client.post("/admin/config/app", data=fields, headers=hx(csrf))
    assert "Saved" in await resp.text()
    live = client.app[LIVE_SETTINGS].current
    assert live.app.api_key == secret and live.app.image_format == "base64"
    # The JSON API: the redacted value sent back keeps the secret too.
    await client.post("/api/v1/admin/config", json={"app.api_key": "sk-g***", "app.image_format": "url"},
                      headers={"X-CSRF-Token": csrf})
    assert client.app[LIVE_SETTINGS].current.app.api_key == secret
    bad = await client.post("/api/v1/admin/config", json={"retry.max_retry": "lots", "nope.key": 1},
                            headers={"X-CSRF-Token": csrf})
    problems = (await bad.json())["error"]["problems"]
    assert bad.status == 400 and set(problems) == {"retry.max_retry", "nope.key"}


async def test_env_fixed_values_are_read_only(aiohttp_client: ClientFactory, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK2API_RETRY_MAX_RETRY", "5")
    client = await aiohttp_client(make_admin_app(tmp_path))
    csrf = await login(client)
    page = parse(await (await client.get("/admin/config")).text())
    field = one(page, '[name="retry.max_retry"]')
    assert attr(field, "value") == "5" and field.has_attr("readonly")
    assert "GROK2API_RETRY_MAX_RETRY" in text(page) and "env" in {text(s) for s in page.select(".src.env")}
    resp = await client.post("/api/v1/admin/config", json={"retry.max_retry": 1}, headers={"X-CSRF-Token": csrf})
    assert (await resp.json())["ignored_env_fixed"] == ["retry.max_retry"]
    assert client.app[LIVE_SETTINGS].current.retry.max_retry == 5


async def test_refused_default_password_cannot_be_saved(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    resp = await client.post("/api/v1/admin/config", json={"app.app_password": "CHANGE_ME_NOW"},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 400
    assert "refused" in (await resp.json())["error"]["problems"]["app.app_password"]


async def test_a_secret_can_be_cleared_and_urls_are_validated(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    live = client.app[LIVE_SETTINGS]

    async def save_proxy(**changes: str) -> Any:
        page = parse(await (await client.get("/admin/config")).text())
        fields = form_values(one(page, "section#section-proxy")) | changes
        return parse(await (await client.post("/admin/config/proxy", data=fields, headers=hx(csrf))).text())

    saved = await save_proxy(**{"proxy.proxy_url": "http://user:pw@127.0.0.1:3128"})
    assert "Saved 1 value" in text(saved)
    assert live.current.proxy.proxy_url == "http://user:pw@127.0.0.1:3128"
    assert "pw@" not in str(saved)
    # Left as shown it is kept; emptied and saved it is cleared (it said "No changes" before).
    assert "No changes" in text(await save_proxy())
    cleared = await save_proxy(**{"proxy.proxy_url": ""})
    assert "Saved 1 value" in text(cleared) and live.current.proxy.proxy_url == ""
    assert live.current.sources["proxy.proxy_url"] == "admin"
    # A proxy needs one of the proxy schemes, a host and a port; nothing is saved otherwise.
    for bad, why in (("ftp://bad proxy", "must start with http://, https://, socks5://, socks5h://"),
                     ("http://proxy.example", "with a port"), ("socks5://h:99999", "invalid port")):
        refused = await save_proxy(**{"proxy.proxy_url": bad})
        assert why in text(one(refused, ".field-error")), bad
        assert live.current.proxy.proxy_url == ""
    assert (await save_proxy(**{"proxy.proxy_url": "socks5h://127.0.0.1:1080"})).select(".field-error") == []
    # The JSON API: CORS origins must be origins; "" clears a secret there too.
    resp = await client.post("/api/v1/admin/config", headers={"X-CSRF-Token": csrf},
                             json={"security.cors_allow_origins": ["not a url"], "network.grok_url": "grok.com"})
    problems = (await resp.json())["error"]["problems"]
    assert resp.status == 400 and "is not an origin" in problems["security.cors_allow_origins"]
    assert "must be an absolute URL" in problems["network.grok_url"]
    ok = await client.post("/api/v1/admin/config", headers={"X-CSRF-Token": csrf},
                           json={"security.cors_allow_origins": ["https://app.example.com", "http://localhost:3000"],
                                 "proxy.proxy_url": ""})
    assert (await ok.json())["saved"] == ["proxy.proxy_url", "security.cors_allow_origins"]
    assert live.current.proxy.proxy_url == ""


async def test_key_names_are_unique_and_allow_lists_name_catalog_models(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    first = await client.post("/api/v1/admin/keys", json={"name": "Team A"}, headers={"X-CSRF-Token": csrf})
    assert first.status == 201
    again = await client.post("/admin/keys", data={"name": "team a"}, headers=hx(csrf))
    assert again.status == 400 and "already exists" in await again.text()
    other = await (await client.post("/api/v1/admin/keys", json={"name": "B"}, headers=BEARER)).json()
    renamed = await client.patch(f"/api/v1/admin/keys/{other['id']}", json={"name": "TEAM A"}, headers=BEARER)
    assert renamed.status == 400 and "already exists" in (await renamed.json())["error"]["message"]
    # Unknown models are refused, with the likely intended one named; known ones are kept once each.
    bad = await client.post("/api/v1/admin/keys", headers=BEARER,
                            json={"name": "c", "allowed_models": ["grok-4", "grok-44", "gpt-4o-mini"]})
    message = (await bad.json())["error"]["message"]
    assert bad.status == 400 and "`grok-44` (did you mean `grok-4`?)" in message and "`gpt-4o-mini`" in message
    form = await client.post("/admin/keys", data={"name": "c", "allowed_models": "grok-4, nope"}, headers=hx(csrf))
    assert form.status == 400 and "unknown model `nope`" in await form.text()
    good = await client.post("/api/v1/admin/keys", headers=BEARER,
                             json={"name": "c", "allowed_models": ["grok-4", "grok-4"]})
    assert (await good.json())["allowed_models"] == ["grok-4"]
    page = parse(await (await client.get("/admin/keys")).text())
    assert "grok-4" in {text(c) for c in page.select("#catalog-models code")}


async def test_keys_sharing_a_name_from_before_show_their_id(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    storage = client.app[STORAGE]
    for key_id in ("aaaa1111", "bbbb2222"):  # stored directly, as an older version allowed
        await storage.create_key(ApiKeyRecord(id=key_id, name="shared", key_hash=key_id * 8, prefix="sk-x…"))
    rows = parse(await (await client.get("/admin/keys")).text()).select("#keys-table tbody tr")
    names = sorted(text(r.select("td")[0]) for r in rows)
    assert names == ["shared (id aaaa1111)", "shared (id bbbb2222)"]


async def test_hostile_json_bodies_on_the_admin_api_are_400s(client: Client) -> None:
    """Issue 18 point 4: `rpm: 1e309`, floats, absurd limits and empty or malformed bodies were 500s."""
    for raw in (b'{"name": "k", "rpm": 1e309}', b'{"name": "k", "rpm": 1.5}', b'{"name": "k", "rpm": true}',
                b'{"name": "k", "daily_quota": 1000000000000}', b'{"name": "k", "max_concurrent": "1e3"}'):
        resp = await client.post("/api/v1/admin/keys", data=raw, headers={**BEARER, "Content-Type": "application/json"})
        assert resp.status == 400, (raw, await resp.text())
        assert (await resp.json())["error"]["type"] == "admin_error"
    for path in ("/api/v1/admin/keys", "/api/v1/admin/config", "/api/v1/admin/cache/item/delete",
                 "/api/v1/admin/imagine/zip", "/api/v1/admin/password", "/api/v1/admin/login"):
        for raw in (b"", b"{", b"[1, 2]", b"\xff\xfe", b'"text"'):
            resp = await client.post(path, data=raw, headers={**BEARER, "Content-Type": "application/json"})
            assert resp.status == 400, (path, raw, resp.status, await resp.text())
    ok = await client.post("/api/v1/admin/keys", json={"name": "fine", "rpm": 60, "daily_quota": "100"},
                           headers=BEARER)
    assert ok.status == 201 and (await ok.json())["rpm"] == 60
