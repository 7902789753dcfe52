"""Video jobs (OpenAI async shape) and the seed's /v1/videos/generations through the real stack."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import openai
import pytest

from grok2api.gateway.video_jobs import NAMESPACE, VideoJobs
from grok2api.keys import STORAGE, VIDEO_JOBS
from tests.media.conftest import Stack
from tests.media.test_images import png

# The SDK warns that OpenAI's own Sora API is shutting down; the shape is what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def is_mp4(data: bytes) -> bool:
    return len(data) > 16 and data[4:8] == b"ftyp"


async def test_job_lifecycle_to_a_downloadable_mp4(stack: Stack) -> None:
    video = await stack.sdk.videos.create(prompt="a paper boat on a river", seconds="8", size="1280x720")
    assert video.object == "video" and video.status in ("queued", "in_progress")
    assert video.id.startswith("video_")
    done = await stack.sdk.videos.poll(video.id, poll_interval_ms=50)
    assert done.status == "completed", done.error
    assert done.progress == 100 and done.completed_at
    assert done.seconds == "10"  # 8 s maps to Grok's 10
    content = await stack.sdk.videos.download_content(video.id)
    assert is_mp4(await content.aread())
    # the job is in storage, so another worker (or this one after a restart) answers
    other_worker = VideoJobs(stack.app[STORAGE], "another-worker", lambda: 60.0)
    doc = await other_worker.get(video.id)
    assert doc is not None and doc["status"] == "completed" and doc["_file"]
    body = [r["json"] for r in await stack.fake_requests(path="/rest/app-chat/conversations/new")]
    assert any('"resolutionName": "720p"' in json.dumps(b) for b in body)  # size 1280x720


async def test_poll_header_and_unknown_id(stack: Stack) -> None:
    async with stack.http.post("/v1/videos", headers=stack.headers(), json={"prompt": "clouds"}) as resp:
        assert resp.status == 200
        assert resp.headers["openai-poll-after-ms"]
        job = await resp.json()
    async with stack.http.get(f"/v1/videos/{job['id']}", headers=stack.headers()) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == job["id"]
    with pytest.raises(openai.NotFoundError):
        await stack.sdk.videos.retrieve("video_nope")
    await stack.sdk.videos.poll(job["id"], poll_interval_ms=50)


async def test_moderated_video_job_fails_with_reason(stack: Stack) -> None:
    video = await stack.sdk.videos.create(prompt="[[moderated]] something")
    done = await stack.sdk.videos.poll(video.id, poll_interval_ms=50)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "content_policy_violation"
    with pytest.raises(openai.BadRequestError):
        await stack.sdk.videos.download_content(video.id)


async def test_upstream_failure_fails_the_job(stack: Stack) -> None:
    stack.switches(None, server_error=500)
    video = await stack.sdk.videos.create(prompt="a storm")
    done = await stack.sdk.videos.poll(video.id, poll_interval_ms=50)
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "upstream_error"


async def test_image_to_video(stack: Stack) -> None:
    video = await stack.sdk.videos.create(prompt="animate it", input_reference=("in.png", png(), "image/png"))
    done = await stack.sdk.videos.poll(video.id, poll_interval_ms=50)
    assert done.status == "completed", done.error
    assert not await stack.fake_requests(path="/rest/media/post/create")  # no media post any more (C7)
    sent = await stack.fake_requests(path="/rest/app-chat/conversations/new")
    assert "imageToVideo" in sent[-1]["json"]["mediaGenInput"]


async def test_lost_job_is_reported_failed(stack: Stack) -> None:
    jobs = stack.app[VIDEO_JOBS]
    await stack.app[STORAGE].doc_put(NAMESPACE, "video_lost", {
        "id": "video_lost", "object": "video", "status": "in_progress", "progress": 10, "created_at": 1,
        "completed_at": None, "expires_at": 2, "error": None, "model": "grok-imagine-1.0-video",
        "seconds": "6", "size": "16:9", "_updated": jobs.clock() - jobs.stale_after - 1, "_file": "", "_key": ""})
    got = await stack.sdk.videos.retrieve("video_lost")
    assert got.status == "failed" and got.error is not None and got.error.code == "job_lost"


async def test_bad_parameters(stack: Stack) -> None:
    for body, param in (({"prompt": "x", "resolution": "4k"}, "resolution"),
                        ({"prompt": "x", "aspect_ratio": "7:3"}, "aspect_ratio"),
                        ({"prompt": ""}, "prompt"),
                        ({"prompt": "x", "preset": "weird"}, "preset")):
        async with stack.http.post("/v1/videos/generations", headers=stack.headers(), json=body) as resp:
            assert resp.status == 400, body
            assert (await resp.json())["error"]["param"] == param
    async with stack.http.post("/v1/videos", headers=stack.headers(),
                               json={"prompt": "x", "model": "grok-4"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "model_not_supported"


async def test_seed_generations_json(stack: Stack) -> None:
    async with stack.http.post("/v1/videos/generations", headers=stack.headers(), json={
            "model": "grok-imagine-1.0-video", "prompt": "a kite", "aspect_ratio": "9:16",
            "video_length": 6, "resolution": "480p", "preset": "fun"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "stop"
    content = body["choices"][0]["message"]["content"]
    assert "http://gw.example/v1/files/video/" in content
    path = content.split("http://gw.example", 1)[1].split('"')[0].split()[0]
    async with stack.http.get(path) as resp:
        assert resp.status == 200 and is_mp4(await resp.read())
    sent = json.dumps([r["json"] for r in await stack.fake_requests(path="/rest/app-chat/conversations/new")])
    assert "9:16" in sent and "extremely-crazy" in sent  # preset fun


async def test_seed_generations_stream_and_image(stack: Stack) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png()).decode()
    async with stack.http.post("/v1/videos/generations", headers=stack.headers(), json={
            "prompt": "wave", "stream": True, "image": data_url}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        text = await resp.text()
    assert '"object":"chat.completion.chunk"' in text
    assert "/v1/files/video/" in text and text.rstrip().endswith("data: [DONE]")


async def test_seed_generations_moderated(stack: Stack) -> None:
    async with stack.http.post("/v1/videos/generations", headers=stack.headers(),
                               json={"prompt": "[[moderated]] no"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "content_policy_violation"


async def test_unfinished_jobs_marked_interrupted_on_close(stack: Stack) -> None:
    stack.switches(None, slow_first_byte=1)
    video = await stack.sdk.videos.create(prompt="slow one")
    await asyncio.sleep(0.1)
    await stack.app[VIDEO_JOBS].close()
    got = await stack.sdk.videos.retrieve(video.id)
    assert got.status == "failed" and got.error is not None and got.error.code == "interrupted"


async def _seed_720p(stack: Stack) -> str:
    async with stack.http.post("/v1/videos/generations", headers=stack.headers(), json={
            "model": "grok-imagine-1.0-video", "prompt": "a lighthouse", "video_length": 6,
            "resolution": "720p"}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["choices"][0]["message"]["content"]


async def test_720p_on_a_basic_account_is_made_at_480p_and_upscaled(make_stack: Any) -> None:
    from tests.media.conftest import BASIC

    stack = await make_stack(tokens=(BASIC,), pool="basic")
    content = await _seed_720p(stack)
    assert "/v1/files/video/" in content
    made = json.dumps([r["json"] for r in await stack.fake_requests(path="/rest/app-chat/conversations/new")])
    assert '"resolutionName": "480p"' in made and '"resolutionName": "720p"' not in made
    upscales = await stack.fake_requests(path="/rest/media/video/upscale")
    assert len(upscales) == 1 and upscales[0]["cookies"]["sso"] == BASIC


async def test_720p_prefers_a_super_account_over_a_basic_one(make_stack: Any) -> None:
    from grok2api.keys import POOL
    from grok2api.pool.ops import import_tokens
    from tests.media.conftest import BASIC, SUPER

    stack = await make_stack(tokens=(BASIC,), pool="basic")
    await import_tokens(stack.app[STORAGE], SUPER, default_pool="super")
    await stack.app[POOL].sync()
    await _seed_720p(stack)
    made = await stack.fake_requests(path="/rest/app-chat/conversations/new")
    assert {r["cookies"]["sso"] for r in made} == {SUPER}
    assert await stack.fake_requests(path="/rest/media/video/upscale") == []
