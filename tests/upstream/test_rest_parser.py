"""REST conversations/new: body builders and the frame parser on the protocol document's streams (§3.6.6, §6.2, §7.4)."""

from __future__ import annotations

import json

import pytest

from grok2api.upstream.chat import ChatRequest
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.events import (
    Done,
    Event,
    ImageProgress,
    ImageReady,
    ReasoningDelta,
    TextDelta,
    VideoProgress,
    VideoReady,
)
from grok2api.upstream.frames import decode_line
from grok2api.upstream.options import UpstreamConfig
from grok2api.upstream.rest_chat import RestStreamParser, build_chat_body

ASSETS = "https://assets.grok.com"
UID = "9b8e0000-0000-4000-8000-000000000001"

CHAT_TEXT = r'''
{"result":{"conversation":{"conversationId":"3f1c9a52-7d41-4b7e-9a1e-0c2d5e8f7a10","title":"New conversation","starred":false,"createTime":"2026-03-02T08:15:04.123456Z","modifyTime":"2026-03-02T08:15:04.123999Z","systemPromptName":"","temporary":true,"mediaTypes":[],"workspaces":[],"taskResult":null}}}
{"result":{"response":{"userResponse":{"responseId":"a0e4b1c2-1111-4222-8333-944455556666","message":"Say hi","sender":"human","createTime":"2026-03-02T08:15:04.200Z","fileAttachments":[],"generatedImageUrls":[],"cardAttachmentsJson":[],"model":"grok-4-1-thinking-1129"}}}}
{"result":{"response":{"llmInfo":{"modelHash":"h4sh"},"responseId":"b7d2e3f4-2222-4333-8444-a55566667777"}}}
{"result":{"response":{"token":"Hi","isThinking":false,"messageTag":"final","responseId":"b7d2e3f4-2222-4333-8444-a55566667777"}}}
{"result":{"response":{"token":" there!","isThinking":false,"messageTag":"final","responseId":"b7d2e3f4-2222-4333-8444-a55566667777"}}}
{"result":{"response":{"modelResponse":{"responseId":"b7d2e3f4-2222-4333-8444-a55566667777","parentResponseId":"a0e4b1c2-1111-4222-8333-944455556666","message":"Hi there!","sender":"assistant","generatedImageUrls":[],"fileAttachments":[],"cardAttachmentsJson":[],"streamErrors":[],"metadata":{}}}}}
{"result":{"title":{"newTitle":"Friendly Greeting"}}}
'''

THINKING = r'''
{"result":{"response":{"token":"Thinking about the request","isThinking":true,"messageTag":"header","responseId":"R1"}}}
{"result":{"response":{"token":"User wants the 2025 figure; search first.","isThinking":true,"messageTag":"analysis","responseId":"R1"}}}
{"result":{"response":{"token":"<xai:tool_usage_card><xai:tool_usage_card_id>tc1</xai:tool_usage_card_id><xai:tool_name>web_search</xai:tool_name><xai:tool_args><![CDATA[{\"query\":\"tcp slow start rfc\"}]]></xai:tool_args></xai:tool_usage_card>","isThinking":true,"messageTag":"tool_usage_card","toolUsageCardId":"tc1","toolUsageCard":{"toolUsageCardId":"tc1","webSearch":{"args":{"query":"tcp slow start rfc"}}},"responseId":"R1"}}}
{"result":{"response":{"toolUsageCardId":"tc1","webSearchResults":{"results":[{"url":"https://www.rfc-editor.org/rfc/rfc5681","title":"RFC 5681","preview":"TCP Congestion Control"}]},"responseId":"R1"}}}
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"k9\",\"type\":\"render_inline_citation\",\"cardType\":\"citation_card\",\"url\":\"https://www.rfc-editor.org/rfc/rfc5681\"}"},"responseId":"R1"}}}
{"result":{"response":{"token":"Slow start doubles cwnd each RTT.<grok:render card_id=\"k9\" card_type=\"citation_card\" type=\"render_inline_citation\"><argument name=\"citation_id\">0</argument></grok:render>","isThinking":false,"messageTag":"final","responseId":"R1"}}}
{"result":{"response":{"token":"","isSoftStop":true}}}
'''

