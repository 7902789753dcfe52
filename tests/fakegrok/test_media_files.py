"""Uploads v1/v2, assets list/delete/download, image edit and video in both shapes, upscale."""

from __future__ import annotations

import base64
from typing import Any

from curl_cffi import CurlMime

from grok2api.fakegrok.synth import gradient_png

from .conftest import Fake, g1_body, ndjson
from .mediacheck import jpeg_size, mp4_info, png_size

NEW = "/rest/app-chat/conversations/new"
PNG = gradient_png(7, 64, 48)


async def upload_v2(fake: Fake, data: bytes = PNG, mime: str = "image/png", source: str | None = "IMAGINE_SELF_UPLOAD_FILE_SOURCE",
                    token: str = "tok-a") -> Any:
    form = CurlMime()
    form.addpart(name="file", filename="in.png", content_type=mime, data=data)
    if source:
        form.addpart(name="file_source", data=source.encode())
    resp = await fake.http.post(fake.url("/http/upload-file-v2/direct"), multipart=form, cookies=fake.cookies(token),
                                headers={"Origin": "https://grok.com", "Referer": "https://grok.com/imagine"})
    form.close()
    return resp


async def test_upload_v2_and_download_exact_bytes(fake: Fake) -> None:
    resp = await upload_v2(fake)
    body = resp.json()
    assert resp.status_code == 200 and body["terminalError"] is None and body["uploadId"].startswith("up_")
    meta = body["fileMetadata"]
    assert meta["fileUri"] == f"users/{await fake.session_uid('tok-a')}/{meta['fileMetadataId']}/content"
    got = await fake.get("/" + meta["fileUri"])
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    part = await fake.get("/" + meta["fileUri"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == PNG[:8]
    record = next(r for r in fake.state.records if r["path"] == "/http/upload-file-v2/direct")
    assert record["form"]["file_source"] == "IMAGINE_SELF_UPLOAD_FILE_SOURCE" and record["form"]["file"]["size"] == len(PNG)
    bad = (await upload_v2(fake, data=b"not a png")).json()
    assert bad["terminalError"] and bad["fileMetadata"] is None
    assert (await upload_v2(fake, source="SOMETHING_ELSE")).status_code == 400


async def test_upload_v1_rules(fake: Fake) -> None:
    ok = await fake.post("/rest/app-chat/upload-file", {"fileName": "a.png", "fileMimeType": "image/png",
                                                        "content": base64.b64encode(PNG).decode()})
    assert ok.status_code == 200 and ok.json()["fileUri"].endswith("/content")
    tiny = gradient_png(1, 1, 1)
    for body in ({"fileName": "a.png", "fileMimeType": "image/png", "content": base64.b64encode(tiny).decode()},
                 {"fileName": "a.png", "fileMimeType": "image/png", "content": "data:image/png;base64,AAAA"},
                 {"fileName": "a.png", "fileMimeType": "image/png", "content": "***"},
                 {"fileName": "a.exe", "fileMimeType": "application/x-msdownload", "content": "TVo="},
                 {"fileName": "a.png"}):
        assert (await fake.post("/rest/app-chat/upload-file", body)).status_code == 400, body
    text = await fake.post("/rest/app-chat/upload-file", {"fileName": "n.txt", "fileMimeType": "text/plain",
                                                          "content": base64.b64encode(b"notes").decode()})
    frames = await fake.stream(NEW, g1_body("read it", fileAttachments=[text.json()["fileMetadataId"]]))
    assert frames[1]["result"]["response"]["userResponse"]["fileAttachments"] == [text.json()["fileMetadataId"]]


async def test_assets_list_paginate_delete(fake: Fake) -> None:
    ids = [(await upload_v2(fake, source=None)).json()["fileMetadata"]["fileMetadataId"] for _ in range(3)]
    query = "/rest/assets?pageSize=2&orderBy=ORDER_BY_LAST_USE_TIME&source=SOURCE_ANY&isLatest=true"
    first = (await fake.get(query)).json()
    second = (await fake.get(query + "&pageToken=" + first["nextPageToken"])).json()
    listed = [a["assetId"] for a in first["assets"] + second["assets"]]
    assert sorted(listed) == sorted(ids) and "nextPageToken" not in second
    assert (await fake.get(query, token="tok-b")).json()["assets"] == []
    assert (await fake.http.delete(fake.url(f"/rest/assets-metadata/{ids[0]}"), cookies=fake.cookies("tok-b"))).status_code == 404
    gone = await fake.http.delete(fake.url(f"/rest/assets-metadata/{ids[0]}"), cookies=fake.cookies("tok-a"))
    assert gone.status_code == 200 and gone.json() == {}
    assert ids[0] not in [a["assetId"] for a in (await fake.get(query.replace("2", "50"))).json()["assets"]]
    uid = await fake.session_uid("tok-a")
    assert (await fake.get(f"/users/{uid}/{ids[0]}/content")).status_code == 404
    assert (await fake.get("/rest/assets?pageSize=0")).status_code == 400


async def test_image_edit_media_gen_input(fake: Fake) -> None:
    file_id = (await upload_v2(fake)).json()["fileMetadata"]["fileMetadataId"]
    body = {"modelName": "imagine-image-edit", "message": "make it purple", "enableImageStreaming": True,
            "enableSideBySide": True, "sendFinalMetadata": True,
            "mediaGenInput": {"imageToImage": {"prompt": "make it purple", "inputAssets": [file_id], "aspectRatio": "16:9"}}}
    frames = await fake.stream(NEW, body)
    progress = [f["result"]["response"]["streamingImageGenerationResponse"] for f in frames
                if "streamingImageGenerationResponse" in f["result"].get("response", {})]
    assert [p["progress"] for p in progress] == [50, 100] and "-part-" in progress[0]["imageUrl"]
    urls = next(f["result"]["response"]["modelResponse"]["generatedImageUrls"] for f in frames
                if "modelResponse" in f["result"].get("response", {}))
    assert urls == [progress[1]["imageUrl"]]
    width, height = jpeg_size((await fake.get("/" + urls[0])).content)
    assert width > height
    for broken in ({**body, "mediaGenInput": {"imageToImage": {**body["mediaGenInput"]["imageToImage"], "inputAssets": ["nope"]}}},
                   {**body, "modelName": "imagine-video-gen"},
                   {**body, "mediaGenInput": {}}):
        assert (await fake.post(NEW, broken)).status_code == 400


async def test_video_media_gen_input_and_upscale(fake: Fake) -> None:
    body = {"modelName": "imagine-video-gen", "message": "rain over a city --mode=custom", "enableImageStreaming": True,
            "enableSideBySide": True, "sendFinalMetadata": True,
            "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {}}},
            "mediaGenInput": {"textToVideo": {"prompt": "rain over a city", "aspectRatio": "9:16", "duration": 6,
                                              "resolutionName": "480p"}}, "kind": "CONVERSATION_KIND_IMAGINE"}
    frames = await fake.stream(NEW, body)
    videos = [f["result"]["response"]["streamingVideoGenerationResponse"] for f in frames
              if "streamingVideoGenerationResponse" in f["result"].get("response", {})]
    assert [v["progress"] for v in videos] == [1, 25, 57, 100]
    done = videos[-1]
    assert done["moderated"] is False and done["videoUrl"].endswith("/generated_video.mp4")
    model = next(f["result"]["response"]["modelResponse"] for f in frames if "modelResponse" in f["result"].get("response", {}))
    assert model["fileAttachments"] == [done["videoUrl"]]
    assert frames[-1]["result"]["response"]["isSoftStop"] is True
    video = await fake.get("/" + done["videoUrl"])
    assert video.headers["content-type"] == "video/mp4"
    info = mp4_info(video.content)
    assert info["seconds"] == 6 and info["height"] > info["width"]
    thumb = await fake.get("/" + done["thumbnailImageUrl"])
    assert jpeg_size(thumb.content)
    hd = (await fake.post("/rest/media/video/upscale", {"videoId": done["videoId"]})).json()["hdMediaUrl"]
    assert hd.startswith("https://assets.grok.com/users/")
    hd_info = mp4_info((await fake.get(hd.split("grok.com", 1)[1])).content)
    assert hd_info["width"] == 2 * info["width"]
    assert (await fake.post("/rest/media/video/upscale", {"videoId": "nope"})).status_code == 404
    for broken in ({**body, "kind": None}, {**body, "temporary": True},
                   {**body, "mediaGenInput": {"textToVideo": {"prompt": "x", "duration": 99}}}):
        assert (await fake.post(NEW, broken)).status_code == 400


async def test_legacy_post_video_and_edit(fake: Fake) -> None:
    post = (await fake.post("/rest/media/post/create", {"mediaType": "MEDIA_POST_TYPE_VIDEO", "prompt": "a cat"})).json()["post"]
    body = g1_body("a cat --mode=normal", modelName="grok-3", modelMode=None, toolOverrides={"videoGen": True},
                   responseMetadata={"modelConfigOverride": {"modelMap": {"videoGenModelConfig": {
                       "aspectRatio": "3:2", "parentPostId": post["id"], "resolutionName": "480p", "videoLength": 6}}}})
    frames = await fake.stream(NEW, body)
    done = [f["result"]["response"]["streamingVideoGenerationResponse"] for f in frames
            if "streamingVideoGenerationResponse" in f["result"].get("response", {})][-1]
    assert mp4_info((await fake.get("/" + done["videoUrl"])).content)["frames"] > 1
    link = await fake.post("/rest/media/post/create-link", {"postId": done["videoPostId"], "source": "post-page", "platform": "web"})
    assert link.status_code == 200 and done["videoPostId"] in link.json()["shareLink"]
    bad = dict(body, responseMetadata={"modelConfigOverride": {"modelMap": {"videoGenModelConfig": {"parentPostId": "x"}}}})
    assert (await fake.post(NEW, bad)).status_code == 400
    upload = (await fake.post("/rest/app-chat/upload-file", {"fileName": "a.png", "fileMimeType": "image/png",
                                                              "content": base64.b64encode(PNG).decode()})).json()
    url = "https://assets.grok.com/" + upload["fileUri"]
    image_post = (await fake.post("/rest/media/post/create", {"mediaType": "MEDIA_POST_TYPE_IMAGE", "mediaUrl": url})).json()["post"]
    edit = g1_body("make it blue", modelName="imagine-image-edit", modelMode=None, toolOverrides={"imageGen": True},
                   responseMetadata={"modelConfigOverride": {"modelMap": {"imageEditModel": "imagine", "imageEditModelConfig": {
                       "imageReferences": [url], "parentPostId": image_post["id"]}}}})
    frames = await fake.stream(NEW, edit)
    urls = next(f["result"]["response"]["modelResponse"]["generatedImageUrls"] for f in frames
                if "modelResponse" in f["result"].get("response", {}))
    assert len(urls) == 2
    for url_path in urls:
        assert jpeg_size((await fake.get("/" + url_path)).content)
    foreign = await fake.post("/rest/media/post/create", {"mediaType": "MEDIA_POST_TYPE_IMAGE", "mediaUrl": url}, token="tok-b")
    assert foreign.status_code == 400


def test_media_builders_are_valid() -> None:
    from grok2api.fakegrok import synth as media
    assert png_size(media.noise_png(3, 40, 30)) == (40, 30)
    assert jpeg_size(media.jpeg(3, 100, 60, 20_000)) == (100, 60)
    assert len(media.jpeg(3, 784, 1168, 110_000)) > 100_000
    assert mp4_info(media.mp4(3, 64, 48, 2))["frames"] == 8
    assert ndjson("{}\n") == [{}]
