"""POST /v1/images/generations and /v1/images/edits: OpenAI image bodies -> gateway jobs.

Parsing is images_request.py, the parallel upstream rounds images_fanout.py, the JSON and SSE
answers images_render.py. `model` defaults to the catalog's image model (`grok-imagine-1.0`, else
the first image model; edits: `grok-imagine-1.0-edit`, else the first edit model). The seed's
generation with an `image` is an edit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..edge.api_auth import check_model_allowed
from ..edge.body import read_json
from ..errors import ApiError, InvalidRequest
from ..gateway.jobs import Attachment, EditJob, ImageJob
from ..keys import API_KEY, CATALOG, GATEWAY, LIVE_SETTINGS, MEDIA_SLOTS
from ..upstream.events import Event
from .answer import call_context, no_client_retry
from .attachments import fetch_policy, load_attachments, total_bound
from .images_fanout import Producer, plan_rounds
from .images_render import ImagesRenderer
from .images_request import (
    EDIT_MODEL,
    IMAGE_MODEL,
    MAX_EDIT_IMAGES,
    aspect_for_size,
    image_refs,
    parse_image_request,
    read_form,
    sniff_image,
)
from .validate import IMAGES_FIELDS, check_fields, json_object

routes = web.RouteTableDef()


def provide(app: web.Application) -> None:
    """Put the media concurrency limiter under MEDIA_SLOTS (sized from the settings at build time)."""
    app[MEDIA_SLOTS] = asyncio.Semaphore(app[LIVE_SETTINGS].current.performance.media_max_concurrent)


def default_model(request: web.Request, kind: str, preferred: str) -> str:
    catalog = request.app[CATALOG]
    if preferred in catalog:
        return preferred
    for route in catalog.all():
        if route.kind == kind:
            return route.id
    return preferred


@routes.post("/v1/images/generations")
async def generations(request: web.Request) -> web.StreamResponse:
    body = json_object(await read_json(request))
    check_fields(body, IMAGES_FIELDS)
    if body.get("image"):  # the seed turns a generation with an image into an edit
        return await _edit(request, body, [])
    settings = request.app[LIVE_SETTINGS].current
    req = parse_image_request(body, default_model(request, "image", IMAGE_MODEL))
    model, prompt, n, stream = req.model, req.prompt, req.n, req.stream
    aspect = (aspect_for_size(body["aspect_ratio"], "1:1") if body.get("aspect_ratio")
              else aspect_for_size(body.get("size")))
    check_model_allowed(request.get(API_KEY), model)
    gateway = request.app[GATEWAY]
    ctx = call_context(request, stream)
    plan = plan_rounds(n, settings.image.image_ws_max_per_request)
    try:
        gateway.route(model, ("image",))
    except ApiError as exc:
        raise no_client_retry(exc) from None

    def round_of(count: int) -> Callable[[], AsyncIterator[Event]]:
        return lambda: gateway.images(ImageJob(model=model, prompt=prompt, n=count, aspect_ratio=aspect, ctx=ctx))

    images = ImagesRenderer(request, req)
    producer = Producer([round_of(c) for _, c in plan], [o for o, _ in plan], request.app[MEDIA_SLOTS])
    try:
        if stream:
            return await images.stream(producer, "image_generation")
        return await images.collect(producer)
    finally:
        await producer.close()


@routes.post("/v1/images/edits")
async def edits(request: web.Request) -> web.StreamResponse:
    if request.content_type.startswith("multipart/"):
        fields, files = await read_form(request)
        if any(name == "mask" for name, _ in files) or fields.get("mask"):
            raise InvalidRequest("`mask` is not supported by Grok image edits.", param="mask")
        images = [sniff_image(att, name) for name, att in files if name in ("image", "image[]")]
        return await _edit(request, fields, images)
    body = json_object(await read_json(request))
    check_fields(body, IMAGES_FIELDS)
    if body.get("mask"):
        raise InvalidRequest("`mask` is not supported by Grok image edits.", param="mask")
    return await _edit(request, body, [])


async def _edit(request: web.Request, body: dict[str, Any], images: list[Attachment]) -> web.StreamResponse:
    req = parse_image_request(body, default_model(request, "edit", EDIT_MODEL))
    if not images and body.get("image"):
        images = [sniff_image(a, "image") for a in
                  await load_attachments(image_refs(body["image"]), fetch_policy(request), total_bound(request))]
    if not images:
        raise InvalidRequest("`image` is required.", param="image")
    if len(images) > MAX_EDIT_IMAGES:
        raise InvalidRequest(f"At most {MAX_EDIT_IMAGES} input images are supported.", param="image")
    check_model_allowed(request.get(API_KEY), req.model)
    gateway = request.app[GATEWAY]
    ctx = call_context(request, req.stream)
    try:
        gateway.route(req.model, ("edit", "image"))
    except ApiError as exc:
        raise no_client_retry(exc) from None
    job = EditJob(model=req.model, prompt=req.prompt, images=images, n=req.n, ctx=ctx)
    result = ImagesRenderer(request, req, input_images=len(images))
    producer = Producer([lambda: gateway.edit(job)], [0], request.app[MEDIA_SLOTS])
    try:
        if req.stream:
            return await result.stream(producer, "image_edit")
        return await result.collect(producer)
    finally:
        await producer.close()