IMAGES = r'''
{"result":{"response":{"streamingImageGenerationResponse":{"imageId":"c1d2","imageUrl":"users/9b8e0000-0000-4000-8000-000000000001/generated/c1d2-part-0/image.jpg","progress":40,"imageIndex":0,"moderated":false},"responseId":"R2"}}}
{"result":{"response":{"streamingImageGenerationResponse":{"imageId":"c1d2","imageUrl":"users/9b8e0000-0000-4000-8000-000000000001/generated/c1d2/image.jpg","progress":100,"imageIndex":0,"moderated":false},"responseId":"R2"}}}
{"result":{"response":{"streamingImageGenerationResponse":{"imageId":"e3f4","imageUrl":"users/9b8e0000-0000-4000-8000-000000000001/generated/e3f4/image.jpg","progress":100,"imageIndex":1,"moderated":true},"responseId":"R2"}}}
{"result":{"response":{"modelResponse":{"responseId":"R2","message":"Here is your fox.","generatedImageUrls":["users/9b8e0000-0000-4000-8000-000000000001/generated/c1d2/image.jpg"],"cardAttachmentsJson":[]}}}}
'''

LITE = r'''
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"x1\",\"type\":\"render_file\",\"cardType\":\"generated_image_card\",\"image_chunk\":null}"},"messageTag":"final"}}}
{"result":{"response":{"token":"<grok:render card_id=\"x1\" card_type=\"generated_image_card\" type=\"render_file\"><argument name=\"file_path\">/home/workdir/artifacts/imagine_images/fox.jpg</argument></grok:render>","isThinking":false,"messageTag":"final"}}}
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"x1\",\"type\":\"render_file\",\"cardType\":\"generated_image_card\",\"image_chunk\":{\"imageUuid\":\"f00d\",\"imageUrl\":\"users/9b8e0000-0000-4000-8000-000000000001/generated/f00d/image.jpg\",\"progress\":100,\"moderated\":false}}"},"messageTag":"final"}}}
{"result":{"response":{"token":"","isSoftStop":true}}}
'''

EDIT = r'''
{"result":{"response":{"streamingImageGenerationResponse":{"imageUrl":"users/U/generated/ab12-part-0/image.jpg","progress":50,"imageIndex":0}}}}
{"result":{"response":{"streamingImageGenerationResponse":{"imageUrl":"users/U/generated/ab12/image.jpg","progress":100,"imageIndex":0,"moderated":false}}}}
{"result":{"response":{"modelResponse":{"responseId":"R3","generatedImageUrls":["users/U/generated/ab12/image.jpg"]}}}}
'''

VIDEO = r'''
{"result":{"conversation":{"conversationId":"c-v"}}}
{"result":{"response":{"streamingVideoGenerationResponse":{"videoId":"v1","progress":1,"videoPostId":"p1","resolutionName":"480p"},"responseId":"R4"}}}
{"result":{"response":{"streamingVideoGenerationResponse":{"videoId":"v1","progress":57,"videoPostId":"p1"},"responseId":"R4"}}}
{"result":{"response":{"streamingVideoGenerationResponse":{"videoId":"v1","progress":100,"videoPostId":"p1","assetId":"v1","videoUrl":"users/U/generated/v1/generated_video.mp4","thumbnailImageUrl":"users/U/generated/v1/preview_image.jpg","moderated":false,"resolutionName":"480p"},"responseId":"R4"}}}
{"result":{"response":{"modelResponse":{"responseId":"R4","message":"","fileAttachments":["users/U/generated/v1/generated_video.mp4"]}}}}
{"result":{"response":{"token":"I generated a video","isSoftStop":true}}}
'''


