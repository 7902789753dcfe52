"""Video endpoints: OpenAI's asynchronous /v1/videos and the seed's /v1/videos/generations.

Parameters (both shapes; JSON or multipart):
- `model`: a video model; absent or `sora-*` -> the catalog's video model (`grok-imagine-1.0-video`).
- `aspect_ratio` 16:9 | 9:16 | 1:1 | 2:3 | 3:2; else derived from `size` (WxH, nearest ratio); default 16:9.
  A job's `size` is always one of OpenAI's VIDEO_SIZES (the one asked for, else 1280x720 for a
  landscape or square ratio and 720x1280 for a portrait one); `aspect_ratio` says what Grok made.
- `seconds` / `video_length`: 6 or 10; OpenAI's 4/8/12 map to the nearest (4 -> 6, 8 and 12 -> 10).
  A job's `seconds` is the length Grok makes ("6" or "10"): OpenAI's VideoResource types it as any
  string, and the true length is more useful to a client than the one asked for.
- `resolution` / `resolution_name`: 480p | 720p; else from `size` (shorter side >= 720 -> 720p); default 480p.
- `preset`: fun | normal | spicy | custom (default normal).
- image-to-video: OpenAI `input_reference` (multipart file, or {image_url}), or the seed's `image`
  (URL or data URL; SSRF-guarded fetch).
The OpenAI job lives in the storage documents (see grok2api.gateway.video_jobs); `GET /v1/videos/{id}`
answers with an `openai-poll-after-ms` header while the job runs; `/content` serves the cached MP4.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..edge.api_auth import check_model_allowed
from ..edge.body import read_json
from ..errors import ApiError, InvalidRequest, NotFound
from ..gateway.jobs import Attachment, VideoJob
from ..gateway.pump import EventPump, InlineEvents
from ..gateway.video_jobs import VideoJobs, public
from ..keys import API_KEY, CATALOG, DRAIN, GATEWAY, LIVE_SETTINGS, MEDIA, STORAGE, VIDEO_JOBS, WORKER_ID
from .answer import Answer, call_context, idle_timeout, no_client_retry
from .attachments import fetch_policy, load_attachments, total_bound
from .chat import Completion
from .chat_render import CompletionRenderer, MediaLinks
from .images import default_model
from .images_request import parse_bool, parse_prompt, read_form, sniff_image
from .validate import VIDEOS_FIELDS, AttachmentRef, bad, check_fields, json_object

routes = web.RouteTableDef()
VIDEO_MODEL = "grok-imagine-1.0-video"
ASPECTS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "2:3": 2 / 3, "3:2": 3 / 2}
PRESETS = ("fun", "normal", "spicy", "custom")
VIDEO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")  # OpenAI's VideoSize
POLL_AFTER_MS = "1000"


def provide(app: web.Application) -> None:
    """Put the video job runner under VIDEO_JOBS (no I/O; needs STORAGE and WORKER_ID)."""
    app[VIDEO_JOBS] = VideoJobs(app[STORAGE], app[WORKER_ID],
                                lambda: idle_timeout(app[LIVE_SETTINGS].current, "video"))


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cancels the video jobs still running in this worker at shutdown."""
    yield
    await app[VIDEO_JOBS].close()


def _size(value: Any) -> tuple[float, float] | None:
    if not value:
        return None
    try:
        w, h = (float(p) for p in str(value).lower().split("x", 1))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise bad(f"`size` {value!r} is not WIDTHxHEIGHT.", "size") from None
    return w, h


