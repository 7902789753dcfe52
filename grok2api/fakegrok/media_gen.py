"""Media over REST: image edit and video in the G1/G2 (modelMap, media post) and G4 (mediaGenInput) shapes."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from aiohttp import web

from . import frames as fr
from .guards import bad_request, json_object, not_found, protected, rate_limited, replayed
from .keys import ACCOUNT, FAKE_STATE
from .ndjson import Plan, frame, middle, send
from .state import Account, Asset, FakeState, Post
from .synth import seed_of

ASPECTS = frozenset({"auto", "1:1", "2:3", "3:2", "9:16", "16:9", "4:3", "3:4", "2:1", "1:2",
                     "19.5:9", "9:19.5", "20:9", "9:20"})
RESOLUTIONS = {"480p": 480, "720p": 720}


def dims(aspect: str, short_side: int) -> tuple[int, int]:
    """Pixel size for an aspect ratio, the shorter side being `short_side` (multiple of 16)."""
    if aspect == "auto":
        aspect = "1:1"
    w, h = (float(x) for x in aspect.split(":"))
    if w >= h:
        return int(short_side * w / h) // 16 * 16, short_side
    return short_side, int(short_side * h / w) // 16 * 16


def _aspect(value: Any, default: str) -> str:
    if value is None:
        return default
    if value not in ASPECTS:
        raise bad_request(f"unsupported aspectRatio {value!r}")
    return str(value)


def _prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("prompt must be a non-empty string")
    return value


def owned_asset_by_url(state: FakeState, account: Account, url: Any) -> Asset:
    """An asset URL (any origin) naming one of the account's assets."""
    if not isinstance(url, str):
        raise bad_request("asset reference must be a URL string")
    asset = state.asset_at(urllib.parse.urlsplit(url).path)
    if asset is None or asset.owner != account.token:
        raise bad_request(f"asset {url} not found")
    return asset