def run(stream: str, **kw: object) -> list[Event]:
    parser = RestStreamParser(ASSETS, **kw)  # type: ignore[arg-type]
    events: list[Event] = []
    for line in stream.strip().splitlines():
        for frame in decode_line(line.encode()):
            events += parser.feed(frame)
    return events + parser.finish()


def test_chat_text_stream() -> None:
    events = run(CHAT_TEXT)
    assert events[:2] == [TextDelta("Hi"), TextDelta(" there!")]
    assert events[-1] == Done(meta={"conversationId": "3f1c9a52-7d41-4b7e-9a1e-0c2d5e8f7a10",
                                    "responseId": "b7d2e3f4-2222-4333-8444-a55566667777",
                                    "modelHash": "h4sh", "title": "Friendly Greeting"})
    assert len(events) == 3  # modelResponse.message is not repeated after streamed tokens


def test_a_token_frame_with_more_than_a_token_is_read_whole() -> None:
    """Token frames take a short path; one that also carries a card, an error or the final metadata
    must still have those read."""
    card = ('{"id":"c1","type":"render_generated_image","cardType":"generated_image_card",'
            '"image_chunk":{"imageUrl":"users/u/generated/g1/image.jpg","progress":100}}')
    stream = "\n".join([
        '{"result":{"response":{"token":"Here","isThinking":false,"responseId":"R9"}}}',
        '{"result":{"response":{"token":" it is","responseId":"R9","cardAttachment":{"jsonData":%s}}}}'
        % json.dumps(card),
        '{"result":{"response":{"token":".","responseId":"R9","finalMetadata":{}}}}',
    ])
    events = run(stream)
    assert events[0] == TextDelta("Here") and TextDelta(" it is") in events and TextDelta(".") in events
    assert any(isinstance(e, ImageReady) and e.url.endswith("image.jpg") for e in events)
    assert events[-1] == Done(meta={"responseId": "R9"})  # finalMetadata ended it: no "cut" error
    with pytest.raises(UpstreamError):  # and an error beside a token is still an error
        run('{"result":{"response":{"token":"x","error":{"message":"rate limited","code":8}}}}')


def test_lines_that_arrive_together_become_one_delta_per_run() -> None:
    """feed_lines: consecutive deltas of one kind join (the text a client gets is the same), a change
    of kind or any other event starts a new one, and the list it was given is emptied."""
    lines = [line.encode() for line in THINKING.strip().splitlines()[:2] + CHAT_TEXT.strip().splitlines()]
    parser = RestStreamParser(ASSETS)
    events = parser.feed_lines(lines)
    assert lines == []
    assert events == [ReasoningDelta("Thinking about the requestUser wants the 2025 figure; search first."),
                      TextDelta("Hi there!")]
    one_by_one = run("\n".join(THINKING.strip().splitlines()[:2] + CHAT_TEXT.strip().splitlines()))
    assert "".join(e.text for e in one_by_one if isinstance(e, TextDelta)) == "Hi there!"
    assert len([e for e in one_by_one if isinstance(e, TextDelta)]) == 2
    # The echo of the prompt is not read, unless it carries an error beside it.
    echo = b'{"result":{"response":{"userResponse":{"message":"hi","sender":"human"},"responseId":"U1"}}}'
    assert RestStreamParser(ASSETS).feed_lines([echo]) == []
    with pytest.raises(UpstreamError):
        RestStreamParser(ASSETS).feed_lines([echo[:-3] + b',"error":{"message":"rate limited","code":8}}}}'])


def test_thinking_tool_card_and_citation() -> None:
    events = run(THINKING)
    assert events == [
        ReasoningDelta("Thinking about the request"),
        ReasoningDelta("User wants the 2025 figure; search first."),
        ReasoningDelta("[WebSearch] tcp slow start rfc\n"),
        TextDelta("Slow start doubles cwnd each RTT. [[0]](https://www.rfc-editor.org/rfc/rfc5681)"),
        Done(meta={"responseId": "R1"}),
    ]


