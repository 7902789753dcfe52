"""Reading the bodies of /v1/images/generations and /v1/images/edits into plain values (no I/O after
the multipart read).

Decisions:
- `n` is 1–10; `response_format` `url` | `b64_json` (`base64` accepted as an alias), default
  `b64_json` as in the seed; `stream` also accepts the form strings true/false/1/0/yes/no.
- `partial_images` (0–3, OpenAI's range) caps the previews streamed per image; absent, every preview
  Grok sends is forwarded up to that maximum (the seed always streamed progress).
- `size` (`WxH`) maps to the nearest supported aspect ratio by log distance, see SIZE_RATIOS;
  `aspect_ratio` may be sent directly. `auto`/absent -> 1:1.
- Edits accept OpenAI multipart (`image` or repeated `image[]`, up to MAX_EDIT_IMAGES) and the
  seed's JSON form (`image` as a URL / data URL, or a list of them); `mask` is refused. Uploaded
  images are typed by their magic bytes, not by the part's content type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from ..edge.body import reading
from ..gateway.jobs import Attachment
from .validate import AttachmentRef, bad

MAX_N = 10
MAX_PARTIAL_IMAGES = 3  # OpenAI's limit for `partial_images`
MAX_EDIT_IMAGES = 3  # the seed and peers send at most a few inputs to imageToImage
# Supported ratios (what the Imagine WebSocket accepts and the seed documents), width / height.
SIZE_RATIOS: dict[str, float] = {
    "1:1": 1.0, "2:3": 2 / 3, "3:2": 3 / 2, "3:4": 3 / 4, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9,
}
# e.g. 1024x1024 -> 1:1, 1024x1536 -> 2:3, 1536x1024 -> 3:2, 1024x1792 / 720x1280 -> 9:16,
#      1792x1024 / 1280x720 -> 16:9, 1024x768 -> 4:3, 768x1024 -> 3:4, 512x512 / 256x256 -> 1:1.
IMAGE_MODEL, EDIT_MODEL = "grok-imagine-1.0", "grok-imagine-1.0-edit"


def aspect_for_size(size: Any, default: str = "1:1") -> str:
    """`WxH` -> the nearest supported ratio; a ratio itself passes through when supported."""
    if size is None or size == "" or size == "auto":
        return default
    if not isinstance(size, str):
        raise bad("`size` must be a string like 1024x1024.", param="size")
    text = size.strip().lower()
    if text in SIZE_RATIOS:
        return text
    try:
        w, h = (float(part) for part in text.split("x", 1))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise bad(f"`size` {size!r} is not WIDTHxHEIGHT.", param="size") from None
    target = math.log(w / h)
    return min(SIZE_RATIOS, key=lambda k: abs(math.log(SIZE_RATIOS[k]) - target))


def parse_n(value: Any) -> int:
    if value is None or value == "":
        return 1
    try:
        n = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and n != value):
            raise ValueError
    except (TypeError, ValueError):
        raise bad("`n` must be an integer.", param="n") from None
    if not 1 <= n <= MAX_N:
        raise bad(f"`n` must be between 1 and {MAX_N}.", param="n")
    return n


def parse_bool(value: Any, param: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise bad(f"`{param}` must be a boolean.", param=param)


def parse_format(value: Any) -> str:
    if value is None or value == "":
        return "b64_json"
    if value == "base64":
        return "b64_json"
    if value not in ("url", "b64_json"):
        raise bad("`response_format` must be `url` or `b64_json`.", param="response_format")
    return str(value)


def parse_partial_images(value: Any) -> int:
    if value is None or value == "":
        return MAX_PARTIAL_IMAGES
    try:
        count = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and count != value):
            raise ValueError
    except (TypeError, ValueError):
        raise bad("`partial_images` must be an integer.", param="partial_images") from None
    if not 0 <= count <= MAX_PARTIAL_IMAGES:
        raise bad(f"`partial_images` must be between 0 and {MAX_PARTIAL_IMAGES}.", param="partial_images")
    return count


def parse_prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad("`prompt` is required.", param="prompt")
    return value


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What generations and edits share: model, prompt, n, response_format, stream, partial_images."""

    model: str
    prompt: str
    n: int
    response_format: str
    stream: bool
    partial_images: int


def parse_image_request(body: dict[str, Any], default_model: str) -> ImageRequest:
    model = body.get("model") or default_model
    if not isinstance(model, str):
        raise bad("`model` must be a string.", "model")
    return ImageRequest(model, parse_prompt(body.get("prompt")), parse_n(body.get("n")),
                        parse_format(body.get("response_format")), parse_bool(body.get("stream"), "stream"),
                        parse_partial_images(body.get("partial_images")))


async def read_form(request: web.Request) -> tuple[dict[str, Any], list[tuple[str, Attachment]]]:
    """Multipart fields and files (files as (field name, Attachment)), size-bounded by client_max_size."""
    fields: dict[str, Any] = {}
    files: list[tuple[str, Attachment]] = []
    async with reading(request):  # the body timeout; a truncated body is a 400, not a parser traceback
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if part.filename is not None:
                data = await part.read(decode=True)
                mime = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
                files.append((name, Attachment(data=bytes(data), mime=mime, name=part.filename)))
            else:
                fields[name] = await part.text()
    return fields, files


def sniff_image(att: Attachment, param: str) -> Attachment:
    """Trust magic bytes over the part's content type (the SDK guesses it from the filename)."""
    head = att.head(12)
    mime = ("image/png" if head.startswith(b"\x89PNG") else "image/jpeg" if head.startswith(b"\xff\xd8")
            else "image/webp" if head[:4] == b"RIFF" and head[8:12] == b"WEBP"
            else "image/gif" if head[:4] == b"GIF8" else "")
    if not att.size:
        raise bad(f"`{param}` is empty.", param=param, code="invalid_attachment")
    if not mime:
        raise bad(f"`{param}` is not a PNG, JPEG, WebP or GIF image.", param=param,
                             code="invalid_attachment")
    att.mime, att.name = mime, att.name or "image"  # the same object: it owns its temporary file, if any
    return att


def image_refs(value: Any) -> list[AttachmentRef]:
    """The seed's JSON `image`: a URL / data URL, or a list of them (or of {url} / {image_url})."""
    items = value if isinstance(value, list) else [value]
    refs = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            inner = item.get("image_url")
            item = item.get("url") or (inner.get("url") if isinstance(inner, dict) else inner)
        if not isinstance(item, str) or not item:
            raise bad("`image` must be a URL or data URL, or a list of them.", param="image")
        refs.append(AttachmentRef(param=f"image[{i}]" if isinstance(value, list) else "image", url=item,
                                  kind="image"))
    return refs
