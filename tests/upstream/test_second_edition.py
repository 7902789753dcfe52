"""The real client against the strict fake: grok.com as it is today (§0.2 C1–C13)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from grok2api.upstream import ChatRequest, GrokClient
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.events import ImageReady, ReasoningDelta, VideoReady
from grok2api.upstream.rest_chat import NEW_PATH
from grok2api.upstream.uploads import upload_v1
from tests.pngs import png

from .conftest import FakeGrok, collect

SUPER = "super-alice"
BASIC = "basic-bob"
E_VALUE = base64.b64encode(b"e:TypeError: Cannot read properties of undefined (reading 'childNodes')!").decode()
X1_72 = base64.b64encode(b"x1:TypeError: Cannot read properties of undefined (reading 'abcdefghij')").decode()


def statsig_bytes(record: dict[str, Any]) -> bytes:
    value = record["headers"]["x-statsig-id"]
    return base64.b64decode(value + "=" * (-len(value) % 4))


async def test_no_e_value_ever_leaves_grok2api(make_client: Callable[..., GrokClient], fake: FakeGrok) -> None:
    # The operator's manual value is an e: text and comes first: it is never sent.
    client = make_client(statsig_strategies=("manual", "local", "fallback"), statsig_value=E_VALUE)
    await collect(client.chat(BASIC, ChatRequest(message="hi", mode="fast", transport="rest")))
    await collect(client.video(SUPER, "rain", seconds=1))
    await client.rate_limits(BASIC, "fast")
    await client.quota_info(BASIC)
    signed = [r for r in await fake.requests() if "x-statsig-id" in r["headers"]]
    assert len(signed) >= 4
    assert all(not statsig_bytes(r).startswith(b"e:") and len(statsig_bytes(r)) in (70, 72) for r in signed)
    assert client.statsig.counts[("manual", NEW_PATH, "unavailable")] >= 2


async def test_local_reads_the_404_index_once_and_signs_every_request(client: GrokClient, fake: FakeGrok) -> None:
    for _ in range(3):
        await collect(client.chat(BASIC, ChatRequest(message="hi", mode="fast", transport="rest")))
    pages = [r["path"] for r in await fake.requests() if r["path"] in ("/index", "/")]
    assert pages == ["/index"]  # the 404 carried the meta: no fallback to / (C4), read once
    values = [r["headers"]["x-statsig-id"] for r in await fake.requests(NEW_PATH)]
    assert len(values) == 3 and len(set(values)) == 3 and all(len(base64.b64decode(v)) == 70 for v in values)
    assert client.statsig.counts[("local", NEW_PATH, "ok")] == 3


@pytest.fixture
async def replaying_signer(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    """A signer that always answers the same 72-byte value (as a signer cache replays one)."""

    async def sign(request: web.Request) -> web.Response:
        body = await request.json()
        assert body["environment"]["metaContent"] and body["method"] == "POST"
        return web.json_response({"x-statsig-id": X1_72})

    app = web.Application()
    app.router.add_post("/sign", sign)
    server = await aiohttp_server(app)
    return str(server.make_url("/sign"))


async def test_stale_page_on_video_is_retried_once_with_a_fresh_value(
        make_client: Callable[..., GrokClient], fake: FakeGrok, replaying_signer: str) -> None:
    client = make_client(statsig_strategies=("signer", "local", "fallback"), statsig_signer_url=replaying_signer)
    first = await collect(client.video(SUPER, "rain", seconds=1))
    await fake.control("DELETE", "/requests")
    second = await collect(client.video(SUPER, "snow", seconds=1))
    assert any(isinstance(e, VideoReady) and e.url for e in first + second)
    sent = await fake.requests(NEW_PATH)
    assert len(sent) == 2  # the replayed signer value (C3), then once more with the next strategy
    assert sent[0]["headers"]["x-statsig-id"] == X1_72 and len(statsig_bytes(sent[1])) == 70
    counts = client.statsig.counts
    assert counts[("signer", NEW_PATH, "stale")] == 1 and counts[("local", NEW_PATH, "ok")] == 1
    assert [s.name for s in client.statsig.order(NEW_PATH, "")][0] == "local"  # signer demoted on this path


async def test_anti_bot_on_every_strategy_is_an_anti_bot_error(make_client: Callable[..., GrokClient],
                                                               fake: FakeGrok) -> None:
    client = make_client(statsig_strategies=("local", "fallback"))
    await fake.scenario(None, anti_bot=True)
    with pytest.raises(UpstreamError) as info:
        await collect(client.chat(BASIC, ChatRequest(message="hi", mode="fast", transport="rest")))
    assert info.value.kind is ErrorKind.ANTI_BOT and info.value.status == 403
    sent = await fake.requests(NEW_PATH)
    assert [len(statsig_bytes(r)) for r in sent] == [70, 72]  # local, then once with fallback
    assert client.statsig.counts[("local", NEW_PATH, "refused")] == 1
    assert client.statsig.counts[("fallback", NEW_PATH, "refused")] == 1


@pytest.mark.parametrize("transport", ["ws", "rest"])
@pytest.mark.parametrize(("marker", "kind"), [
    ("usage_pool_exhausted", ErrorKind.RATE_LIMITED), ("usage_limit_reached", ErrorKind.RATE_LIMITED),
    ("concurrency_limit", ErrorKind.TRANSIENT), ("global_rate_limit", ErrorKind.TRANSIENT),
    ("content_moderated", ErrorKind.MODERATED), ("model_not_available", ErrorKind.MODEL_UNAVAILABLE),
])
async def test_typed_stream_errors_land_in_their_kind(client: GrokClient, transport: str, marker: str,
                                                      kind: ErrorKind) -> None:
    request = ChatRequest(message=f"hi [[stream_error:{marker}]]", mode="fast", mode_id="fast", transport=transport)
    with pytest.raises(UpstreamError) as info:
        await collect(client.chat(BASIC, request))
    assert info.value.kind is kind


async def test_notetaker_thinking_and_the_browser_ping_cadence(client: GrokClient, fake: FakeGrok) -> None:
    events = await collect(client.chat(SUPER, ChatRequest(message="why [[notetaker]]", mode="expert")))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta))  # thinking from NOTETAKER (C8)
    assert client.config.heartbeat_seconds == 3.0


async def test_edge_cookies_are_kept_per_egress_and_account(client: GrokClient, fake: FakeGrok) -> None:
    for token in (BASIC, BASIC, SUPER):
        await client.rate_limits(token, "fast")
    sent = await fake.requests("/rest/rate-limits")
    first, second, other = (r["cookies"] for r in sent)
    assert "__cf_bm" not in first and second.get("__cf_bm")  # set by the edge, sent back (C5)
    assert "__cf_bm" not in other  # another account's cookie never leaks
    assert client.transport.identity.cookies("", SUPER).get("__cf_bm")


async def test_websocket_handshakes_carry_the_http_fingerprint(client: GrokClient, fake: FakeGrok) -> None:
    await collect(client.chat(SUPER, ChatRequest(message="hi", mode="fast")))
    await collect(client.imagine(SUPER, "a fox", n=1))
    await client.rate_limits(SUPER, "fast")
    records = {r["path"]: r for r in await fake.requests()}
    http, mgw, imagine = records["/rest/rate-limits"], records["/ws/mgw/"], records["/ws/imagine/listen"]
    shared = ("user-agent", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "accept-language")
    for ws in (mgw, imagine):
        assert {h: ws["headers"].get(h) for h in shared} == {h: http["headers"].get(h) for h in shared}
        assert ws["http_version"] == http["http_version"] == "1.1"  # plain-HTTP loopback: no ALPN to see
        order = [h for h in ws["header_order"] if h in shared]
        assert order == [h for h in http["header_order"] if h in shared]  # same relative header order
        assert "sec-ch-ua-arch" not in ws["headers"] and "sec-ch-ua-arch" not in http["headers"]  # low entropy only


async def test_high_entropy_hints_only_after_accept_ch(client: GrokClient, fake: FakeGrok) -> None:
    await client.rate_limits(BASIC, "fast")
    await fake.control("PATCH", "/config", {"accept_ch": "Sec-CH-UA-Arch, Sec-CH-UA-Bitness"})
    await client.rate_limits(BASIC, "fast")  # sent before the edge asked; its answer asks
    await client.rate_limits(BASIC, "fast")
    before, asking, after = (r["headers"] for r in await fake.requests("/rest/rate-limits"))
    assert "sec-ch-ua-arch" not in before and "sec-ch-ua-arch" not in asking
    assert after["sec-ch-ua-arch"] == '"x86"' and after["sec-ch-ua-bitness"] == '"64"'


async def test_media_as_the_browser_sends_it(make_client: Callable[..., GrokClient], client: GrokClient,
                                             fake: FakeGrok) -> None:
    uploaded = await client.upload(SUPER, png(), "image/png", "a.png", for_imagine=True)
    events = await collect(client.video(SUPER, "waves", seconds=6, image=uploaded))
    assert any(isinstance(e, VideoReady) and e.url for e in events)
    assert await fake.requests("/rest/media/post/create") == []  # C7: no media post
    body = (await fake.requests(NEW_PATH))[-1]["json"]
    assert body["mediaGenInput"]["imageToVideo"]["inputAssets"] == [uploaded.file_id]
    assert body["message"] == "waves --mode=normal" and body["kind"] == "CONVERSATION_KIND_IMAGINE"
    legacy = make_client(legacy_media=True)
    await collect(legacy.video(SUPER, "waves", seconds=6, image=await upload_v1(
        legacy.transport, SUPER, png(), "image/png", "b.png")))
    assert len(await fake.requests("/rest/media/post/create")) == 1  # the fallback switch keeps the old path
    images = await collect(client.imagine(SUPER, "a quality fox", n=2, pro=True))
    assert len([e for e in images if isinstance(e, ImageReady)]) == 2
    quality = (await fake.requests(NEW_PATH))[-1]["json"]["mediaGenInput"]["textToImage"]
    assert quality["mode"] == "quality" and quality["modelName"] == "imagine-image-gen"
    with pytest.raises(UpstreamError) as info:  # C6: the fake refuses basic videos over 6 s
        await collect(client.video(BASIC, "long", seconds=10))
    assert info.value.kind is ErrorKind.RATE_LIMITED


async def test_modes_lists_what_grok_offers(client: GrokClient) -> None:
    modes = {m.id: m for m in await client.modes(BASIC)}
    assert set(modes) == {"auto", "fast", "expert", "heavy", "build"}
    assert modes["fast"].min_tier == "basic" and modes["heavy"].min_tier == "heavy"
    assert modes["build"].min_tier == "super"