def test_reasoning_dropped_when_not_wanted() -> None:
    events = run(THINKING, thinking=False)
    assert not [e for e in events if isinstance(e, ReasoningDelta)]
    assert isinstance(events[0], TextDelta)


def test_in_chat_images_skip_previews_and_report_moderation() -> None:
    events = run(IMAGES)
    assert events[0] == ImageProgress(slot=0, percent=40)
    assert events[1] == ImageReady(slot=0, url=f"{ASSETS}/users/{UID}/generated/c1d2/image.jpg")
    assert events[2] == ImageReady(slot=1, url=f"{ASSETS}/users/{UID}/generated/e3f4/image.jpg", moderated=True)
    # the modelResponse repeats the final URL: no duplicate; the message text is used since nothing streamed
    assert events[3] == TextDelta("Here is your fox.")
    assert isinstance(events[4], Done) and len(events) == 5


def test_lite_image_card() -> None:
    events = run(LITE)
    assert events == [ImageReady(slot=0, url=f"{ASSETS}/users/{UID}/generated/f00d/image.jpg"), Done(meta={})]


def test_edit_stream_in_media_mode() -> None:
    events = run(EDIT, media=True)
    assert events == [ImageProgress(slot=0, percent=50), ImageReady(slot=0, url=f"{ASSETS}/users/U/generated/ab12/image.jpg"),
                      Done(meta={"responseId": "R3"})]


def test_video_stream() -> None:
    events = run(VIDEO, media=True)
    assert events[:2] == [VideoProgress(1), VideoProgress(57)]
    assert events[2] == VideoReady(url=f"{ASSETS}/users/U/generated/v1/generated_video.mp4",
                                   thumbnail_url=f"{ASSETS}/users/U/generated/v1/preview_image.jpg",
                                   video_id="v1", resolution="480p")
    assert events[3] == Done(meta={"conversationId": "c-v", "responseId": "R4"})


def test_moderated_video() -> None:
    frame = '{"result":{"response":{"streamingVideoGenerationResponse":{"videoId":"v","progress":100,"moderated":true}}}}'
    events = run(frame + "\n" + '{"result":{"response":{"modelResponse":{"responseId":"R"}}}}', media=True)
    assert events[0] == VideoReady(url="", video_id="v", moderated=True)


@pytest.mark.parametrize(("stream", "kind"), [
    ('{"result":{"conversation":{"conversationId":"c"}}}\n'
     '{"result":{"response":{"error":{"message":"You\'ve reached your usage limit. Please try again later."}}}}',
     ErrorKind.RATE_LIMITED),
    ('{"error":{"message":"Request rejected by anti-bot rules.","code":7,"details":[]}}', ErrorKind.ANTI_BOT),
    ('{"result":{"response":{"modelResponse":{"responseId":"R","streamErrors":["boom"]}}}}', ErrorKind.UPSTREAM),
    ('{"result":{"response":{"modelResponse":{"streamErrors":[{"message":"usage limit","code":8}]}}}}',
     ErrorKind.RATE_LIMITED),
    ('{"result":{"response":{"token":"half an ans","messageTag":"final"}}}', ErrorKind.UPSTREAM),  # cut: no end
])
def test_stream_errors(stream: str, kind: ErrorKind) -> None:
    with pytest.raises(UpstreamError) as info:
        run(stream)
    assert info.value.kind is kind


def test_flat_continuation_wrapper_and_tolerated_line_shapes() -> None:
    stream = ('data: {"result":{"token":"A","responseId":"R9"}}\n\nevent: message\n'
              '{"result":{"token":"B","responseId":"R9"}}{"result":{"token":"C","responseId":"R9"}}\n'
              'data: {"result":{"finalMetadata":{}}}\ndata: [DONE]')
    assert run(stream) == [TextDelta("A"), TextDelta("B"), TextDelta("C"), Done(meta={"responseId": "R9"})]


