"""Cache page: counts and sizes, lazy preview grid, delete one, clear a kind; imagine zip download."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from aiohttp.test_utils import TestClient

from grok2api import keys

from .html import attr, parse, text

Client = TestClient[Any, Any]


def media(client: Client) -> Any:
    return client.app[keys.MEDIA]  # type: ignore[attr-defined]  # installed by make_app


def hx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


async def test_cache_grid_delete_and_clear(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    names = [await media(client).store("image", b"\xff\xd8\xff" + bytes(2000 + i), "image/jpeg") for i in range(3)]
    video = await media(client).store("video", b"\x00\x00\x00\x18ftypmp42" + bytes(5000), "video/mp4")
    page = parse(await (await client.get("/admin/cache")).text())
    images = page.select('img[loading="lazy"]')
    assert len(images) == 3
    totals = {text(big.find_next_sibling("span")).split()[0]: text(big) for big in page.select("span.big")}
    assert totals["images"] == "3" and totals["videos"] == "1"
    assert {attr(img, "src") for img in images} == {f"/v1/files/image/{name}" for name in names}
    videos = await (await client.get("/admin/cache?kind=video", headers={"HX-Request": "true"})).text()
    assert f"/v1/files/video/{video}" in videos and 'preload="none"' in videos
    resp = await client.post(f"/admin/cache/image/{names[0]}/delete", headers=hx(csrf))
    assert resp.status == 200 and resp.headers["HX-Trigger"] == "cache-changed"
    assert [f.name for f in await media(client).list_files("image")].count(names[0]) == 0
    gone = await client.post(f"/admin/cache/image/{names[0]}/delete", headers=hx(csrf))
    assert gone.status == 404 and "no longer in the cache" in await gone.text()
    cleared = await (await client.post("/admin/cache/image/clear", headers=hx(csrf))).text()
    assert "Deleted 2 cached image file(s)." in cleared and "Nothing cached." in cleared
    stats = await (await client.get("/api/v1/admin/cache")).json()
    assert stats["local_image"]["count"] == 0 and stats["local_video"]["count"] == 1
    listing = await (await client.get("/api/v1/admin/cache/list?type=video")).json()
    assert listing["total"] == 1 and listing["items"][0]["view_url"] == f"/v1/files/video/{video}"
    bad = await client.post("/admin/cache/audio/clear", headers=hx(csrf))
    assert bad.status == 400 and "unknown media kind" in await bad.text()


async def test_imagine_zip_is_built_on_the_server(logged_in: tuple[Client, str]) -> None:
    client, csrf = logged_in
    names = [await media(client).store("image", b"\x89PNG\r\n\x1a\n" + bytes([i]) * 100, "image/png") for i in range(2)]
    resp = await client.post("/admin/imagine/zip", data={"csrf_token": csrf, "names": names})
    assert resp.content_type == "application/zip"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="imagine-')
    with zipfile.ZipFile(io.BytesIO(await resp.read())) as zf:
        assert zf.namelist() == ["imagine-01.png", "imagine-02.png"]
        assert zf.read("imagine-02.png").endswith(bytes([1]) * 100)
    traversal = await client.post("/admin/imagine/zip", data={"csrf_token": csrf, "names": "../../config.toml"})
    assert traversal.status == 400
    empty = await client.post("/api/v1/admin/imagine/zip", json={"names": []}, headers={"X-CSRF-Token": csrf})
    assert empty.status == 400 and "no finished images" in (await empty.json())["error"]["message"]
