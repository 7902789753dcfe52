"""What grok.com sees (fakegrok's request record) and what the stats recorder writes, end to end."""

from __future__ import annotations

import base64
import uuid

import openai
import pytest

from grok2api.keys import RECORDER
from grok2api.storage.base import LogQuery
from tests.gateway.conftest import MakeStack
from tests.pngs import png as make_png

TOKEN = "sso-e2e-trace-" + "t" * 32
UA_PREFIX = "Mozilla/5.0 ("


@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_every_upstream_call_carries_the_protocol_cookies_and_headers(make_stack: MakeStack,
                                                                             transport: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport})
    await stack.add_tokens([TOKEN])
    origin = str(stack.fake.make_url("")).rstrip("/")
    image = "data:image/png;base64," + base64.b64encode(make_png()).decode()
    await stack.sdk.chat.completions.create(model="grok-4-fast", messages=[{"role": "user", "content": [
        {"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": image}}]}])
    stream = await stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "streamed"}], stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "Echo: streamed"
    await stack.sdk.chat.completions.create(model="grok-imagine-1.0",
                                            messages=[{"role": "user", "content": "a fox"}])
    await stack.sdk.chat.completions.create(model="grok-imagine-video",
                                            messages=[{"role": "user", "content": "a cat"}])

    records = await stack.fake_requests()
    paths = [r["path"] for r in records]
    chat_path = "/ws/mgw/" if transport == "ws" else "/rest/app-chat/conversations/new"
    for needed in (chat_path, "/http/upload-file-v2/direct", "/ws/imagine/listen"):
        assert any(p.startswith(needed) for p in paths), (needed, paths)
    assert sum(p == "/rest/app-chat/conversations/new" for p in paths) >= 1  # the video request
    assert any(p.endswith(".mp4") for p in paths)  # the video download

    request_ids = []
    for r in records:
        where = f"{r['method']} {r['path']}"
        cookies, headers = r["cookies"], r["headers"]
        if r["path"] in ("/index", "/"):  # the page the local x-statsig-id strategy reads (C4): no account
            assert "sso" not in cookies and "x-statsig-id" not in headers, where
            continue
        # §2.2: both SSO cookies, same value, the account's token.
        assert cookies.get("sso") == TOKEN and cookies.get("sso-rw") == TOKEN, where
        assert headers.get("user-agent", "").startswith(UA_PREFIX), where
        assert headers.get("accept-language"), where
        if r["path"].startswith("/ws/"):
            # §2.7: Origin on every WebSocket upgrade, never x-statsig-id.
            assert headers.get("origin") == origin, where
            assert "x-statsig-id" not in headers, where
            if r["path"].startswith("/ws/mgw"):
                assert cookies.get("x-userid") == r["query"].get("uid"), where
            continue
        # §2.3/§2.5: fetch metadata and a Referer on every HTTP call.
        assert headers.get("referer", "").startswith(origin), where
        assert headers.get("sec-fetch-site") in ("same-origin", "same-site"), where
        if r["path"] != "/http/upload-file-v2/direct":  # GO removes it for upload-v2 only
            rid = headers.get("x-xai-request-id", "")
            assert uuid.UUID(rid).version == 4, where
            request_ids.append(rid)
        if r["path"].startswith("/rest/app-chat/conversations"):
            assert headers.get("origin") == origin, where
            statsig = headers.get("x-statsig-id", "")
            assert statsig and base64.b64decode(statsig + "=" * (-len(statsig) % 4)), where
            assert headers.get("content-type", "").startswith("application/json"), where
    assert request_ids and len(set(request_ids)) == len(request_ids)  # fresh per request


async def test_request_log_totals_match_the_requests_made(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([TOKEN])
    for i in range(4):
        await stack.sdk.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": f"n{i}"}])
    stream = await stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "streamed"}], stream=True)
    [c async for c in stream]
    with pytest.raises(openai.InternalServerError):  # no super account: 503, still logged
        await stack.sdk.chat.completions.create(model="grok-chat-auto", messages=[{"role": "user", "content": "x"}])
    await stack.app[RECORDER].flush()
    entries, total = await stack.storage.query_logs(LogQuery(limit=100))
    assert total == 6 and len(entries) == 6
    assert sorted(e.status for e in entries) == [200] * 5 + [503]
    assert sum(e.stream for e in entries) == 1
    ok = [e for e in entries if e.status == 200]
    assert {e.model for e in ok} == {"grok-4"} and all(e.account and TOKEN not in e.account for e in ok)
    (failed,) = [e for e in entries if e.status == 503]
    assert failed.model == "grok-chat-auto" and failed.error_kind == "no_account"
    _, ok_total = await stack.storage.query_logs(LogQuery(status=200))
    assert ok_total == 5


async def test_abandoned_and_crashed_requests_are_not_logged_as_successes(make_stack: MakeStack) -> None:
    import asyncio

    from grok2api.keys import MEDIA

    stack = await make_stack()
    (acc,) = await stack.add_tokens([TOKEN])
    # A client that goes away mid-stream.
    stack.state.config.token_interval = 0.1
    resp = await stack.http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {stack.sdk.api_key}"},
                                 json={"model": "grok-4", "stream": True,
                                       "messages": [{"role": "user", "content": "long [[tokens:60]]"}]})
    assert (await resp.content.readline()).startswith(b"data: ")
    resp.close()
    for _ in range(50):
        await asyncio.sleep(0.05)
        if (await stack.account(acc)).quota["fast"].remaining == 30:
            break
    stack.state.config.token_interval = 0.0

    # A failure inside the gateway that is not Grok's (the media cache cannot write).
    async def broken_store(*args: object, **kwargs: object) -> str:
        raise OSError("No space left on device")

    stack.app[MEDIA].store_from = broken_store  # type: ignore[method-assign]
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-imagine-1.0",
                                                messages=[{"role": "user", "content": "a fox"}])
    assert info.value.status_code == 500
    await stack.app[RECORDER].flush()
    entries, total = await stack.storage.query_logs(LogQuery(limit=10))
    assert total == 2
    by_model = {e.model: e for e in entries}
    abandoned, crashed = by_model["grok-4"], by_model["grok-imagine-1.0"]
    assert abandoned.status != 200 and abandoned.error_kind, abandoned
    assert crashed.status == 500 and crashed.error_kind, crashed
    _, ok_total = await stack.storage.query_logs(LogQuery(status=200))
    assert ok_total == 0
