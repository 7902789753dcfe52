"""The whole stack against the strict fake (§0.2): anti-bot and stale-page answers never blame an account,
typed stream errors land in their kind, basic videos are clamped, the strategy counters move."""

from __future__ import annotations

import base64
import re
from typing import Any

import openai
import pytest
from aiohttp import web

from grok2api.upstream.rest_chat import NEW_PATH
from tests.gateway.conftest import MakeStack, Stack

BASIC = "sso-e2e-basic-" + "b" * 32
BASIC_2 = "sso-e2e-basic2-" + "c" * 32
SUPER = "super-e2e-" + "s" * 32
X1_72 = base64.b64encode(b"x1:TypeError: Cannot read properties of undefined (reading 'abcdefghij')").decode()
VIDEO = "grok-imagine-1.0-video"
ADMIN_PASSWORD = "admin-password-for-e2e-42"


async def admin_session(stack: Stack) -> dict[str, str]:
    """Log in to the admin like a person; the headers an htmx request of that session sends."""
    from tests.admin.conftest import login

    csrf = await login(stack.http, ADMIN_PASSWORD)
    return {"X-CSRF-Token": csrf, "HX-Request": "true"}


async def untouched(stack: Stack, account_id: str) -> None:
    """No cooldown, no failure count, no status change."""
    rec = await stack.account(account_id)
    assert (rec.status, rec.fail_count, rec.cooldown_until) == ("active", 0, 0.0), rec


async def video(stack: Stack, prompt: str, seconds: int = 6) -> Any:
    resp = await stack.http.post("/v1/videos/generations", headers=stack.headers(),
                                 json={"model": VIDEO, "prompt": prompt, "seconds": seconds})
    return resp.status, await resp.json()


async def signer_url(aiohttp_server: Any) -> str:
    """A signer that always gives the same value, as one that caches does: the second media call replays it."""

    async def sign(request: web.Request) -> web.Response:
        return web.json_response({"x-statsig-id": X1_72})

    app = web.Application()
    app.router.add_post("/sign", sign)
    return str((await aiohttp_server(app)).make_url("/sign"))


async def test_stale_page_on_video_is_retried_once_and_the_account_stays_active(
        make_stack: MakeStack, aiohttp_server: Any) -> None:
    stack = await make_stack({"GROK2API_CHAT_STATSIG_SIGNER_URL": await signer_url(aiohttp_server),
                              "GROK2API_CHAT_TRANSPORT": "rest"})
    (account,) = await stack.add_tokens([SUPER], pool="super")
    assert (await video(stack, "rain"))[0] == 200  # the signer goes first (seed precedence); its value is new
    await stack.clear_requests()
    status, body = await video(stack, "snow")
    assert status == 200 and "<video" in body["choices"][0]["message"]["content"]
    sent = [r for r in await stack.fake_requests() if r["path"] == NEW_PATH]
    assert len(sent) == 2 and sent[0]["headers"]["x-statsig-id"] == X1_72  # stale (C3), then a fresh local value
    assert len(base64.b64decode(sent[1]["headers"]["x-statsig-id"])) == 70
    await untouched(stack, account)
    metrics = await (await stack.http.get("/metrics")).text()
    assert re.search(r'grok2api_statsig_total\{outcome="stale",path="/rest/app-chat/conversations/new",'
                     r'strategy="signer"\} 1\.0', metrics)
    assert re.search(r'grok2api_statsig_total\{outcome="ok",path="/rest/app-chat/conversations/new",'
                     r'strategy="local"\} 1\.0', metrics)


