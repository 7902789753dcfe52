"""API-key authentication on /v1/* and the keyless, traversal-proof media file routes."""

from __future__ import annotations

import time

import pytest

from grok2api.access.api_keys import create_key
from grok2api.keys import API_KEYS, STORAGE
from tests.api.conftest import KEY, Api, MakeApi

CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def error_of(resp) -> dict:  # type: ignore[no-untyped-def]
    return (await resp.json())["error"]


async def test_missing_and_wrong_keys(api: Api) -> None:
    resp = await api.http.post("/v1/chat/completions", json=CHAT)
    assert resp.status == 401 and (await error_of(resp))["code"] == "invalid_api_key"
    resp = await api.http.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401 and "Incorrect API key" in (await error_of(resp))["message"]
    resp = await api.http.get("/v1/models", headers={"x-api-key": KEY})
    assert resp.status == 200
    resp = await api.http.get("/v1/models", headers={"Authorization": f"bearer {KEY}"})
    assert resp.status == 200


async def test_not_configured_is_closed_unless_anonymous_allowed(make_api: MakeApi) -> None:
    api = await make_api({"GROK2API_APP_API_KEY": ""})
    resp = await api.http.get("/v1/models")
    assert resp.status == 401 and "not configured" in (await error_of(resp))["message"]
    api = await make_api({"GROK2API_APP_API_KEY": "", "GROK2API_SECURITY_ALLOW_ANONYMOUS_API": "true"})
    assert (await api.http.get("/v1/models")).status == 200
    assert (await api.http.get("/v1/models", headers={"Authorization": "Bearer anything"})).status == 200
    # Once a managed key exists, anonymous access ends (after the cache is invalidated).
    new = await create_key(api.http.app[STORAGE], "first")
    api.http.app[API_KEYS].invalidate()
    assert (await api.http.get("/v1/models")).status == 401
    assert (await api.http.get("/v1/models", headers={"Authorization": f"Bearer {new.key}"})).status == 200


@pytest.mark.parametrize(("fields", "message"), [
    ({"enabled": False}, "disabled"),
    ({"expires_at": time.time() - 1}, "expired"),
])
async def test_disabled_or_expired_managed_key(api: Api, fields: dict, message: str) -> None:
    storage = api.http.app[STORAGE]
    new = await create_key(storage, "k")
    headers = {"Authorization": f"Bearer {new.key}"}
    assert (await api.http.get("/v1/models", headers=headers)).status == 200
    await storage.update_key(new.record.id, **fields)
    api.http.app[API_KEYS].invalidate()
    resp = await api.http.get("/v1/models", headers=headers)
    assert resp.status == 401
    error = await error_of(resp)
    assert error["code"] == "invalid_api_key" and message in error["message"]


async def test_key_lookups_are_cached(api: Api) -> None:
    storage = api.http.app[STORAGE]
    new = await create_key(storage, "k")
    headers = {"Authorization": f"Bearer {new.key}"}
    assert (await api.http.get("/v1/models", headers=headers)).status == 200
    await storage.update_key(new.record.id, enabled=False)
    # Within the cache window the worker has not looked again ...
    assert (await api.http.get("/v1/models", headers=headers)).status == 200
    api.http.app[API_KEYS].invalidate()  # ... until the keys topic moves
    assert (await api.http.get("/v1/models", headers=headers)).status == 401


async def test_model_lookup_404(api: Api) -> None:
    resp = await api.http.get("/v1/models/no-such-model", headers=api.headers())
    assert resp.status == 404
    assert await error_of(resp) == {"message": "The model `no-such-model` does not exist.",
                                    "type": "invalid_request_error", "param": "model",
                                    "code": "model_not_found"}


async def test_files_need_no_key_and_have_long_cache_headers(api: Api) -> None:
    name = await api.media.store("image", b"GIF89a...", "image/gif")
    resp = await api.http.get(f"/v1/files/image/{name}")
    assert resp.status == 200 and resp.content_type == "image/gif"
    assert "immutable" in resp.headers["Cache-Control"] and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert await resp.read() == b"GIF89a..."
    assert (await api.http.get(f"/v1/files/video/{name}")).status == 404  # wrong kind


@pytest.mark.parametrize("path", [
    "/v1/files/image/..%2F..%2Fconfig.toml",
    "/v1/files/image/%2e%2e%2fconfig.toml",
    "/v1/files/image/..",
    "/v1/files/image/%2e%2e",
    "/v1/files/video/..%5c..%5cconfig.toml",
    "/v1/files/image/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png",  # well-formed but never made
    "/v1/files/image/%00.png",
])
async def test_traversal_and_unknown_names_are_404(api: Api, path: str) -> None:
    (api.media.root.parent / "config.toml").write_text("secret = 1")
    resp = await api.http.get(path)
    assert resp.status == 404
    assert b"secret" not in await resp.read()


async def test_video_range_requests(api: Api) -> None:
    data = bytes(range(256)) * 40
    name = await api.media.store("video", data, "video/mp4")
    resp = await api.http.get(f"/v1/files/video/{name}", headers={"Range": "bytes=100-199"})
    assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert await resp.read() == data[100:200]
    resp = await api.http.get(f"/v1/files/video/{name}")
    assert resp.status == 200 and resp.headers["Accept-Ranges"] == "bytes" and await resp.read() == data
