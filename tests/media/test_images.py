"""/v1/images/generations and /v1/images/edits through the openai SDK, the real gateway and fakegrok."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import openai
import pytest

from grok2api.api.images_fanout import plan_rounds
from grok2api.api.images_request import aspect_for_size
from tests.media.conftest import Stack
from tests.pngs import png

JPEG, PNG = b"\xff\xd8", b"\x89PNG"



async def fetch_link(stack: Stack, url: str) -> tuple[int, bytes, str]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://gw.example"  # built from app.app_url
    async with stack.http.get(parts.path) as resp:  # no API key: the name is the secret
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


def test_size_table() -> None:
    assert aspect_for_size(None) == "1:1"
    assert aspect_for_size("auto") == "1:1"
    assert aspect_for_size("1024x1024") == "1:1"
    assert aspect_for_size("1024x1536") == "2:3"
    assert aspect_for_size("1536x1024") == "3:2"
    assert aspect_for_size("1024x1792") == "9:16"
    assert aspect_for_size("1792x1024") == "16:9"
    assert aspect_for_size("1024x768") == "4:3"
    assert aspect_for_size("16:9") == "16:9"
    assert plan_rounds(10, 6) == [(0, 6), (6, 4)]
    assert plan_rounds(3, 1) == [(0, 1), (1, 1), (2, 1)]
    assert plan_rounds(4, 99) == [(0, 4)]


async def test_generate_url_n3(stack: Stack) -> None:
    result = await stack.sdk.images.generate(model="grok-imagine-1.0", prompt="a red fox", n=3,
                                             response_format="url", size="1792x1024")
    assert len(result.data) == 3
    urls = [item.url for item in result.data]
    assert len(set(urls)) == 3
    for url in urls:
        status, body, ctype = await fetch_link(stack, url)
        assert status == 200 and ctype.startswith("image/")
        assert body[:2] == JPEG or body[:4] == PNG
    assert result.data[0].revised_prompt == "a red fox"
    ws = [r for r in await stack.fake_requests(path="/ws/imagine") if r.get("ws_messages")]
    sent = [json.loads(m) if isinstance(m, str) else m for r in ws for m in r["ws_messages"]]
    assert any("16:9" in json.dumps(m) for m in sent)  # the size became an aspect ratio upstream


async def test_generate_b64_n4_in_two_rounds(make_stack) -> None:
    stack = await make_stack({"GROK2API_IMAGE_IMAGE_WS_MAX_PER_REQUEST": "2"})
    result = await stack.sdk.images.generate(prompt="blue whale", n=4, response_format="b64_json")
    assert len(result.data) == 4
    blobs = [base64.b64decode(item.b64_json) for item in result.data]
    assert all(b[:2] == JPEG or b[:4] == PNG for b in blobs)
    assert len(set(blobs)) >= 2  # fakegrok derives pixels from prompt and index within a round
    rounds = [r for r in await stack.fake_requests(path="/ws/imagine") if r["method"] == "GET"]
    assert len(rounds) == 2


async def test_generate_default_is_b64_and_n1(stack: Stack) -> None:
    result = await stack.sdk.images.generate(prompt="a lighthouse")
    assert len(result.data) == 1 and result.data[0].b64_json and result.data[0].url is None


async def test_all_moderated_is_content_policy_violation(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await stack.sdk.images.generate(prompt="forbidden [[moderated]]", n=2, response_format="url")
    assert info.value.code == "content_policy_violation"
    assert "moderated" in info.value.message


async def test_bad_requests(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await stack.sdk.images.generate(prompt="x", n=11)
    assert info.value.param == "n"
    with pytest.raises(openai.BadRequestError) as info:
        await stack.sdk.images.generate(prompt="x", model="grok-4")
    assert info.value.code == "model_not_supported"
    with pytest.raises(openai.NotFoundError):
        await stack.sdk.images.generate(prompt="x", model="no-such-model")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.sdk.images.generate(prompt="x", response_format="gif")  # type: ignore[arg-type]
    assert info.value.param == "response_format"


async def test_upstream_failure_is_an_openai_error(stack: Stack) -> None:
    stack.switches(None, imagine_error=True)
    with pytest.raises(openai.APIStatusError) as info:
        await stack.sdk.images.generate(prompt="a cat", response_format="url")
    assert info.value.status_code in (429, 502, 503)
    assert info.value.body and "message" in info.value.body


async def test_stream_events(stack: Stack) -> None:
    stream = await stack.sdk.images.generate(prompt="a small boat", n=2, stream=True, response_format="b64_json")
    types = []
    completed = []
    async for event in stream:
        types.append(event.type)
        if event.type == "image_generation.completed":
            completed.append(base64.b64decode(event.b64_json))
    assert len(completed) == 2
    assert all(b[:2] == JPEG or b[:4] == PNG for b in completed)
    assert "image_generation.partial_image" in types
    assert types[-1] == "image_generation.completed"


async def test_stream_all_moderated_fails_before_headers(stack: Stack) -> None:
    async with stack.http.post("/v1/images/generations", headers=stack.headers(),
                               json={"prompt": "[[moderated]] x", "stream": True}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "content_policy_violation"


async def test_edit_multipart_with_png(stack: Stack) -> None:
    result = await stack.sdk.images.edit(image=("in.png", png(), "image/png"), prompt="make it blue",
                                         response_format="url")
    assert len(result.data) == 1
    status, body, _ = await fetch_link(stack, result.data[0].url)
    assert status == 200 and (body[:2] == JPEG or body[:4] == PNG)
    uploads = await stack.fake_requests(path="/http/upload-file-v2") + await stack.fake_requests(
        path="/rest/app-chat/upload-file")
    assert uploads  # the input went upstream


async def test_edit_multipart_image_list(stack: Stack) -> None:
    result = await stack.sdk.images.edit(image=[("a.png", png(), "image/png"), ("b.png", png(20, 12), "image/png")],
                                         prompt="merge", response_format="b64_json")
    assert result.data[0].b64_json


async def test_edit_json_data_url_and_errors(stack: Stack) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png()).decode()
    async with stack.http.post("/v1/images/edits", headers=stack.headers(),
                               json={"prompt": "sepia", "image": [data_url], "response_format": "url"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["data"][0]["url"].startswith("http://gw.example/v1/files/image/")
    async with stack.http.post("/v1/images/edits", headers=stack.headers(), json={"prompt": "x"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "image"
    async with stack.http.post("/v1/images/edits", headers=stack.headers(),
                               json={"prompt": "x", "image": "data:image/png;base64,bm90IGFuIGltYWdl"}) as resp:
        assert resp.status == 400
    with pytest.raises(openai.BadRequestError) as info:
        await stack.sdk.images.edit(image=("in.png", png(), "image/png"), prompt="x [[moderated]]")
    assert info.value.code == "content_policy_violation"


async def test_requires_api_key(stack: Stack) -> None:
    async with stack.http.post("/v1/images/generations", json={"prompt": "x"}) as resp:
        assert resp.status == 401


async def test_stream_fast_finish_still_writes_every_frame(make_stack) -> None:
    # A long keepalive: the whole answer is held before the headers, then written in full.
    stack = await make_stack({"GROK2API_PERFORMANCE_SSE_KEEPALIVE_SEC": "30"})
    async with stack.http.post("/v1/images/generations", headers=stack.headers(),
                               json={"prompt": "tiny", "n": 2, "stream": True, "response_format": "url"}) as resp:
        assert resp.status == 200
        text = await resp.text()
    assert text.count("event: image_generation.completed") == 2
    assert text.rstrip().endswith("data: [DONE]")


async def test_moderated_scenario_switch_streamed(stack: Stack) -> None:
    stack.switches(None, moderated={"value": True, "times": 1})
    async with stack.http.post("/v1/images/generations", headers=stack.headers(),
                               json={"prompt": "x", "n": 1, "stream": True}) as resp:
        assert resp.status == 400


async def test_partly_moderated_returns_the_rest_and_says_so(make_stack) -> None:
    stack = await make_stack({"GROK2API_IMAGE_IMAGE_WS_MAX_PER_REQUEST": "1"})
    stack.switches(None, moderated={"value": True, "times": 1})  # the first of the two rounds
    async with stack.http.post("/v1/images/generations", headers=stack.headers(),
                               json={"prompt": "two boats", "n": 2, "response_format": "url"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert resp.headers["x-grok2api-moderated"] == "1"
    assert len(body["data"]) == 1
    assert body["grok2api"] == {"requested": 2, "returned": 1, "moderated": 1, "failed": 0}


async def test_edit_stream_events(stack: Stack) -> None:
    stream = await stack.sdk.images.edit(image=("in.png", png(), "image/png"), prompt="add a hat", stream=True)
    types = [event.type async for event in stream]
    assert types and types[-1] == "image_edit.completed"