async def test_anti_bot_on_every_strategy_is_a_503_naming_anti_bot_and_no_account_pays(
        make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": "rest", "GROK2API_APP_APP_PASSWORD": ADMIN_PASSWORD})
    ids = await stack.add_tokens([BASIC, BASIC_2])
    stack.switches(None, anti_bot=True)
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    body = info.value.body
    assert isinstance(body, dict) and "anti-bot" in body["message"] and body["code"] == "upstream_anti_bot"
    assert "upstream error" not in body["message"]
    for account_id in ids:
        await untouched(stack, account_id)
    sent = [r for r in await stack.fake_requests() if r["path"] == NEW_PATH]
    lengths = {len(base64.b64decode(r["headers"]["x-statsig-id"])) for r in sent}
    assert lengths == {70, 72}  # local and fallback were both tried (signer and manual have no value here)
    assert all(not base64.b64decode(r["headers"]["x-statsig-id"]).startswith(b"e:") for r in sent)
    await admin_session(stack)
    page = await (await stack.http.get("/admin/stats")).text()
    line = re.search(r'<p id="antibot">([^<]*)</p>', page)
    assert line and re.match(r"anti-bot: local 0 ok / \d+ refused .*fallback 0 ok / \d+ refused", line.group(1))


@pytest.mark.parametrize(("marker", "cools"), [("usage_pool_exhausted", True), ("concurrency_limit", False),
                                               ("model_not_available", False)])
async def test_typed_stream_errors_through_the_gateway(make_stack: MakeStack, marker: str, cools: bool) -> None:
    stack = await make_stack()
    ids = await stack.add_tokens([BASIC, BASIC_2])
    with pytest.raises(openai.APIStatusError) as info:
        await stack.sdk.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": f"hi [[stream_error:{marker}]]"}])
    assert info.value.status_code == 503
    chats = [r for r in await stack.fake_requests() if r["path"].startswith("/ws/mgw")]
    assert len({r["cookies"]["sso"] for r in chats}) == 2  # tried elsewhere
    for account_id in ids:
        rec = await stack.account(account_id)
        if cools:  # usage exhausted: that account rests (its bucket)
            assert rec.status == "cooling" and rec.cooldown_until > 0
        else:  # transient / model not served: nobody's fault
            assert (rec.status, rec.fail_count, rec.cooldown_until) == ("active", 0, 0.0)


async def test_moderated_stream_error_is_the_clients_400(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([BASIC])
    with pytest.raises(openai.BadRequestError) as info:
        await stack.sdk.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi [[stream_error:content_moderated]]"}])
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "content_policy_violation"


async def test_a_10s_video_on_a_basic_account_is_made_at_6s(make_stack: MakeStack) -> None:
    stack = await make_stack()
    (account,) = await stack.add_tokens([BASIC])
    status, body = await video(stack, "a long river", seconds=10)
    assert status == 200, body
    content = body["choices"][0]["message"]["content"]
    assert "<video" in content and "at most 6 s on basic accounts" in content and "10 s were asked for" in content
    sent = [r for r in await stack.fake_requests() if r["path"] == NEW_PATH]
    assert len(sent) == 1 and sent[0]["json"]["mediaGenInput"]["textToVideo"]["duration"] == 6  # not retried
    await untouched(stack, account)
    job = await (await stack.http.post("/v1/videos", headers=stack.headers(),
                                       json={"model": VIDEO, "prompt": "another river", "seconds": "10"})).json()
    for _ in range(100):
        doc = await (await stack.http.get(f"/v1/videos/{job['id']}", headers=stack.headers())).json()
        if doc["status"] in ("completed", "failed"):
            break
        import asyncio
        await asyncio.sleep(0.05)
    assert doc["status"] == "completed" and doc["seconds"] == "6" and "at most 6 s" in doc["note"]


async def test_admin_models_check_button(make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_APP_APP_PASSWORD": ADMIN_PASSWORD})
    admin = await admin_session(stack)
    page = await (await stack.http.get("/admin/stats")).text()
    assert 'hx-post="/admin/models/check"' in page
    refused = await stack.http.post("/admin/models/check", headers=admin)
    assert refused.status == 400 and "active account" in await refused.text()
    await stack.add_tokens([BASIC])
    resp = await stack.http.post("/admin/models/check", headers=admin)
    html = await resp.text()
    assert resp.status == 200 and "The catalog agrees with grok.com" in html and "<code>heavy</code> (heavy)" in html
    assert [r["path"] for r in await stack.fake_requests() if r["path"] == "/rest/modes"] == ["/rest/modes"]
