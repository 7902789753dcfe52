"""Every call for an account leaves through its egress (uploads, media, asset downloads, admin actions, the
quota refresh), the seed's proxy pool and the direct egress keep working with clearances, and the admin and
/metrics show each egress."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from grok2api.access import admin_password
from grok2api.keys import EGRESS, STORAGE, WATCHER
from tests.admin.html import attr, one, parse, text
from tests.egress.conftest import SOURCES, EgressStack, MakeEgressStack
from tests.egress.loopback import ConnectProxy
from tests.pngs import png as make_png

PASSWORD = "correct horse battery staple"
BEARER = {"Authorization": f"Bearer {PASSWORD}"}
HELLO = [{"role": "user", "content": "hello egress"}]
ONE = "egress-media-acct-0123456789"
TWO = "egress-media-acct-9876543210"


def _by_account(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for rec in records:
        seen.setdefault(rec["cookies"].get("sso", ""), set()).add(rec["remote"])
    return seen


async def _admin(es: EgressStack) -> None:
    await admin_password.set_password(es.stack.app[STORAGE], PASSWORD)


async def test_uploads_media_and_asset_downloads_leave_through_the_account_egress(
        make_egress_stack: MakeEgressStack) -> None:
    es = await make_egress_stack()
    await es.stack.add_tokens([ONE])
    png = make_png(16, 16)
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    sdk = es.stack.sdk
    chat = await sdk.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}]}])
    assert chat.choices[0].message.content.startswith("Echo:")
    images = await sdk.images.generate(model="grok-imagine-1.0", prompt="a red fox", n=1)
    assert images.data and base64.b64decode(images.data[0].b64_json or "")[:2] == b"\xff\xd8"  # a JPEG
    video = await sdk.chat.completions.create(model="grok-imagine-video", messages=[{"role": "user", "content": [
        {"type": "text", "text": "make it move"}, {"type": "image_url", "image_url": {"url": url}}]}],
        extra_body={"video_config": {"aspect_ratio": "1:1", "video_length": 6}})
    link = video.choices[0].message.content.split('src="', 1)[1].split('"', 1)[0]
    got = await es.stack.http.get(urlsplit(link).path)
    assert got.status == 200 and (await got.read())[4:8] == b"ftyp"
    records = await es.stack.fake_requests()
    mine = [r for r in records if r["cookies"].get("sso") == ONE]
    paths = {r["path"] for r in mine}
    assert any("upload-file" in p for p in paths) and any(p.startswith("/users/") for p in paths)  # upload, download
    assert "/ws/imagine/listen" in paths and "/rest/app-chat/conversations/new" in paths
    assert len({r["remote"] for r in mine}) == 1 and {r["remote"] for r in records} <= set(SOURCES)
    assert all(r["cookies"].get("cf_clearance") for r in mine[1:])  # all but the first (challenged) call


async def test_admin_account_actions_leave_through_the_account_egress(make_egress_stack: MakeEgressStack) -> None:
    es = await make_egress_stack({"GROK2API_TOKEN_AUTO_REFRESH": "false"})
    await _admin(es)
    http = es.stack.http
    await es.stack.add_tokens([ONE, TWO])
    await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)  # binds one account
    started = await http.post("/api/v1/admin/tokens/refresh", headers=BEARER, json={})
    assert started.status == 202, await started.text()
    stream = await (await http.get((await started.json())["stream"], headers=BEARER)).text()
    done = json.loads(re.findall(r"event: done\ndata: (.*)\n", stream)[-1])
    assert (done["ok"], done["failed"]) == (2, 0)
    voice = await http.post("/api/v1/admin/voice/token", headers=BEARER, json={})
    assert voice.status == 200, await voice.text()
    records = await es.stack.fake_requests()
    bound = {a.token: a.egress for a in await es.stack.storage.all_accounts()}
    assert bound[ONE] and bound[TWO] and bound[ONE] != bound[TWO]  # the refresh bound the second account
    by_account = _by_account(records)
    assert len(by_account[ONE]) == 1 and len(by_account[TWO]) == 1 and by_account[ONE] != by_account[TWO]
    limits = [r for r in records if r["path"] == "/rest/rate-limits"]
    assert {r["cookies"]["sso"] for r in limits} == {ONE, TWO}
    assert any(r["path"] == "/rest/livekit/tokens" for r in records if r["cookies"].get("sso") in (ONE, TWO))


async def test_the_egress_page_the_api_and_a_drain(make_egress_stack: MakeEgressStack) -> None:
    es = await make_egress_stack()
    await _admin(es)
    http = es.stack.http
    ids = await es.stack.add_tokens([ONE, TWO])
    for _ in range(2):
        await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    listing = await (await http.get("/api/v1/admin/egress", headers=BEARER)).json()
    rows = {row["name"]: row for row in listing["data"]}
    first, second = (p.url for p in es.proxies)
    assert set(rows) == {first, second}
    assert sum(r["accounts"] for r in rows.values()) + listing["unbound_accounts"] == 2 and listing["solver"]
    assert all(r["state"] == "up" for r in rows.values())
    used = [r for r in rows.values() if r["accounts"]]
    assert used and all(r["solves"] == 1 and r["requests"] >= 1 and r["clearance_at"] > 0 for r in used)
    # The page, logged in: one row per egress with its numbers and a drain button.
    resp = await http.post("/admin/login", data={"username": "admin", "password": PASSWORD, "next": "/admin/egress"},
                           allow_redirects=False)
    assert resp.status == 303
    page = parse(await (await http.get("/admin/egress")).text())
    assert text(one(page, 'nav a[aria-current="page"]')) == "Egress"
    row = one(page, f"#egress-{rows[first]['id']}")
    assert first in text(row) and text(row.select("td")[1]) == "up"
    form = one(row, "form")
    csrf = attr(one(page, "[data-csrf]"), "data-csrf")
    drained = await http.post(attr(form, "hx-post"), data={"on": "1"},
                              headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert drained.status == 200
    fragment = parse(await drained.text())
    assert "drained" in text(one(fragment, "p.ok")) and text(one(fragment, f"#egress-{rows[first]['id']}").select(
        "td")[1]) == "draining"
    for account_id in ids:
        assert (await es.stack.account(account_id)).egress in ("", second)
    # Drained: the next chats leave only through the other egress.
    await es.stack.clear_requests()
    for _ in range(3):
        await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert {r["remote"] for r in await es.stack.fake_requests()} == {SOURCES[1]}
    refused = await http.post("/api/v1/admin/egress/drain", headers=BEARER, json={"egress": second, "drain": True})
    assert refused.status == 400 and "no other egress" in (await refused.json())["error"]["message"]
    bad = await http.post("/api/v1/admin/egress/drain", headers=BEARER, json={"egress": second, "drain": "yes"})
    assert bad.status == 400
    back = await http.post("/api/v1/admin/egress/drain", headers=BEARER, json={"egress": first, "drain": False})
    assert back.status == 200 and (await back.json())["message"].endswith("takes new accounts again.")


async def test_metrics_count_requests_challenges_and_solves_per_egress(make_egress_stack: MakeEgressStack) -> None:
    es = await make_egress_stack()
    await es.stack.add_tokens([ONE, TWO])
    for _ in range(4):
        await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    body = await (await es.stack.http.get("/metrics")).text()
    views = {v.name: v for v in es.stack.app[EGRESS].snapshot()}
    for name, view in views.items():
        if not view.requests:
            continue
        assert f'grok2api_egress_solves_total{{egress="{name}",outcome="ok"}} 1.0' in body
        assert f'grok2api_egress_challenges_total{{egress="{name}"}} {float(view.challenges)}' in body
        assert re.search(rf'grok2api_egress_requests_total{{egress="{re.escape(name)}",outcome="ok"}} [1-9]', body)
        assert f'grok2api_egress_accounts{{egress="{name}",state="up"}} {float(view.accounts)}' in body


async def test_with_no_egress_configured_calls_go_direct_and_the_direct_egress_is_cleared(
        make_egress_stack: MakeEgressStack, solver: Any) -> None:
    es = await make_egress_stack({"GROK2API_PROXY_EGRESS_URLS": "[]"})
    await es.stack.add_tokens([ONE])
    for _ in range(3):
        await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert es.solver.solves == {"": 1} and "proxy" not in es.solver.requests[0]
    assert {r["remote"] for r in await es.stack.fake_requests()} == {"127.0.0.1"}
    assert (await es.stack.storage.all_accounts())[0].egress == ""  # nothing to bind to
    (view,) = es.stack.app[EGRESS].snapshot()
    assert (view.name, view.solves) == ("direct", 1)


async def test_the_seed_proxy_pool_is_an_egress_that_rotates(make_egress_stack: MakeEgressStack,
                                                             aiohttp_server: Any) -> None:
    spare = ConnectProxy("127.0.0.4")
    await spare.start()
    served: list[str] = []

    async def pool_api(request: web.Request) -> web.Response:
        answer = spare.url if served else es_proxies[0].url
        served.append(answer)
        return web.json_response({"code": 0, "data": {"proxy": answer}})

    app = web.Application()
    app.router.add_get("/proxy", pool_api)
    server = await aiohttp_server(app)
    es = await make_egress_stack({"GROK2API_PROXY_EGRESS_URLS": "[]",
                                  "GROK2API_PROXY_PROXY_POOL_URL": str(server.make_url("/proxy"))})
    es_proxies = es.proxies
    try:
        await es.stack.add_tokens([ONE])
        await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
        (view,) = es.stack.app[EGRESS].snapshot()
        assert (view.name, view.kind, view.current, view.accounts) == ("pool", "pool", es.proxies[0].url, 1)
        await es.proxies[0].stop()  # the pool's proxy dies: after the threshold the pool is asked for another
        for _ in range(3):
            result = await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
            assert result.choices[0].message.content == "Echo: hello egress"
        (view,) = es.stack.app[EGRESS].snapshot()
        assert view.current == spare.url and served == [es.proxies[0].url, spare.url]
        assert es.solver.solves[spare.url] == 1  # the new proxy earned its own clearance
        remotes = {r["remote"] for r in await es.stack.fake_requests() if r["cookies"].get("sso") == ONE}
        assert remotes == {"127.0.0.2", "127.0.0.4"}
    finally:
        await spare.stop()


@pytest.mark.parametrize("secret", ["http://user:hunter2@10.0.0.1:3128"])
async def test_the_config_api_never_shows_egress_credentials_and_keeps_them(make_egress_stack: MakeEgressStack,
                                                                            secret: str) -> None:
    es = await make_egress_stack({"GROK2API_PROXY_EGRESS_URLS": None})  # not fixed by the environment
    await _admin(es)
    http = es.stack.http
    saved = await http.post("/api/v1/admin/config", headers=BEARER, json={"proxy": {"egress_urls": [secret]}})
    assert saved.status == 200, await saved.text()
    shown = await (await http.get("/api/v1/admin/config", headers=BEARER)).json()
    assert "hunter2" not in json.dumps(shown)
    # Posting the redacted form back (what a client that read it does) keeps the stored secret.
    redacted = shown["proxy"]["egress_urls"]["value"] if isinstance(shown["proxy"]["egress_urls"], dict) else None
    assert redacted == ["http://***@10.0.0.1"]
    again = await http.post("/api/v1/admin/config", headers=BEARER, json={"proxy": {"egress_urls": redacted}})
    assert again.status == 200
    overrides = await es.stack.storage.get_config_overrides()
    assert overrides["proxy.egress_urls"] == [secret]
    # Live: the egress pool follows the saved list (at the change watcher's next poll).
    await es.stack.app[WATCHER].poll_once()
    names = {v.name for v in es.stack.app[EGRESS].snapshot()}
    assert any(n.startswith("http://***@10.0.0.1:3128#") for n in names) and len(names) == 1


async def test_the_admin_upstream_check_leaves_through_the_account_egress(make_egress_stack: MakeEgressStack) -> None:
    """The doctor's client for an account is the gateway's view of it: the same egress, with that egress's
    clearance (the fake's Cloudflare binding refuses anything else)."""
    es = await make_egress_stack({"GROK2API_TOKEN_AUTO_REFRESH": "false"})
    await _admin(es)
    http = es.stack.http
    (account,) = await es.stack.add_tokens([ONE])
    await es.stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)  # binds ONE and clears its egress
    before = len(await es.stack.fake_requests())
    resp = await http.post("/admin/login", data={"username": "admin", "password": PASSWORD, "next": "/admin/tokens"},
                           allow_redirects=False)
    assert resp.status == 303
    csrf = attr(one(parse(await (await http.get("/admin/tokens")).text()), "[data-csrf]"), "data-csrf")
    started = await http.post("/admin/tokens/check", data={"ids": account},
                              headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert started.status == 200, await started.text()
    stream_url = attr(one(parse(await started.text()), "[sse-connect]"), "sse-connect")
    body = await (await http.get(stream_url)).text()
    results = dict(re.findall(r'data-step="([\w-]+)"[^>]*data-result="([^"]+)"', body))
    assert results.get("session") == "ok" and results.get("chat_rest") == "ok", body[-2000:]
    checked = [r for r in (await es.stack.fake_requests())[before:] if r["cookies"].get("sso") == ONE]
    bound = {a.token: a.egress for a in await es.stack.storage.all_accounts()}[ONE]
    assert checked and len({r["remote"] for r in checked}) == 1  # one egress for the whole check ...
    assert _by_account(await es.stack.fake_requests())[ONE] == {checked[0]["remote"]} and bound  # ... the account's
