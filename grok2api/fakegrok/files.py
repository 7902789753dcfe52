"""Uploads v1/v2 (§8.1, §8.2) and assets: download with real bytes, list, delete (§8.3–§8.5)."""

from __future__ import annotations

import base64
import binascii
import datetime
import struct
import time
import uuid
from typing import Any

from aiohttp import BodyPartReader, web

from . import synth as media
from .guards import bad_request, json_error, json_object, not_found, protected
from .keys import ACCOUNT, FAKE_STATE, RECORD
from .state import Account, Asset, FakeState

IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
DOCUMENT_MIMES = frozenset({
    "application/pdf", "application/json", "application/xml", "text/xml", "application/rtf", "text/rtf",
    "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/csv", "text/markdown", "text/html", "text/plain"})
MAX_IMAGE = 32 * 1024 * 1024
MAX_FILE = 64 * 1024 * 1024
IMAGINE_SOURCE = "IMAGINE_SELF_UPLOAD_FILE_SOURCE"


def upload_problem(name: str, mime: str, data: bytes) -> str | None:
    """Why grok.com would refuse this file, or None."""
    if not name:
        return "fileName is required"
    if mime not in IMAGE_MIMES and mime not in DOCUMENT_MIMES:
        return f"unsupported file type {mime}"
    if not data:
        return "file is empty"
    if mime in IMAGE_MIMES:
        if len(data) > MAX_IMAGE:
            return "image larger than 32 MiB"
        magic = {"image/png": data.startswith(b"\x89PNG\r\n\x1a\n"), "image/jpeg": data.startswith(b"\xff\xd8\xff"),
                 "image/gif": data.startswith(b"GIF8"),
                 "image/webp": data[:4] == b"RIFF" and data[8:12] == b"WEBP"}[mime]
        if not magic:
            return f"content is not a valid {mime}"
        if mime == "image/png" and len(data) >= 24 and struct.unpack(">II", data[16:24]) == (1, 1):
            return "image too small"  # 3P: a 1×1 PNG is rejected with 400 (§8.1)
    elif len(data) > MAX_FILE:
        return "file larger than 64 MiB"
    return None


def _store(state: FakeState, account: Account, name: str, mime: str, data: bytes, source: str) -> Asset:
    file_id = str(uuid.uuid4())
    return state.add_asset(Asset(file_id, account.token, f"users/{account.uid}/{file_id}/content", mime, name,
                                 time.time(), data=data, source=source))


def _metadata(asset: Asset) -> dict[str, Any]:
    return {"fileMetadataId": asset.asset_id, "fileId": asset.asset_id, "fileMimeType": asset.mime,
            "fileName": asset.name, "fileUri": asset.path, "parsedFileUri": "",
            "createTime": _stamp(asset.created)}


