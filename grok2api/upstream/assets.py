"""Uploaded/generated media on grok.com: download (§8.4), list and delete (§8.5)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from .errors import ErrorKind, UpstreamError
from .frames import asset_url, mime_of
from .headers import navigation_headers, rest_headers
from .options import UpstreamConfig
from .transport import Call, Transport

LIST_PATH = "/rest/assets"
DELETE_PATH = "/rest/assets-metadata/"
PUBLIC_MEDIA_HOSTS = ("imagine-public.x.ai", "imgen.x.ai")
MAX_PAGES = 100  # a runaway paginator must end somewhere


def download_allowed(url: str, config: UpstreamConfig) -> bool:
    """Only grok's own media hosts (and the configured ones) get the account's cookie (§8.3)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    own = {urlsplit(u).hostname for u in (config.assets_url, config.grok_url)}
    if parts.hostname in own:
        return True
    return parts.scheme == "https" and parts.hostname in PUBLIC_MEDIA_HOSTS


def content_type_of(headers: dict[str, str], url: str) -> str:
    """The response's media type; octet-stream or missing falls back to the URL's extension."""
    value = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if value and value != "application/octet-stream":
        return value
    return mime_of(url, "application/octet-stream")


async def download(transport: Transport, token: str, url: str, *, proxy: str | None = None) -> tuple[bytes, str]:
    """Media bytes and content type; assets are private, so the generating account's cookie goes along."""
    config = transport.config
    url = asset_url(url, config.assets_url)
    if not download_allowed(url, config):
        raise UpstreamError(ErrorKind.BAD_REQUEST, "refusing to send account cookies to a non-grok host")
    headers = navigation_headers(config, origin=config.assets_url, referer=config.grok_url + "/")
    result = await transport.request("GET", url, Call(token, proxy), headers, asset=True,
                                     timeout=config.media_timeout)
    return result.body, content_type_of(result.headers, url)


def list_url(config: UpstreamConfig, page_token: str = "") -> str:
    """The browser's query today (C12): 40 per page, newest first, every Imagine asset."""
    query = {"pageSize": "40", "orderBy": "ORDER_BY_CREATE_TIME", "workspaceKind": "WORKSPACE_KIND_IMAGINE_ALL"}
    if page_token:
        query["pageToken"] = page_token
    return f"{config.grok_url}{LIST_PATH}?{urlencode(query)}"


async def list_assets(transport: Transport, token: str, *, proxy: str | None = None) -> list[dict[str, Any]]:
    """Every asset of the account, following nextPageToken until it is empty or repeats."""
    config = transport.config
    out: list[dict[str, Any]] = []
    page, seen = "", set()
    for _ in range(MAX_PAGES):
        headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/imagine/saved",
                               content_type="")
        data = (await transport.request("GET", list_url(config, page), Call(token, proxy, statsig_path=LIST_PATH),
                                        headers)).json()
        if not isinstance(data, dict):
            break
        out += [a for a in data.get("assets") or [] if isinstance(a, dict)]
        page = str(data.get("nextPageToken") or "")
        if not page or page in seen:
            break
        seen.add(page)
    return out


async def delete_asset(transport: Transport, token: str, asset_id: str, *, proxy: str | None = None) -> None:
    """Delete one asset (200 or 204)."""
    config = transport.config
    path = DELETE_PATH + asset_id
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/files", content_type="")
    await transport.request("DELETE", config.grok_url + path, Call(token, proxy, statsig_path=path), headers)
