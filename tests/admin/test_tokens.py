"""Tokens page and the tokens JSON API: import/merge, masking, filters, pagination, edits, batch, export."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient
from bs4 import Tag

from grok2api.keys import STORAGE
from grok2api.storage.base import account_id_for

from .conftest import PASSWORD
from .html import attr, form_values, one, parse, text

Client = TestClient[Any, Any]
BEARER = {"Authorization": f"Bearer {PASSWORD}"}


def tok(n: int, prefix: str = "tok") -> str:
    return f"{prefix}{n:04d}-" + "x" * 40 + f"-{n:04d}end"


def hx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


async def test_import_by_paste_and_file_then_list(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    resp = await client.post("/admin/tokens/import", data={"text": f"{tok(1)}\n# comment\nsso={tok(2)}; other=1\nnot a token!",
                                                           "pool": "super"}, headers=hx(csrf))
    assert resp.status == 200
    result = parse(await resp.text())
    assert "2 added" in text(result) and "1 skipped" in text(result)
    assert [text(s) for s in one(result, '[role="status"]').select("strong")] == ["2", "0", "1"]  # added, updated, skipped
    assert resp.headers["HX-Trigger"] == "tokens-changed"
    # A JSON file upload through the same form (multipart).
    export = json.dumps({"version": 1, "accounts": [{"token": tok(3), "pool": "basic", "tags": ["vip"], "note": "n3"}]})
    from aiohttp import FormData
    form = FormData()
    form.add_field("pool", "basic")
    form.add_field("file", export.encode(), filename="tokens.json", content_type="application/json")
    resp = await client.post("/admin/tokens/import", data=form, headers=hx(csrf))
    assert "<strong>1</strong> added" in await resp.text()
    listing = await (await client.get("/api/v1/admin/tokens")).json()
    assert listing["total"] == 3
    by_pool = {i["id"]: i["pool"] for i in listing["items"]}
    assert by_pool[account_id_for(tok(1))] == "super"
    assert by_pool[account_id_for(tok(3))] == "basic"


async def test_api_add_merges_and_never_drops_tags(client: Client) -> None:
    first = await client.post("/api/v1/admin/tokens", headers=BEARER,
                              json={"pool": "basic", "tokens": [{"token": tok(1), "tags": ["nsfw"], "note": "keep"}, tok(2)]})
    assert (await first.json())["added"] == 2
    # The seed replaced the whole pool here and lost the nsfw tag; we merge.
    again = await client.post("/api/v1/admin/tokens", headers=BEARER, json={"pool": "super", "tokens": [tok(1), tok(3)]})
    body = await again.json()
    assert (body["added"], body["updated"]) == (1, 1)
    items = {i["id"]: i for i in (await (await client.get("/api/v1/admin/tokens", headers=BEARER)).json())["items"]}
    assert len(items) == 3  # tok(2), absent from the second call, is still there
    one = items[account_id_for(tok(1))]
    assert one["tags"] == ["nsfw"] and one["note"] == "keep" and one["nsfw"] is True
    assert one["pool"] == "basic"  # a known account keeps its pool unless the item names one
    # The seed's {ssoBasic: [...]} map is merged the same way.
    seed = await client.post("/api/v1/admin/tokens", headers=BEARER, json={"ssoSuper": [tok(4)]})
    assert (await seed.json())["added"] == 1


async def test_tokens_are_masked_everywhere_in_html(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    tokens = [tok(i) for i in range(3)]
    await client.post("/api/v1/admin/tokens", json={"tokens": tokens}, headers={"X-CSRF-Token": csrf})
    aid = account_id_for(tokens[0])
    pages = [await (await client.get(p)).text() for p in
             ("/admin/tokens", f"/admin/tokens/{aid}/edit", f"/admin/tokens/{aid}", "/admin/stats")]
    api = await (await client.get("/api/v1/admin/tokens")).text()
    for html in pages + [api]:
        for t in tokens:
            assert t not in html
            assert t[6:-4] not in html  # not even the middle part
    assert tokens[0][:6] + "…" + tokens[0][-4:] in pages[0]


async def test_fragment_or_page_with_vary(logged_in: tuple[Client, str]) -> None:
    client, _ = logged_in
    full = await client.get("/admin/tokens")
    part = await client.get("/admin/tokens", headers={"HX-Request": "true"})
    boosted = await client.get("/admin/tokens", headers={"HX-Request": "true", "HX-Boosted": "true"})
    for resp in (full, part, boosted):
        assert resp.headers["Vary"] == "HX-Request"
    full_html, part_html = await full.text(), await part.text()
    full_page, fragment = parse(full_html), parse(part_html)
    assert full_html.startswith("<!doctype html>") and full_page.body is not None
    assert fragment.body is None and fragment.html is None and one(fragment, "#tokens-count")
    assert (await boosted.text()).startswith("<!doctype html>")
    # The page includes exactly the fragment htmx gets: its first element, whole, inside the body.
    first = next(el for el in fragment.children if isinstance(el, Tag))
    assert first.get("id") and str(one(full_page, f"#{first['id']}")) == str(first)


async def test_filters_and_pagination(client: Client) -> None:
    tokens = [tok(i) for i in range(60)]
    await client.post("/api/v1/admin/tokens", headers=BEARER, json={"pool": "basic", "tokens": tokens[:45]})
    await client.post("/api/v1/admin/tokens", headers=BEARER, json={"pool": "super", "tokens": tokens[45:]})
    storage = client.app[STORAGE]
    await storage.update_account(account_id_for(tokens[3]), tags=["nsfw", "eu"], note="needle in a haystack")
    await storage.update_account(account_id_for(tokens[50]), status="disabled")
    await client.post("/admin/login", data={"username": "admin", "password": PASSWORD})

    async def count(query: str) -> int:
        html = await (await client.get("/admin/tokens" + query, headers={"HX-Request": "true"})).text()
        number, unit, *_ = text(one(parse(html), "#tokens-count")).split()
        assert unit.startswith("account"), html[:300]
        return int(number)

    assert await count("") == 60
    assert await count("?pool=super") == 15
    assert await count("?status=disabled") == 1
    assert await count("?tag=eu") == 1
    assert await count("?nsfw=1") == 1
    assert await count("?q=needle") == 1
    assert await count("?pool=super&status=active") == 14
    page3 = parse(await (await client.get("/admin/tokens?per=25&page=3", headers={"HX-Request": "true"})).text())
    assert len(page3.select('input[name="ids"]')) == 10
    shown = text(page3)
    assert "page 3 of 3" in shown and "next ›" not in shown and "‹ previous" in shown
    api = await (await client.get("/api/v1/admin/tokens?pool=super&offset=10&limit=10")).json()
    assert api["total"] == 15 and len(api["items"]) == 5


async def test_row_edit_enable_disable_delete(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    await client.post("/api/v1/admin/tokens", json={"tokens": [tok(1), tok(2)]}, headers={"X-CSRF-Token": csrf})
    aid = account_id_for(tok(1))
    form = await (await client.get(f"/admin/tokens/{aid}/edit", headers={"HX-Request": "true"})).text()
    assert 'name="tags"' in form and 'name="note"' in form
    row = await (await client.post(f"/admin/tokens/{aid}/edit", data={"tags": "eu, vip, eu", "note": "hello"},
                                   headers=hx(csrf))).text()
    assert row.count('class="tag"') == 2 and "hello" in row
    row = await (await client.post(f"/admin/tokens/{aid}/disable", headers=hx(csrf))).text()
    assert "badge disabled" in row and f"/admin/tokens/{aid}/enable" in row
    row = await (await client.post(f"/admin/tokens/{aid}/enable", headers=hx(csrf))).text()
    assert "badge active" in row
    resp = await client.post(f"/admin/tokens/{aid}/delete", headers=hx(csrf))
    assert resp.status == 200 and resp.headers["HX-Trigger"] == "tokens-changed"
    assert (await (await client.get("/api/v1/admin/tokens")).json())["total"] == 1


async def test_missing_account_is_a_readable_error_in_place(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    resp = await client.post("/admin/tokens/nope/edit", data={"note": "x"}, headers=hx(csrf))
    assert resp.status == 404
    assert resp.headers["HX-Retarget"] == "#flash"
    fragment = parse(await resp.text())
    assert "That account no longer exists." in text(fragment) and "Traceback" not in text(fragment)
    assert fragment.body is None  # an error fragment for htmx, not a page
    page = await client.get("/admin/tokens/nope")
    assert page.status == 404 and parse(await page.text()).body is not None


async def test_batch_delete_all_matching_with_progress_stream(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    await client.post("/api/v1/admin/tokens", json={"pool": "basic", "tokens": [tok(i) for i in range(30)]},
                      headers={"X-CSRF-Token": csrf})
    await client.post("/api/v1/admin/tokens", json={"pool": "super", "tokens": [tok(i, "sup") for i in range(5)]},
                      headers={"X-CSRF-Token": csrf})
    resp = await client.post("/admin/tokens/batch", data={"action": "delete", "scope": "all", "pool": "basic"},
                             headers=hx(csrf))
    confirm = parse(await resp.text())  # first: how many it touches, nothing deleted yet
    assert "Delete 30 accounts? This cannot be undone." in text(one(confirm, ".batch-count"))
    assert (await (await client.get("/api/v1/admin/tokens")).json())["total"] == 35
    resp = await client.post("/admin/tokens/batch", data=form_values(one(confirm, "form")), headers=hx(csrf))
    batch = parse(await resp.text())
    assert resp.status == 200 and "Delete — 30 accounts" in text(batch)
    stream_url = attr(one(batch, "[sse-connect]"), "sse-connect")
    assert stream_url.startswith("/admin/batch/") and stream_url.endswith("/stream")
    job_id = stream_url.split("/")[3]
    stream = await client.get(stream_url)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    body = await stream.text()
    assert "event: done" in body and "Finished: 30 ok, 0 failed of 30." in body
    assert 'value="100"' in body
    remaining = await (await client.get("/api/v1/admin/tokens")).json()
    assert remaining["total"] == 5 and {i["pool"] for i in remaining["items"]} == {"super"}
    job = await (await client.get(f"/api/v1/admin/batch/{job_id}")).json()
    assert job["status"] == "done" and job["percent"] == 100


async def test_batch_needs_a_selection(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    resp = await client.post("/admin/tokens/batch", data={"action": "delete", "scope": "selected"}, headers=hx(csrf))
    assert resp.status == 400
    assert "no accounts selected" in await resp.text()


async def test_api_batch_delete_streams_json(client: Client) -> None:
    await client.post("/api/v1/admin/tokens", headers=BEARER, json={"tokens": [tok(i) for i in range(4)]})
    refused = await client.post("/api/v1/admin/tokens/delete", headers=BEARER, json={})
    assert refused.status == 400  # never "everything" by accident
    started = await client.post("/api/v1/admin/tokens/delete", headers=BEARER,
                                json={"tokens": [tok(0), tok(1)]})
    assert started.status == 202
    info = await started.json()
    stream = await (await client.get(info["stream"], headers=BEARER)).text()
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", stream)
    assert events[-1][0] == "done"
    assert json.loads(events[-1][1])["ok"] == 2
    assert (await (await client.get("/api/v1/admin/tokens", headers=BEARER)).json())["total"] == 2


async def test_export_is_a_download_with_full_tokens(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    await client.post("/api/v1/admin/tokens", json={"tokens": [{"token": tok(1), "tags": ["a"]}, tok(2)]},
                      headers={"X-CSRF-Token": csrf})
    resp = await client.post("/admin/tokens/export", data={"csrf_token": csrf, "scope": "selected", "format": "json",
                                                           "ids": account_id_for(tok(1))})
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.content_type == "application/json"
    data = json.loads(await resp.read())
    assert data["accounts"] == [{"token": tok(1), "pool": "basic", "tags": ["a"], "note": ""}]
    txt = await client.post("/admin/tokens/export", data={"csrf_token": csrf, "scope": "all", "format": "txt"})
    assert sorted((await txt.text()).split()) == sorted([tok(1), tok(2)])
    # Without the CSRF field a cross-site form post cannot pull the tokens.
    assert (await client.post("/admin/tokens/export", data={"scope": "all"})).status == 403
