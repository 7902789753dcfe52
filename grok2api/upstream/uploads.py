"""Attachment uploads: v2 multipart (§8.2) with the v1 base64 JSON endpoint (§8.1) as fallback."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curl_cffi import CurlMime

from .errors import ErrorKind, UpstreamError
from .frames import asset_url
from .headers import rest_headers
from .transport import Call, Transport

V2_PATH = "/http/upload-file-v2/direct"
V1_PATH = "/rest/app-chat/upload-file"
IMAGINE_SOURCE = "IMAGINE_SELF_UPLOAD_FILE_SOURCE"
# v2 missing on this upstream (or this deployment of it): try the older endpoint.
_FALLBACK_STATUSES = frozenset({404, 405, 501})


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """An attachment stored on grok.com for one account."""

    file_id: str  # fileMetadataId: goes into fileAttachments / inputAssets / file_mention
    file_uri: str = ""  # users/<UID>/<id>/content
    url: str = ""  # absolute asset URL (media post mediaUrl, imageReferences)
    mime: str = ""
    name: str = ""


def parse_v2(data: Any, assets_url: str, mime: str, name: str) -> UploadedFile:
    """v2 answer -> UploadedFile; id preference fileMetadataId, fileId, uploadId; terminalError = refused."""
    if not isinstance(data, dict):
        raise UpstreamError(ErrorKind.UPSTREAM, "unexpected upload answer")
    if data.get("terminalError"):
        err = data["terminalError"]
        text = err.get("message") if isinstance(err, dict) else str(err)
        raise UpstreamError(ErrorKind.BAD_REQUEST, f"upload refused: {text}"[:300], status=400)
    meta = data.get("fileMetadata")
    meta = meta if isinstance(meta, dict) else {}
    file_id = meta.get("fileMetadataId") or meta.get("fileId") or data.get("uploadId") or ""
    if not file_id:
        raise UpstreamError(ErrorKind.UPSTREAM, "upload answer carries no file id")
    uri = str(meta.get("fileUri") or "")
    return UploadedFile(str(file_id), uri, asset_url(uri, assets_url) if uri else "", mime, name)


def parse_v1(data: Any, assets_url: str, mime: str, name: str) -> UploadedFile:
    """v1 answer (`fileMetadataId` or `fileId`, `fileUri`) -> UploadedFile."""
    if not isinstance(data, dict) or not (data.get("fileMetadataId") or data.get("fileId")):
        raise UpstreamError(ErrorKind.UPSTREAM, "upload answer carries no file id")
    uri = str(data.get("fileUri") or "")
    return UploadedFile(str(data.get("fileMetadataId") or data.get("fileId")), uri,
                        asset_url(uri, assets_url) if uri else "", mime, name)


def build_v1_body(data: bytes, mime: str, filename: str) -> dict[str, str]:
    return {"fileName": filename, "fileMimeType": mime, "content": base64.b64encode(data).decode()}


async def upload_v2(transport: Transport, token: str, data: bytes | Path, mime: str, filename: str, *,
                    for_imagine: bool = False, proxy: str | None = None) -> UploadedFile:
    """multipart upload; no request id and no statsig on this endpoint (§8.2). A file is sent from
    disk by curl itself (never read into memory)."""
    config = transport.config
    referer = config.grok_url + ("/imagine" if for_imagine else "/")
    headers = rest_headers(config, origin=config.grok_url, referer=referer, content_type="", with_request_id=False)
    mime_parts = CurlMime()
    if isinstance(data, Path):
        mime_parts.addpart(name="file", content_type=mime, filename=filename, local_path=data)
    else:
        mime_parts.addpart(name="file", content_type=mime, filename=filename, data=data)
    if for_imagine:
        mime_parts.addpart(name="file_source", data=IMAGINE_SOURCE.encode())
    try:
        result = await transport.request("POST", config.grok_url + V2_PATH, Call(token, proxy), headers,
                                         multipart=mime_parts)
    finally:
        mime_parts.close()
    return parse_v2(result.json(), config.assets_url, mime, filename)


async def upload_v1(transport: Transport, token: str, data: bytes | Path, mime: str, filename: str, *,
                    proxy: str | None = None) -> UploadedFile:
    """base64 JSON upload (PY-A/PY-B)."""
    config = transport.config
    if isinstance(data, Path):
        data = data.read_bytes()  # the older endpoint takes base64 in JSON: no way around memory here
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    result = await transport.request("POST", config.grok_url + V1_PATH, Call(token, proxy, statsig_path=V1_PATH),
                                     headers, json_body=build_v1_body(data, mime, filename))
    return parse_v1(result.json(), config.assets_url, mime, filename)


async def upload(transport: Transport, token: str, data: bytes | Path, mime: str, filename: str, *,
                 for_imagine: bool = False, proxy: str | None = None) -> UploadedFile:
    """v2 first; v1 only when v2 does not exist on this upstream."""
    try:
        return await upload_v2(transport, token, data, mime, filename, for_imagine=for_imagine, proxy=proxy)
    except UpstreamError as err:
        if err.status not in _FALLBACK_STATUSES:
            raise
    return await upload_v1(transport, token, data, mime, filename, proxy=proxy)