def _model_map(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("responseMetadata") or {}
    override = meta.get("modelConfigOverride") or {} if isinstance(meta, dict) else {}
    model_map = override.get("modelMap") if isinstance(override, dict) else None
    return model_map if isinstance(model_map, dict) else {}


MEDIA_GEN_KINDS = ("imageToImage", "textToVideo", "imageToVideo", "textToImage")


def _owned_inputs(state: FakeState, account: Account, inputs: Any, most: int) -> list[str]:
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= most:
        raise bad_request(f"inputAssets must list 1..{most} fileMetadataIds")
    for file_id in inputs:
        asset = state.assets.get(file_id) if isinstance(file_id, str) else None
        if asset is None or asset.deleted or asset.owner != account.token:
            raise bad_request(f"input asset {file_id!r} not found")
    return list(inputs)


def _duration(spec: dict[str, Any]) -> int:
    duration = spec.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 15:
        raise bad_request("duration must be 1..15 seconds")
    return duration


def _resolution(spec: dict[str, Any]) -> str:
    resolution = spec.get("resolutionName", "720p")
    if resolution not in RESOLUTIONS:
        raise bad_request("resolutionName must be 480p or 720p")
    return str(resolution)


def _imagine_kind(body: dict[str, Any], spec: dict[str, Any]) -> None:
    if body.get("kind") != "CONVERSATION_KIND_IMAGINE":
        raise bad_request("kind must be CONVERSATION_KIND_IMAGINE")
    if "temporary" in body or "videoGenModelConfig" in _model_map(body) or "parentPostId" in spec:
        raise bad_request("mediaGenInput cannot be combined with the legacy video fields")


async def media_gen_input(request: web.Request, body: dict[str, Any], account: Account) -> web.StreamResponse:
    """`mediaGenInput`: exactly one of imageToImage / textToVideo (§6.2, §7.3), imageToVideo (C7) or
    textToImage with mode quality (C12)."""
    state = request.app[FAKE_STATE]
    gen = body["mediaGenInput"]
    if not isinstance(gen, dict) or len(gen) != 1 or next(iter(gen)) not in MEDIA_GEN_KINDS:
        raise bad_request(f"mediaGenInput must hold exactly one of {', '.join(MEDIA_GEN_KINDS)}")
    if not isinstance(body.get("message"), str):
        raise bad_request("message must be a string")
    if "imageToVideo" in gen:
        return await _image_to_video(request, state, account, body, gen["imageToVideo"])
    if "textToImage" in gen:
        return await _text_to_image(request, state, account, body, gen["textToImage"])
    if "imageToImage" in gen:
        spec = gen["imageToImage"]
        if body.get("modelName") != "imagine-image-edit" or not isinstance(spec, dict):
            raise bad_request("imageToImage needs modelName imagine-image-edit")
        prompt = _prompt(spec.get("prompt"))
        inputs = spec.get("inputAssets")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 8:
            raise bad_request("inputAssets must list 1..8 fileMetadataIds")
        for file_id in inputs:
            asset = state.assets.get(file_id) if isinstance(file_id, str) else None
            if asset is None or asset.deleted or asset.owner != account.token:
                raise bad_request(f"input asset {file_id!r} not found")
        aspect = _aspect(spec.get("aspectRatio"), "1:1")
        return await _edit_stream(request, state, account, body["message"], prompt, inputs, aspect, 1)
    spec = gen["textToVideo"]
    if body.get("modelName") != "imagine-video-gen" or not isinstance(spec, dict):
        raise bad_request("textToVideo needs modelName imagine-video-gen")
    _imagine_kind(body, spec)
    return await _video_stream(request, state, account, body["message"], _prompt(spec.get("prompt")),
                               _aspect(spec.get("aspectRatio"), "1:1"), _duration(spec), _resolution(spec))


async def _image_to_video(request: web.Request, state: FakeState, account: Account, body: dict[str, Any],
                          spec: Any) -> web.StreamResponse:
    """C7: `imageToVideo{prompt?, inputAssets, aspectRatio, duration, resolutionName, mode}`, message
    `"<prompt> --mode=<mode>"`, empty modelMap, Referer /imagine, no media post."""
    if body.get("modelName", "imagine-video-gen") != "imagine-video-gen" or not isinstance(spec, dict):
        raise bad_request("imageToVideo needs modelName imagine-video-gen")
    _imagine_kind(body, spec)
    if _model_map(body):
        raise bad_request("imageToVideo takes an empty modelMap")
    if not request.headers.get("Referer", "").rstrip("/").endswith("/imagine"):
        raise bad_request("imageToVideo is sent from the /imagine page")
    inputs = _owned_inputs(state, account, spec.get("inputAssets"), 1)
    mode = spec.get("mode", "custom")
    if mode not in ("custom", "normal", "fun", "spicy", "extremely-crazy", "extremely-spicy-or-crazy"):
        raise bad_request(f"unknown mode {mode!r}")
    message = body["message"]
    if not message.endswith(f"--mode={mode}"):
        raise bad_request("message must end with the --mode flag")
    prompt = spec.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise bad_request("prompt must be a string")
    text = (prompt or message.rsplit("--mode=", 1)[0]).strip() or "image"
    return await _video_stream(request, state, account, message, f"{text} {inputs[0]}",
                               _aspect(spec.get("aspectRatio"), "1:1"), _duration(spec), _resolution(spec))


async def _text_to_image(request: web.Request, state: FakeState, account: Account, body: dict[str, Any],
                         spec: Any) -> web.StreamResponse:
    """C12: quality images, `textToImage{prompt, numOfImages, aspectRatio, modelName, mode:"quality"}`."""
    if not isinstance(spec, dict) or spec.get("modelName") != "imagine-image-gen":
        raise bad_request("textToImage needs modelName imagine-image-gen")
    if spec.get("mode") != "quality":
        raise bad_request("textToImage mode must be quality (fast images use the Imagine WebSocket)")
    count = spec.get("numOfImages", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
        raise bad_request("numOfImages must be 1..4")
    prompt = _prompt(spec.get("prompt"))
    wait = state.consume(account, "imagePro")
    if wait is not None:
        return rate_limited(wait)
    return await _image_stream(request, state, account, body["message"], prompt, [],
                               _aspect(spec.get("aspectRatio"), "1:1"), count, "imagine-image-gen")


async def legacy_image_edit(request: web.Request, body: dict[str, Any], account: Account) -> web.StreamResponse:
    """G1/G2 edit: modelMap.imageEditModelConfig{imageReferences, parentPostId} (§6.1)."""
    state = request.app[FAKE_STATE]
    if body.get("modelMode") is not None:
        raise bad_request("modelMode must be null for imagine-image-edit")
    config = _model_map(body).get("imageEditModelConfig")
    if not isinstance(config, dict):
        raise bad_request("modelMap.imageEditModelConfig is required")
    refs = config.get("imageReferences")
    if not isinstance(refs, list) or not refs:
        raise bad_request("imageReferences must be a non-empty list")
    assets = [owned_asset_by_url(state, account, ref) for ref in refs]
    parent = config.get("parentPostId")
    post = state.posts.get(parent) if isinstance(parent, str) else None
    if (post is None or post.owner != account.token) and parent not in {a.asset_id for a in assets}:
        raise bad_request("parentPostId must name a media post or a referenced asset")
    message = _prompt(body.get("message"))
    return await _edit_stream(request, state, account, message, message, [a.asset_id for a in assets],
                              "1:1", state.config.images_per_edit_legacy)


async def legacy_video(request: web.Request, body: dict[str, Any], account: Account) -> web.StreamResponse:
    """G1 (`grok-3` + toolOverrides.videoGen) and G2 (`imagine-video-gen`) video (§7.1, §7.2)."""
    state = request.app[FAKE_STATE]
    if body.get("modelName") not in ("grok-3", "imagine-video-gen"):
        raise bad_request("video needs modelName grok-3 or imagine-video-gen")
    if body.get("modelMode") is not None:
        raise bad_request("modelMode must be null for video")
    config = _model_map(body).get("videoGenModelConfig")
    if not isinstance(config, dict):
        raise bad_request("modelMap.videoGenModelConfig is required")
    post = state.posts.get(config.get("parentPostId", ""))
    if post is None or post.owner != account.token:
        raise bad_request("parentPostId must name one of your media posts")
    if config.get("isVideoExtension"):
        extended = state.posts.get(config.get("extendPostId", ""))
        if extended is None or extended.owner != account.token or extended.media_type != "MEDIA_POST_TYPE_VIDEO":
            raise bad_request("extendPostId must name one of your video posts")
    length = config.get("videoLength", 6)
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 20:
        raise bad_request("videoLength must be 1..20")
    resolution = config.get("resolutionName", "480p")
    if resolution not in RESOLUTIONS:
        raise bad_request("resolutionName must be 480p or 720p")
    message = _prompt(body.get("message"))
    prompt = message.split(" --mode=", 1)[0] or post.prompt
    return await _video_stream(request, state, account, message, prompt,
                               _aspect(config.get("aspectRatio"), "3:2"), length, resolution)


def _head(state: FakeState, account: Account, message: str, model: str) -> tuple[list[dict[str, Any]], str, str]:
    conv = state.new_conversation(account.token)
    user_id, response_id = fr.new_id(), fr.new_id()
    conv.response_ids += [user_id, response_id]
    out = [{"result": fr.conversation(conv.conversation_id, True)},
           {"result": {"response": fr.user_response(user_id, message, model, [])}}]
    return out, user_id, response_id


async def _edit_stream(request: web.Request, state: FakeState, account: Account, message: str, prompt: str,
                       inputs: list[str], aspect: str, count: int) -> web.StreamResponse:
    wait = state.consume(account, "imageEdit")
    if wait is not None:
        return rate_limited(wait)
    return await _image_stream(request, state, account, message, prompt, inputs, aspect, count, "imagine-image-edit")


async def _image_stream(request: web.Request, state: FakeState, account: Account, message: str, prompt: str,
                        inputs: list[str], aspect: str, count: int, model: str) -> web.StreamResponse:
    out, user_id, response_id = _head(state, account, message, model)
    moderated = "[[moderated]]" in prompt or bool(state.take(account.token, "moderated"))
    finals = []
    for index in range(count):
        part, final = fr.generated_image(state, account.token, account.uid,
                                         seed_of(prompt, *inputs, index), dims(aspect, 768))
        image_id = fr.image_id_of(final)
        out.append({"result": {"response": fr.image_progress(image_id, part, 50, index, False, response_id)}})
        out.append({"result": {"response": fr.image_progress(image_id, final, 100, index, moderated, response_id)}})
        if not moderated:
            finals.append(final)
    return await _finish(request, state, account, out, response_id, user_id, finals, [], "")


async def _video_stream(request: web.Request, state: FakeState, account: Account, message: str, prompt: str,
                        aspect: str, seconds: int, resolution: str) -> web.StreamResponse:
    if state.config.video_tier_limit and account.tier == "basic" and seconds > state.config.basic_video_max_seconds:
        return rate_limited(state.config.rate_limit_wait)  # C6: free accounts get 429 for longer videos
    wait = state.consume(account, "video720p" if resolution == "720p" else "video")
    if wait is not None:
        return rate_limited(wait)
    out, user_id, response_id = _head(state, account, message, "imagine-video-gen")
    moderated = "[[moderated]]" in prompt or bool(state.take(account.token, "moderated"))
    video_id, post_id = fr.new_id(), fr.new_id()
    width, height = dims(aspect, RESOLUTIONS[resolution])
    base = f"users/{account.uid}/generated/{video_id}"
    seed = seed_of(prompt, aspect, seconds)
    state.posts[post_id] = Post(post_id, account.token, "MEDIA_POST_TYPE_VIDEO", base + "/generated_video.mp4",
                                prompt, time.time())
    for progress in (1, 25, 57):
        out.append({"result": {"response": {"streamingVideoGenerationResponse": {
            "videoId": video_id, "progress": progress, "videoPostId": post_id, "resolutionName": resolution,
            "moderated": False}, "responseId": response_id}}})
    done: dict[str, Any] = {"videoId": video_id, "progress": 100, "videoPostId": post_id,
                            "resolutionName": resolution, "moderated": moderated}
    files: list[str] = []
    if not moderated:
        now = time.time()
        state.add_asset(Asset(video_id, account.token, base + "/generated_video.mp4", "video/mp4",
                              "generated_video.mp4", now, recipe=("mp4", seed, width // 4, height // 4, seconds),
                              source="SOURCE_GENERATED"))
        state.add_asset(Asset(video_id + "-thumb", account.token, base + "/preview_image.jpg", "image/jpeg",
                              "preview_image.jpg", now, recipe=("jpeg", seed, width, height), listed=False,
                              source="SOURCE_GENERATED"))
        done.update(assetId=video_id, videoUrl=base + "/generated_video.mp4",
                    thumbnailImageUrl=base + "/preview_image.jpg")
        files.append(base + "/generated_video.mp4")
    out.append({"result": {"response": {"streamingVideoGenerationResponse": done, "responseId": response_id}}})
    return await _finish(request, state, account, out, response_id, user_id, [], files,
                         "" if moderated else "I generated a video")


async def _finish(request: web.Request, state: FakeState, account: Account, out: list[dict[str, Any]],
                  response_id: str, user_id: str, images: list[str], files: list[str],
                  soft_stop_text: str) -> web.StreamResponse:
    progress_frames = len(out) - 2
    errors = [{"message": "generation failed", "code": 13}] if state.take(account.token, "stream_error") else []
    out.append({"result": {"response": fr.model_response(response_id, user_id, "", images=images, files=files,
                                                          errors=errors)}})
    out.append({"result": {"response": {"token": soft_stop_text, "isSoftStop": True, "responseId": response_id}}})
    plan = Plan([frame(o, state.config.ndjson_prefix) for o in out])
    cut = state.take(account.token, "stream_cut")
    if cut:
        plan.cut_at, plan.cut_mode = 2 + middle(progress_frames), str(cut)
    stall = state.take(account.token, "stall")
    if stall:
        plan.stall_at, plan.stall_seconds = 2 + middle(progress_frames), float(stall)
    return await send(request, plan)


@protected("signed")
async def post_create(request: web.Request) -> web.Response:
    """`media/post/create`: an IMAGE post over one of your assets, or a VIDEO post from a prompt (§6.1, §7.1)."""
    stale = replayed(request)
    if stale is not None:
        return stale
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    media_type = body.get("mediaType")
    url, prompt = "", ""
    if media_type == "MEDIA_POST_TYPE_IMAGE":
        owned_asset_by_url(state, account, body.get("mediaUrl"))
        url = body["mediaUrl"]
    elif media_type == "MEDIA_POST_TYPE_VIDEO":
        prompt = _prompt(body.get("prompt"))
    else:
        raise bad_request("mediaType must be MEDIA_POST_TYPE_IMAGE or MEDIA_POST_TYPE_VIDEO")
    post = Post(fr.new_id(), account.token, media_type, url, prompt, time.time())
    state.posts[post.post_id] = post
    return web.json_response({"post": {"id": post.post_id, "userId": account.uid,
                                       "createTime": fr.now_rfc3339(False), "prompt": prompt,
                                       "mediaType": media_type, "mediaUrl": url, "childPosts": []}})


@protected("rest")
async def post_create_link(request: web.Request) -> web.Response:
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    post = state.posts.get(body.get("postId", "")) if isinstance(body.get("postId"), str) else None
    if post is None or post.owner != account.token:
        raise not_found("Post not found")
    if not isinstance(body.get("source", ""), str) or not isinstance(body.get("platform", ""), str):
        raise bad_request("source and platform must be strings")
    return web.json_response({"postId": post.post_id,
                              "shareLink": f"https://grok.com/imagine/post/{post.post_id}?source=post-page"})


@protected("rest")
async def video_upscale(request: web.Request) -> web.Response:
    """`video/upscale {videoId}` → `{hdMediaUrl}`, an absolute URL on the configured assets origin (§7.5)."""
    stale = replayed(request)
    if stale is not None:
        return stale
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    video_id = body.get("videoId")
    video = state.assets.get(video_id) if isinstance(video_id, str) else None
    if video is None or video.deleted or video.owner != account.token or video.mime != "video/mp4":
        raise not_found("Video not found")
    assert video.recipe is not None
    kind, seed, width, height, seconds = video.recipe
    path = video.path.replace("generated_video.mp4", "generated_video_hd.mp4")
    state.add_asset(Asset(f"{video_id}-hd", account.token, path, "video/mp4", "generated_video_hd.mp4",
                          time.time(), recipe=(kind, seed, width * 2, height * 2, seconds), listed=False,
                          source="SOURCE_GENERATED"))
    return web.json_response({"hdMediaUrl": f"{state.config.assets_origin}/{path}"})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/rest/media/post/create", post_create),
        web.post("/rest/media/post/create-link", post_create_link),
        web.post("/rest/media/video/upscale", video_upscale),
    ]
