"""Image edit and video over REST (§6, §7): G4 `mediaGenInput` bodies, the legacy media-post shapes, upscale."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from .errors import ErrorKind, UpstreamError
from .events import Done, Event, ImageProgress, ImageReady
from .headers import rest_headers
from .options import UpstreamConfig
from .rest_chat import DEVICE_ENV, NEW_PATH, RestStreamParser, run_stream
from .transport import Call, Transport
from .uploads import UploadedFile

POST_CREATE_PATH = "/rest/media/post/create"
UPSCALE_PATH = "/rest/media/video/upscale"
EDIT_MODEL = "imagine-image-edit"
VIDEO_MODEL = "imagine-video-gen"
IMAGE_MODEL = "imagine-image-gen"
QUALITY_PER_CALL = 4
PRESET_FLAGS = {"fun": "extremely-crazy", "normal": "normal", "spicy": "extremely-spicy-or-crazy"}
LEGACY_LENGTHS = (6, 10, 15)
_VIDEO_ID = re.compile(r"/generated/([0-9a-fA-F-]{8,})/|/([0-9a-fA-F-]{8,})/generated_video")


def video_message(prompt: str, preset: str) -> str:
    """The prompt with its preset flag (§7.1): fun/normal/spicy, anything else custom."""
    return f"{prompt} --mode={PRESET_FLAGS.get(preset, 'custom')}"


def build_edit_body(prompt: str, file_ids: Sequence[str], aspect_ratio: str = "") -> dict[str, Any]:
    """G4 image edit: exactly these six keys (§6.2)."""
    spec: dict[str, Any] = {"prompt": prompt, "inputAssets": list(file_ids)}
    if aspect_ratio:
        spec["aspectRatio"] = aspect_ratio
    return {"modelName": EDIT_MODEL, "message": prompt, "enableImageStreaming": True, "enableSideBySide": True,
            "sendFinalMetadata": True, "mediaGenInput": {"imageToImage": spec}}


def build_video_body(prompt: str, *, aspect_ratio: str, seconds: int, resolution: str, preset: str) -> dict[str, Any]:
    """G4 text-to-video: exactly these eight keys, no media post (§7.3)."""
    return {
        "modelName": VIDEO_MODEL,
        "message": video_message(prompt, preset),
        "enableImageStreaming": True,
        "enableSideBySide": True,
        "sendFinalMetadata": True,
        "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {}}},
        "mediaGenInput": {"textToVideo": {"prompt": prompt, "aspectRatio": aspect_ratio or "1:1",
                                          "duration": max(1, min(15, int(seconds))),
                                          "resolutionName": resolution if resolution in ("480p", "720p") else "720p"}},
        "kind": "CONVERSATION_KIND_IMAGINE",
    }


def build_image_video_body(prompt: str, file_id: str, *, aspect_ratio: str, seconds: int, resolution: str,
                           preset: str) -> dict[str, Any]:
    """Image-to-video as the browser sends it (C7): `mediaGenInput.imageToVideo`, empty modelMap, no media post."""
    mode = PRESET_FLAGS.get(preset, "custom")
    spec: dict[str, Any] = {"inputAssets": [file_id], "aspectRatio": aspect_ratio or "1:1",
                            "duration": max(1, min(15, int(seconds))),
                            "resolutionName": resolution if resolution in ("480p", "720p") else "480p", "mode": mode}
    if prompt.strip():
        spec = {"prompt": prompt, **spec}
    return {
        "modelName": VIDEO_MODEL,
        "message": f"{prompt} --mode={mode}".strip(),
        "enableImageStreaming": True,
        "enableSideBySide": True,
        "sendFinalMetadata": True,
        "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {}}},
        "mediaGenInput": {"imageToVideo": spec},
        "kind": "CONVERSATION_KIND_IMAGINE",
    }


def build_quality_image_body(prompt: str, n: int, aspect_ratio: str) -> dict[str, Any]:
    """Quality images over REST (C12): `mediaGenInput.textToImage` with mode "quality"."""
    return {
        "modelName": IMAGE_MODEL, "message": prompt, "enableImageStreaming": True, "enableSideBySide": True,
        "sendFinalMetadata": True,
        "mediaGenInput": {"textToImage": {"prompt": prompt, "numOfImages": max(1, min(QUALITY_PER_CALL, n)),
                                          "aspectRatio": aspect_ratio or "1:1", "modelName": IMAGE_MODEL,
                                          "mode": "quality"}},
    }


def build_legacy_edit_body(prompt: str, image_urls: Sequence[str], parent_post_id: str, config: UpstreamConfig) -> dict[str, Any]:
    """G1/G2 image edit: §3.1 body with modelMap.imageEditModelConfig (§6.1)."""
    return {
        "deviceEnvInfo": dict(DEVICE_ENV), "disableMemory": config.disable_memory, "disableSearch": False,
        "disableSelfHarmShortCircuit": False, "disableTextFollowUps": True, "enableImageGeneration": True,
        "enableImageStreaming": True, "enableSideBySide": True, "fileAttachments": [], "forceConcise": False,
        "forceSideBySide": False, "imageAttachments": [], "imageGenerationCount": 2, "isAsyncChat": False,
        "isReasoning": False, "message": prompt, "modelName": EDIT_MODEL, "modelMode": None,
        "returnImageBytes": False, "returnRawGrokInXaiRequest": False, "sendFinalMetadata": True,
        "temporary": config.temporary, "toolOverrides": {"imageGen": True},
        "responseMetadata": {"requestModelDetails": {"modelId": EDIT_MODEL}, "modelConfigOverride": {"modelMap": {
            "imageEditModel": "imagine",
            "imageEditModelConfig": {"imageReferences": list(image_urls), "parentPostId": parent_post_id}}}},
    }


def legacy_length(seconds: int) -> int:
    """The nearest length the legacy video model accepts."""
    return min(LEGACY_LENGTHS, key=lambda n: (abs(n - seconds), n))


def build_legacy_video_body(prompt: str, parent_post_id: str, *, aspect_ratio: str, seconds: int, resolution: str,
                            preset: str) -> dict[str, Any]:
    """G2 video: `imagine-video-gen` + videoGenModelConfig on a media post (§7.2)."""
    return {
        "temporary": True, "modelName": VIDEO_MODEL, "message": video_message(prompt, preset),
        "enableSideBySide": True,
        "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {"videoGenModelConfig": {
            "parentPostId": parent_post_id, "aspectRatio": aspect_ratio or "3:2",
            "videoLength": legacy_length(seconds),
            "resolutionName": resolution if resolution in ("480p", "720p") else "480p"}}}},
    }


def parse_post_id(data: Any) -> str:
    """`{"post":{"id":…}}` -> the post id."""
    post = data.get("post") if isinstance(data, dict) else None
    if isinstance(post, dict) and post.get("id"):
        return str(post["id"])
    raise UpstreamError(ErrorKind.UPSTREAM, "media post answer carries no id")


def video_id_from_url(url: str) -> str:
    """The video id inside an asset URL (`/generated/<id>/` or `/<id>/generated_video`), "" if none."""
    match = _VIDEO_ID.search(url)
    return (match.group(1) or match.group(2)) if match else ""


def _media_headers(config: UpstreamConfig, referer_path: str = "/imagine") -> dict[str, str]:
    return rest_headers(config, origin=config.grok_url, referer=config.grok_url + referer_path)


async def create_post(transport: Transport, token: str, body: dict[str, Any], proxy: str | None = None) -> str:
    """`media/post/create` (legacy media only) -> post id."""
    config = transport.config
    call = Call(token, proxy, statsig_path=POST_CREATE_PATH)
    result = await transport.request("POST", config.grok_url + POST_CREATE_PATH, call,
                                     _media_headers(config, ""), json_body=body)
    return parse_post_id(result.json())


async def _media_stream(transport: Transport, token: str, body: dict[str, Any], proxy: str | None,
                        timeout: float) -> AsyncIterator[Event]:
    config = transport.config
    parser = RestStreamParser(config.assets_url, thinking=False, media=True)
    call = Call(token, proxy, statsig_path=NEW_PATH)
    async for event in run_stream(transport, call, config.grok_url + NEW_PATH, _media_headers(config), body,
                                  parser, timeout=timeout):
        yield event


BodyFor = Callable[[int], Awaitable[dict[str, Any]]]  # images still missing -> the next round's body


async def _image_rounds(transport: Transport, token: str, body_for: BodyFor, n: int, proxy: str | None,
                        what: str) -> AsyncIterator[Event]:
    """Upstream rounds until n images came back (a round may give fewer than asked), slots renumbered
    0..n-1 across rounds; a round that gives nothing ends it (another would not do better)."""
    n = max(1, n)
    delivered, rounds, meta = 0, 0, {}
    while delivered < n and rounds < n:
        rounds += 1
        got = 0
        async for event in _media_stream(transport, token, await body_for(n - delivered), proxy,
                                         transport.config.timeout):
            if isinstance(event, ImageReady):
                if delivered + got >= n:
                    continue
                event = replace(event, slot=delivered + got)
                got += 1
            elif isinstance(event, ImageProgress):
                event = replace(event, slot=delivered + event.slot)
            elif isinstance(event, Done):
                meta = event.meta
                continue
            yield event
        if not got:
            break
        delivered += got
    if not delivered:
        raise UpstreamError(ErrorKind.UPSTREAM, f"{what} finished without an image")
    yield Done(meta=meta)


async def edit_image(transport: Transport, token: str, prompt: str, images: Sequence[UploadedFile], *, n: int = 1,
                     aspect_ratio: str = "", proxy: str | None = None) -> AsyncIterator[Event]:
    """Edit uploaded images; one upstream call per round until n images came back (G4 gives one per call)."""
    if not images:
        raise UpstreamError(ErrorKind.BAD_REQUEST, "image edit needs at least one input image")
    config = transport.config

    async def body_for(_missing: int) -> dict[str, Any]:
        if not config.legacy_media:
            return build_edit_body(prompt, [f.file_id for f in images], aspect_ratio)
        urls = [f.url for f in images]
        post_id = await create_post(transport, token, {"mediaType": "MEDIA_POST_TYPE_IMAGE", "mediaUrl": urls[0]},
                                    proxy)
        return build_legacy_edit_body(prompt, urls, post_id, config)

    async for event in _image_rounds(transport, token, body_for, n, proxy, "image edit"):
        yield event


async def quality_images(transport: Transport, token: str, prompt: str, *, n: int = 1, aspect_ratio: str = "1:1",
                         proxy: str | None = None) -> AsyncIterator[Event]:
    """Quality images through REST textToImage (C12); rounds of up to 4 until n came back."""
    async def body_for(missing: int) -> dict[str, Any]:
        return build_quality_image_body(prompt, missing, aspect_ratio)

    async for event in _image_rounds(transport, token, body_for, n, proxy, "quality image generation"):
        yield event


async def video(transport: Transport, token: str, prompt: str, *, aspect_ratio: str = "16:9", seconds: int = 6,
                resolution: str = "480p", preset: str = "normal", image: UploadedFile | None = None,
                proxy: str | None = None) -> AsyncIterator[Event]:
    """Generate a video: `mediaGenInput` textToVideo (G4) or imageToVideo (C7), no media post;
    `legacy_media` switches back to the G2 media-post shapes."""
    config = transport.config
    if image is None and not config.legacy_media:
        body = build_video_body(prompt, aspect_ratio=aspect_ratio, seconds=seconds, resolution=resolution,
                                preset=preset)
    elif image is not None and not config.legacy_media:
        body = build_image_video_body(prompt, image.file_id, aspect_ratio=aspect_ratio, seconds=seconds,
                                      resolution=resolution, preset=preset)
    else:
        post = ({"mediaType": "MEDIA_POST_TYPE_IMAGE", "mediaUrl": image.url} if image is not None
                else {"mediaType": "MEDIA_POST_TYPE_VIDEO", "prompt": prompt})
        post_id = await create_post(transport, token, post, proxy)
        body = build_legacy_video_body(prompt, post_id, aspect_ratio=aspect_ratio, seconds=seconds,
                                       resolution=resolution, preset=preset)
    async for event in _media_stream(transport, token, body, proxy, config.media_timeout):
        yield event


async def upscale(transport: Transport, token: str, video_url_or_id: str, *, proxy: str | None = None) -> str:
    """HD upscale of a generated video -> the HD URL (§7.5)."""
    config = transport.config
    video_id = video_id_from_url(video_url_or_id) or video_url_or_id
    call = Call(token, proxy, statsig_path=UPSCALE_PATH)
    data = (await transport.request("POST", config.grok_url + UPSCALE_PATH, call, _media_headers(config, ""),
                                    json_body={"videoId": video_id})).json()
    url = data.get("hdMediaUrl") if isinstance(data, dict) else None
    if not url:
        raise UpstreamError(ErrorKind.UPSTREAM, "upscale answer carries no hdMediaUrl")
    return str(url)