def _stamp(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@protected("rest")
async def upload_v1(request: web.Request) -> web.Response:
    """JSON `{fileName, fileMimeType, content: base64}` → `{fileMetadataId, fileUri, …}`; bad input → 400."""
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    name, mime, content = body.get("fileName"), body.get("fileMimeType"), body.get("content")
    if not isinstance(name, str) or not isinstance(mime, str) or not isinstance(content, str):
        raise bad_request("fileName, fileMimeType and content must be strings")
    if content.startswith("data:"):
        raise bad_request("content must be bare base64, not a data URI")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("content is not valid base64") from None
    problem = upload_problem(name, mime, data)
    if problem:
        raise bad_request(problem)
    return web.json_response(_metadata(_store(state, account, name, mime, data, "SELF_UPLOAD_FILE_SOURCE")))


@protected("rest")
async def upload_v2(request: web.Request) -> web.Response:
    """multipart `file` (+ optional `file_source`) → `{uploadId, terminalError, fileMetadata}` (§8.2)."""
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    if not request.content_type.startswith("multipart/form-data"):
        raise bad_request("expected multipart/form-data")
    reader = await request.multipart()
    file_part: tuple[str, str, bytes] | None = None
    source: str | None = None
    fields: list[str] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise bad_request("nested multipart is not supported")
        name = part.name
        fields.append(str(name))
        if name == "file":
            data = await part.read()
            mime = part.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
            file_part = (part.filename or "", mime, bytes(data))
        elif name == "file_source":
            source = await part.text()
        else:
            raise bad_request(f"unexpected form field {name!r}")
    record = request.get(RECORD)
    if record is not None:
        record["form"] = {"fields": fields, "file_source": source,
                          "file": None if file_part is None else {"filename": file_part[0], "mime": file_part[1],
                                                                   "size": len(file_part[2])}}
    if file_part is None:
        raise bad_request("form field 'file' is required")
    if source is not None and source != IMAGINE_SOURCE:
        raise bad_request(f"unknown file_source {source!r}")
    upload_id = "up_" + uuid.uuid4().hex
    problem = upload_problem(*file_part)
    if problem:
        return web.json_response({"uploadId": upload_id, "fileMetadata": None,
                                  "terminalError": {"code": "INVALID_FILE", "message": problem}})
    asset = _store(state, account, *file_part, source or "SELF_UPLOAD_FILE_SOURCE")
    return web.json_response({"uploadId": upload_id, "terminalError": None, "fileMetadata": _metadata(asset)})


def asset_bytes(asset: Asset) -> bytes:
    if asset.data is not None:
        return asset.data
    assert asset.recipe is not None
    kind, *args = asset.recipe
    if kind == "jpeg":
        return media.jpeg(*args)
    if kind == "mp4":
        return media.mp4(*args)
    if kind == "png-noise":
        return media.noise_png(*args)
    return media.gradient_png(*args)


def _serve(request: web.Request, asset: Asset) -> web.Response:
    data = asset_bytes(asset)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    spec = request.headers.get("Range", "")
    if spec.startswith("bytes=") and "," not in spec:
        start_text, _, end_text = spec[6:].partition("-")
        try:
            start = int(start_text) if start_text else len(data) - int(end_text)
            end = int(end_text) if start_text and end_text else len(data) - 1
        except ValueError:
            start, end = -1, -1
        if not 0 <= start <= end or start >= len(data):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        end = min(end, len(data) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return web.Response(status=206, body=data[start:end + 1], content_type=asset.mime, headers=headers)
    return web.Response(body=data, content_type=asset.mime, headers=headers)


@protected("rest")
async def download(request: web.Request) -> web.Response:
    """GET assets.grok.com/users/<UID>/…: only the owning account may fetch (§8.4)."""
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    asset = state.asset_at(request.path)
    if asset is None:
        return json_error(404, 5, "asset not found")
    if asset.owner != account.token:
        return json_error(403, 7, "permission denied")
    return _serve(request, asset)


@protected("public")
async def download_public(request: web.Request) -> web.Response:
    """The Imagine CDN (imagine-public.x.ai/imagine-public/images/<uuid>.png|jpg) needs no cookie."""
    asset = request.app[FAKE_STATE].asset_at(request.path)
    if asset is None:
        return json_error(404, 5, "image not found")
    return _serve(request, asset)


def _asset_json(asset: Asset) -> dict[str, Any]:
    stamp = _stamp(asset.created)
    return {"assetId": asset.asset_id, "mimeType": asset.mime, "name": asset.name,
            "sizeBytes": str(len(asset_bytes(asset))), "createTime": stamp, "lastUseTime": stamp,
            "summary": "", "previewImageKey": "", "key": asset.path, "isDeleted": False, "isLatest": True,
            "fileSource": asset.source}


ORDERS = frozenset({"ORDER_BY_LAST_USE_TIME", "ORDER_BY_CREATE_TIME"})
WORKSPACES = frozenset({"WORKSPACE_KIND_IMAGINE_ALL", "WORKSPACE_KIND_CHAT"})
SOURCES = {"SOURCE_ANY": None, "SOURCE_SELF_UPLOAD": False, "SOURCE_GENERATED": True}


@protected("rest")
async def list_assets(request: web.Request) -> web.Response:
    """`GET /rest/assets?pageSize&orderBy&source&isLatest[&pageToken]` → `{assets, nextPageToken}`."""
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    query = request.query
    try:
        size = int(query.get("pageSize", "50"))
        offset = int(query["pageToken"][1:]) if "pageToken" in query else 0
    except ValueError:
        raise bad_request("pageSize and pageToken must be valid") from None
    if not 1 <= size <= 1000 or offset < 0:
        raise bad_request("pageSize must be 1..1000")
    if query.get("orderBy", "ORDER_BY_LAST_USE_TIME") not in ORDERS:
        raise bad_request("unknown orderBy")
    if query.get("workspaceKind", "WORKSPACE_KIND_IMAGINE_ALL") not in WORKSPACES:
        raise bad_request("unknown workspaceKind")
    source = query.get("source", "SOURCE_ANY")
    if source not in SOURCES:
        raise bad_request("unknown source")
    if query.get("isLatest", "true") not in ("true", "false"):
        raise bad_request("isLatest must be true or false")
    generated = SOURCES[source]
    mine = [a for a in reversed(state.assets.values())
            if a.owner == account.token and a.listed and not a.deleted
            and (generated is None or (a.source == "SOURCE_GENERATED") == generated)]
    page = mine[offset:offset + size]
    body: dict[str, Any] = {"assets": [_asset_json(a) for a in page]}
    if offset + size < len(mine):
        body["nextPageToken"] = f"p{offset + size}"
    return web.json_response(body)


@protected("rest")
async def delete_asset(request: web.Request) -> web.Response:
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    asset = state.assets.get(request.match_info["asset_id"])
    if asset is None or asset.deleted or asset.owner != account.token:
        raise not_found("asset not found")
    asset.deleted = True
    return web.json_response({})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/rest/app-chat/upload-file", upload_v1),
        web.post("/http/upload-file-v2/direct", upload_v2),
        web.get("/rest/assets", list_assets),
        web.delete("/rest/assets-metadata/{asset_id}", delete_asset),
        web.get("/users/{tail:.+}", download),
        web.get("/imagine-public/images/{name}", download_public),
    ]