def parse_video(body: dict[str, Any], request: web.Request) -> dict[str, Any]:
    """Validated options: model, prompt, aspect_ratio, seconds, resolution, preset."""
    model = body.get("model") or ""
    if not isinstance(model, str):
        raise bad("`model` must be a string.", "model")
    if not model or model.startswith("sora-"):
        model = default_model(request, "video", VIDEO_MODEL)
    size = _size(body.get("size"))
    aspect = body.get("aspect_ratio")
    if aspect:
        if aspect not in ASPECTS:
            raise bad(f"`aspect_ratio` must be one of {', '.join(ASPECTS)}.", "aspect_ratio")
    elif size:
        target = math.log(size[0] / size[1])
        aspect = min(ASPECTS, key=lambda k: abs(math.log(ASPECTS[k]) - target))
    else:
        aspect = "16:9"
    raw_seconds = body.get("video_length", body.get("seconds"))
    if raw_seconds in (None, ""):
        seconds = 6
    else:
        try:
            value = float(raw_seconds)
        except (TypeError, ValueError):
            raise bad("`seconds` must be a number (6 or 10).", "seconds") from None
        if not 1 <= value <= 20:
            raise bad("`seconds` must be 6 or 10.", "seconds")
        seconds = 6 if value < 8 else 10
    resolution = body.get("resolution") or body.get("resolution_name")
    if resolution:
        if resolution not in ("480p", "720p"):
            raise bad("`resolution` must be 480p or 720p.", "resolution")
    else:
        resolution = "720p" if size and min(size) >= 720 else "480p"
    preset = body.get("preset") or "normal"
    if preset not in PRESETS:
        raise bad(f"`preset` must be one of {', '.join(PRESETS)}.", "preset")
    return {"model": model, "prompt": parse_prompt(body.get("prompt")), "aspect_ratio": aspect,
            "seconds": seconds, "resolution": resolution, "preset": preset}


def openai_size(asked: Any, aspect: str) -> str:
    """The job's `size` in OpenAI's enum: as asked when it is one, else by the ratio's orientation."""
    if isinstance(asked, str) and asked.lower() in VIDEO_SIZES:
        return asked.lower()
    return "720x1280" if ASPECTS[aspect] < 1 else "1280x720"


async def read_body(request: web.Request) -> tuple[dict[str, Any], list[tuple[str, Attachment]]]:
    if request.content_type.startswith("multipart/"):
        return await read_form(request)
    body = json_object(await read_json(request))
    check_fields(body, VIDEOS_FIELDS)
    return body, []


async def input_image(request: web.Request, body: dict[str, Any],
                      files: list[tuple[str, Attachment]]) -> Attachment | None:
    for name, att in files:
        if name in ("input_reference", "image"):
            return sniff_image(att, name)
    ref = body.get("input_reference") or body.get("image")
    if isinstance(ref, dict):
        inner = ref.get("image_url")
        ref = ref.get("url") or (inner.get("url") if isinstance(inner, dict) else inner)
    if not ref:
        return None
    if not isinstance(ref, str):
        raise bad("`image` must be a URL or data URL.", "image")
    loaded = await load_attachments([AttachmentRef(param="image", url=ref, kind="image")], fetch_policy(request),
                                    total_bound(request))
    return sniff_image(loaded[0], "image")


def check_video_model(request: web.Request, model: str) -> None:
    """The key may use the model and it is a video model: checked before any input image is fetched."""
    check_model_allowed(request.get(API_KEY), model)
    try:
        request.app[GATEWAY].route(model, ("video",))
    except ApiError as exc:
        raise no_client_retry(exc) from None


def make_job(request: web.Request, opts: dict[str, Any], image: Attachment | None, stream: bool) -> VideoJob:
    check_video_model(request, opts["model"])
    return VideoJob(model=opts["model"], prompt=opts["prompt"], aspect_ratio=opts["aspect_ratio"],
                    seconds=opts["seconds"], resolution=opts["resolution"], preset=opts["preset"],
                    image=image, ctx=call_context(request, stream))