def test_render_tag_split_across_tokens_is_held_back() -> None:
    parser = RestStreamParser(ASSETS)
    card = '{"id":"k","type":"render_inline_citation","url":"https://u"}'
    parser.feed({"result": {"response": {"cardAttachment": {"jsonData": card}}}})
    first = parser.feed({"result": {"response": {"token": 'ok<grok:render card_id="k" type="render_inline_citation">',
                                                 "messageTag": "final"}}})
    second = parser.feed({"result": {"response": {"token": '<argument name="citation_id">2</argument></grok:render>!',
                                                  "messageTag": "final"}}})
    assert first == [TextDelta("ok")]
    assert second == [TextDelta(" [[2]](https://u)!")]


def test_raw_function_result_and_artifact_handling() -> None:
    parser = RestStreamParser(ASSETS)
    assert parser.feed({"result": {"response": {"token": "{raw}", "messageTag": "raw_function_result"}}}) == []
    art = '<xaiArtifact artifact_id="a" title="main.py" contentType="text/python">print(1)</xaiArtifact>'
    assert parser.feed({"result": {"response": {"token": art, "messageTag": "final"}}}) == [TextDelta(art)]


def test_rollout_prefix_in_heavy_mode() -> None:
    parser = RestStreamParser(ASSETS)
    events = parser.feed({"result": {"response": {"token": "plan", "isThinking": True, "messageTag": "analysis",
                                                  "rolloutId": "Agent 2"}}})
    assert events == [ReasoningDelta("[Agent 2] plan")]


def test_g2_body() -> None:
    request = ChatRequest(message="hi", mode="expert", mode_id="expert", file_ids=("f1",))
    body = build_chat_body(request, UpstreamConfig(), request.dialect("rest"))
    assert body["modeId"] == "expert"
    assert "modelName" not in body and "modelMode" not in body and "isReasoning" not in body
    assert body["fileAttachments"] == ["f1"] and body["imageAttachments"] == []
    assert body["temporary"] is True and body["disableMemory"] is True and body["sendFinalMetadata"] is True


def test_g1_body_only_when_the_route_gives_no_mode_id() -> None:
    request = ChatRequest(message="hi", model_name="grok-4-1-thinking-1129", model_mode="MODEL_MODE_FAST",
                          temporary=False, disable_memory=False, reasoning_effort="high")
    assert request.dialect("ws") == "rest-g1"  # no mode: the WebSocket cannot serve it
    body = build_chat_body(request, UpstreamConfig(), "rest-g1")
    assert body["modelName"] == "grok-4-1-thinking-1129" and body["modelMode"] == "MODEL_MODE_FAST"
    assert body["isReasoning"] is False and body["temporary"] is False and body["disableMemory"] is False
    assert body["responseMetadata"] == {"requestModelDetails": {"modelId": "grok-4-1-thinking-1129"},
                                        "modelConfigOverride": {"temperature": 0.8, "topP": 0.95,
                                                                "reasoningEffort": "high"}}
    assert "modeId" not in body
    nulled = build_chat_body(ChatRequest(message="x", model_name="imagine-image-edit"), UpstreamConfig(), "rest-g1")
    assert nulled["modelMode"] is None


def test_dialect_selection() -> None:
    both = ChatRequest(message="x", mode="fast", mode_id="fast", model_name="grok-3", model_mode="MODEL_MODE_GROK_3")
    assert both.dialect("ws") == "mgw"
    assert both.dialect("rest") == "rest-g2"
    assert ChatRequest(message="x", mode="fast", transport="rest").dialect("ws") == "rest-g2"
    with pytest.raises(ValueError):
        ChatRequest(message="x").dialect("ws")
