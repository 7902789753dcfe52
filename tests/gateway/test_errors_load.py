"""Error classes through the SDK, client disconnects, image edit, and many concurrent streams — real stack."""

from __future__ import annotations

import asyncio

import openai
import pytest

from grok2api.gateway.jobs import Attachment, EditJob
from grok2api.keys import GATEWAY, MEDIA, POOL
from grok2api.storage.base import Quota
from grok2api.upstream.events import ImageReady
from tests.gateway.conftest import MakeStack
from tests.pngs import png as make_png

TOKEN = "sso-e2e-errors-" + "e" * 32
OTHER = "sso-e2e-errors-other-" + "f" * 32
HELLO = [{"role": "user", "content": "hi"}]
FAST_RETRY = {"GROK2API_RETRY_RETRY_BACKOFF_BASE": "0.01", "GROK2API_RETRY_RETRY_BACKOFF_MAX": "0.02"}


async def test_error_classes_are_the_sdks_matching_exceptions(make_stack: MakeStack) -> None:
    stack = await make_stack(FAST_RETRY)
    acc, other = await stack.add_tokens([TOKEN, OTHER])
    with pytest.raises(openai.NotFoundError) as nf:
        await stack.sdk.chat.completions.create(model="grok-nonexistent", messages=HELLO)
    assert nf.value.code == "model_not_found"
    bad_key = openai.AsyncOpenAI(base_url=str(stack.sdk.base_url), api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad_key.chat.completions.create(model="grok-4", messages=HELLO)
    await bad_key.close()
    with pytest.raises(openai.BadRequestError):
        await stack.sdk.chat.completions.create(model="grok-4", messages=[])
    assert await stack.fake_requests() == []  # none of these reached grok.com

    # The upstream refusing the content: 400, not retried on the other account, nobody blamed.
    stack.switches(None, safety_rejected=True)
    with pytest.raises(openai.BadRequestError) as mod:
        await stack.sdk.chat.completions.create(model="grok-imagine-video", messages=HELLO)
    assert mod.value.code == "content_policy_violation"
    tried = {r["cookies"]["sso"] for r in await stack.fake_requests() if r["path"].endswith("/new")}
    assert len(tried) == 1
    for aid in (acc, other):
        rec = await stack.account(aid)
        assert (rec.status, rec.fail_count, rec.quota["video"].remaining) == ("active", 0, 5)
    stack.state.set_switches(None, {"safety_rejected": None})

    # Grok failing on every account: 502 after trying each once, then the SDK's 5xx error.
    stack.switches(None, server_error=500)
    await stack.clear_requests()
    with pytest.raises(openai.InternalServerError) as up:
        await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert up.value.status_code == 502
    assert {r["cookies"]["sso"] for r in await stack.fake_requests()} == {TOKEN, OTHER}
    for aid in (acc, other):  # a 5xx rests the account briefly; it is not blamed as invalid
        rec = await stack.account(aid)
        # The 500 refused the mgw handshake: the counted request never went out, so it is given back.
        assert rec.status == "cooling" and rec.fail_count == 0 and rec.quota["fast"].remaining == 30


async def test_client_disconnect_after_the_request_went_out_spends_the_reservation(make_stack: MakeStack) -> None:
    stack = await make_stack()
    (acc,) = await stack.add_tokens([TOKEN])
    stack.state.config.token_interval = 0.1
    resp = await stack.http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {stack.sdk.api_key}"},
                                 json={"model": "grok-4", "stream": True,
                                       "messages": [{"role": "user", "content": "long [[tokens:60]]"}]})
    assert resp.status == 200
    first = await resp.content.readline()
    assert first.startswith(b"data: ")
    assert (await stack.account(acc)).quota["fast"].remaining == 29  # reserved while streaming
    assert stack.app[POOL].reserved == 1  # the in-flight gauge of /metrics
    resp.close()
    for _ in range(50):
        await asyncio.sleep(0.05)
        if stack.app[POOL].reserved == 0:
            break
    # grok.com counted the request it was answering: the unit stays spent, nothing was served.
    rec = await stack.account(acc)
    assert rec.quota["fast"].remaining == 29 and rec.use_count == 0
    assert stack.app[POOL].reserved == 0


async def test_image_edit_uploads_for_imagine_and_uses_media_gen_input(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([TOKEN])
    png = make_png(16, 16)
    events = [e async for e in stack.app[GATEWAY].edit(EditJob(
        model="grok-imagine-image-edit", prompt="make it blue",
        images=[Attachment(data=png, mime="image/png", name="in.png")]))]
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert ready and all(e.local and not e.moderated for e in ready)
    data = await stack.app[MEDIA].read("image", ready[0].local)
    assert data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"
    records = await stack.fake_requests()
    (upload,) = [r for r in records if "upload-file" in r["path"]]
    assert upload["form"]["file"]["size"] == len(png) and upload["form"]["file_source"]
    (new,) = [r for r in records if r["path"] == "/rest/app-chat/conversations/new"]
    assert "mediaGenInput" in new["json"] and "make it blue" in str(new["json"]["mediaGenInput"])


async def test_200_concurrent_streams_each_get_their_exact_text(make_stack: MakeStack) -> None:
    stack = await make_stack()
    tokens = [f"super-e2e-load-{i}-" + "l" * 32 for i in range(2)]
    for acc in await stack.add_tokens(tokens, pool="super"):
        await stack.storage.set_quota(acc, "fast", Quota(140, 140, 7200))
    await stack.pool.load()
    stack.state.config.token_interval = 0.005

    async def one(i: int) -> str:
        stream = await stack.sdk.chat.completions.create(
            model="grok-4", stream=True, messages=[{"role": "user", "content": f"client {i} [[tokens:5]]"}])
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert results == ["Echo: w1 w2 w3 w4"] * 200
    remaining = [(await stack.account(a.id)).quota["fast"].remaining for a in stack.pool.accounts()]
    assert sum(remaining) == 280 - 200