# -- OpenAI asynchronous shape ------------------------------------------------------
@routes.post("/v1/videos")
async def create_video(request: web.Request) -> web.Response:
    body, files = await read_body(request)
    opts = parse_video(body, request)
    check_video_model(request, opts["model"])  # before the input image is fetched
    job = make_job(request, opts, await input_image(request, body, files), False)
    gateway = request.app[GATEWAY]
    doc = await request.app[VIDEO_JOBS].create(
        {"model": opts["model"], "prompt": opts["prompt"], "seconds": str(opts["seconds"]),
         "size": openai_size(body.get("size"), opts["aspect_ratio"]), "aspect_ratio": opts["aspect_ratio"],
         "resolution": opts["resolution"], "preset": opts["preset"],
         "_key": job.ctx.key_id}, lambda: gateway.video(job))
    return web.json_response(public(doc), headers={"openai-poll-after-ms": POLL_AFTER_MS})


async def _job(request: web.Request) -> dict[str, Any]:
    doc = await request.app[VIDEO_JOBS].get(request.match_info["video_id"])
    key = request.get(API_KEY)
    # Jobs are visible to the key that made them (any key when made without a managed key).
    if doc is None or (doc.get("_key") and (key is None or key.id != doc["_key"])):
        raise NotFound(f"No video with id `{request.match_info['video_id']}`.", code="video_not_found")
    return doc


@routes.get("/v1/videos/{video_id}")
async def get_video(request: web.Request) -> web.Response:
    doc = await _job(request)
    headers = {"openai-poll-after-ms": POLL_AFTER_MS} if doc["status"] in ("queued", "in_progress") else {}
    out = public(doc)
    if doc["status"] == "completed":
        base = request.app[LIVE_SETTINGS].current.app.app_url.rstrip("/")
        out["url"] = f"{base}/v1/files/video/{doc['_file']}"
    return web.json_response(out, headers=headers)


@routes.get("/v1/videos/{video_id}/content")
async def video_content(request: web.Request) -> web.StreamResponse:
    doc = await _job(request)
    variant = request.query.get("variant", "video")
    if variant != "video":
        raise NotFound(f"The `{variant}` variant is not available for Grok videos.", param="variant",
                       code="variant_not_found")
    if doc["status"] != "completed":
        raise InvalidRequest(f"The video is {doc['status']}, not completed.", code="video_not_ready")
    media = request.app[MEDIA]
    path = media.path("video", doc["_file"])
    if path is None or not path.is_file():
        raise NotFound("The video file was removed from the cache.", code="file_not_found")
    return web.FileResponse(path, headers={"Content-Type": media.mime("video", doc["_file"])})


# -- the seed's shape ------------------------------------------------------------------
@routes.post("/v1/videos/generations")
async def video_generations(request: web.Request) -> web.StreamResponse:
    settings = request.app[LIVE_SETTINGS].current
    body, files = await read_body(request)
    opts = parse_video(body, request)
    stream = parse_bool(body.get("stream"), "stream")
    check_video_model(request, opts["model"])  # before the input image is fetched
    job = make_job(request, opts, await input_image(request, body, files), stream)
    if request.app[CATALOG].get(opts["model"]) is None:  # route() above already refused it
        raise InvalidRequest("unknown model", param="model")
    renderer = CompletionRenderer(
        links=MediaLinks(request.app[MEDIA], settings.app.app_url, settings.app.image_format,
                         settings.app.video_format),
        filter_tags=[], show_reasoning=True, think_tags=False, progress=stream, max_tokens=None)
    try:
        events = request.app[GATEWAY].video(job)
        pump = EventPump(events) if stream else InlineEvents(events)  # only a stream sends keepalives
    except ApiError as exc:
        raise no_client_retry(exc) from None
    answer = Answer(pump, renderer, idle_timeout(settings, "video"), request.config_dict[DRAIN], 0)
    completion = Completion(opts["model"], False, answer)
    try:
        if stream:
            return await completion.stream(request, settings.performance.sse_keepalive_sec)
        pieces = await answer.collect()
        if renderer.finish_reason == "content_filter":
            raise InvalidRequest("Grok moderated the video for this prompt.", code="content_policy_violation",
                                 param="prompt")
        return completion.json(pieces)
    except ApiError as exc:
        raise no_client_retry(exc) from None
    finally:
        await answer.close()

