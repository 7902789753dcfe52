"""REST chat (§3): conversations/new and /responses with G1 and G2 bodies, share and clone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import frames as fr
from . import media_gen
from .guards import USAGE_LIMIT_MESSAGE, bad_request, json_object, not_found, protected, rate_limited, replayed
from .keys import ACCOUNT, FAKE_STATE
from .ndjson import Plan, frame, middle, send
from .replies import Reply, build_reply, title_for
from .state import Account, Conversation, FakeState
from .synth import seed_of
from .typed import stream_error, take_markers

G1_MODELS = frozenset({"grok-3", "grok-4", "grok-4-mini", "grok-4-1-thinking-1129", "grok-420"})
G1_MODES = frozenset({
    "MODEL_MODE_GROK_3", "MODEL_MODE_GROK_3_MINI_THINKING", "MODEL_MODE_GROK_3_THINKING",
    "MODEL_MODE_GROK_4", "MODEL_MODE_GROK_4_MINI_THINKING", "MODEL_MODE_GROK_4_THINKING",
    "MODEL_MODE_HEAVY", "MODEL_MODE_GROK_4_1_MINI_THINKING", "MODEL_MODE_FAST",
    "MODEL_MODE_EXPERT", "MODEL_MODE_GROK_4_1_THINKING", "MODEL_MODE_GROK_420", "MODEL_MODE_AUTO"})
HIGH_EFFORT_MODES = frozenset({"MODEL_MODE_EXPERT", "MODEL_MODE_GROK_4_1_THINKING", "MODEL_MODE_HEAVY"})
G2_MODES = {"auto": "auto", "fast": "fast", "expert": "expert", "heavy": "heavy",
            "grok-420-computer-use-sa": "expert"}  # modeId -> quota bucket
THINKING_G2 = frozenset({"auto", "expert", "heavy", "grok-420-computer-use-sa"})


@dataclass(slots=True)
class Route:
    """How a chat body selected its model."""

    model: str  # echoed as userResponse.model
    bucket: str
    cost: int
    thinking: bool


def select_route(body: dict[str, Any], account: Account) -> Route:
    """G2 `modeId` wins; else G1 `modelName`+`modelMode`; anything else is a 400/404."""
    mode_id = body.get("modeId")
    if mode_id is not None:
        if mode_id not in G2_MODES:
            raise bad_request(f"unknown modeId {mode_id!r}")
        return Route(f"grok-4-{mode_id}", G2_MODES[mode_id], 1, mode_id in THINKING_G2)
    name, mode = body.get("modelName"), body.get("modelMode")
    if name is None:
        raise bad_request("modeId or modelName is required")
    if name not in G1_MODELS:
        raise not_found("Model not found")
    if mode not in G1_MODES:
        raise bad_request(f"invalid modelMode {mode!r}")
    if mode == "MODEL_MODE_HEAVY" and account.tier == "basic":
        return Route(name, "heavy", 1, True)  # basic accounts have no heavy quota → 429
    cost = 4 if mode in HIGH_EFFORT_MODES else 1
    thinking = "THINKING" in mode or mode in ("MODEL_MODE_EXPERT", "MODEL_MODE_HEAVY")
    return Route(name, "default", cost, thinking)


def check_attachments(state: FakeState, account: Account, body: dict[str, Any]) -> list[str]:
    files = body.get("fileAttachments", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise bad_request("fileAttachments must be a list of fileMetadataId strings")
    for file_id in files:
        asset = state.assets.get(file_id)
        if asset is None or asset.deleted or asset.owner != account.token:
            raise bad_request(f"file attachment {file_id} not found")
    if body.get("imageAttachments", []) not in ([], None):
        raise bad_request("imageAttachments must be empty; images go in fileAttachments")
    return files


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be a boolean")
    return value


@protected("chat")
async def conversations_new(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    tools = body.get("toolOverrides") or {}
    video = body.get("modelName") == "imagine-video-gen" or (isinstance(tools, dict) and tools.get("videoGen"))
    if "mediaGenInput" in body or body.get("modelName") == "imagine-image-edit" or video:
        stale = replayed(request)  # media paths answer a replayed x-statsig-id as a stale page (C3)
        if stale is not None:
            return stale
    if "mediaGenInput" in body:
        return await media_gen.media_gen_input(request, body, account)
    if body.get("modelName") == "imagine-image-edit":
        return await media_gen.legacy_image_edit(request, body, account)
    if video:
        return await media_gen.legacy_video(request, body, account)
    return await _chat(request, state, account, body, None)


@protected("chat")
async def conversation_responses(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    conv = state.conversations.get(request.match_info["conversation_id"])
    if conv is None or conv.owner != account.token:
        raise not_found("Conversation not found")
    parent = body.get("parentResponseId", body.get("responseId"))
    if not isinstance(parent, str) or parent not in conv.response_ids:
        raise bad_request("parentResponseId must name a response of this conversation")
    return await _chat(request, state, account, body, conv)


async def _chat(request: web.Request, state: FakeState, account: Account, body: dict[str, Any],
                conv: Conversation | None) -> web.StreamResponse:
    message = body.get("message")
    if not isinstance(message, str):
        raise bad_request("message must be a string")
    route = select_route(body, account)
    files = check_attachments(state, account, body)
    if not message.strip() and not files:
        raise bad_request("message is empty")
    image_gen = _flag(body, "enableImageGeneration", True)
    count = body.get("imageGenerationCount", 2)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10:
        raise bad_request("imageGenerationCount must be 1..10")
    temporary = _flag(body, "temporary", False)
    wait = state.consume(account, route.bucket, route.cost)
    if wait is not None:
        return rate_limited(wait)
    new = conv is None
    if conv is None:
        conv = state.new_conversation(account.token)
    flat = not new and state.config.responses_wrapper == "flat"
    markers = take_markers(message)
    reply = build_reply(markers.text, thinking=route.thinking)
    user_id, response_id = fr.new_id(), fr.new_id()
    prefix = state.config.ndjson_prefix
    out: list[dict[str, Any]] = []
    if new:
        out.append({"result": fr.conversation(conv.conversation_id, temporary)})
    out.append(fr.wrap(fr.user_response(user_id, message, route.model, files), flat))
    if state.take(account.token, "usage_limit"):
        out.append(fr.wrap({"error": {"message": USAGE_LIMIT_MESSAGE, "code": 8}}, flat))
        return await send(request, Plan([frame(o, prefix) for o in out]))
    conv.response_ids += [user_id, response_id]
    out.append(fr.wrap({"llmInfo": {"modelHash": fr.MODEL_HASH}, "responseId": response_id}, flat))
    if markers.stream_error:  # a typed StreamError instead of the answer (C9)
        out.append(fr.wrap(fr.model_response(response_id, user_id, "", errors=[stream_error(markers.stream_error)]),
                           flat))
        return await send(request, Plan([frame(o, prefix) for o in out]))
    out += [fr.wrap(f, flat) for f in fr.thinking_tokens(reply, response_id)]
    if reply.tool:
        out += [fr.wrap(f, flat) for f in fr.tool_frames(response_id)]
    first_answer = len(out)
    answer, text, cards = fr.answer_frames(reply, response_id)
    out += [fr.wrap(f, flat) for f in answer]
    images: list[str] = []
    moderated = reply.moderated or bool(state.take(account.token, "moderated"))
    if image_gen and reply.drawing:
        card_frames, tag, card = _drawing(state, account, reply, response_id, moderated)
        out += [fr.wrap(f, flat) for f in card_frames]
        text += tag
        cards.append(card)
    elif image_gen and reply.image:
        image_frames, images = _images(state, account, reply, response_id, count, moderated)
        out += [fr.wrap(f, flat) for f in image_frames]
    errors = [{"message": "generation failed", "code": 13}] if state.take(account.token, "stream_error") else []
    out.append(fr.wrap(fr.model_response(response_id, user_id, text, images=images, cards=cards,
                                         errors=errors), flat))
    out.append(fr.wrap({"finalMetadata": {"followUpSuggestions": [], "stopReason": "STOP_REASON_END_TURN"},
                        "responseId": response_id}, flat))
    if new:
        out.append({"result": {"title": {"newTitle": title_for(reply.prompt)}}})
    conv.messages += [(user_id, "human", message), (response_id, "assistant", text)]
    plan = Plan([frame(o, prefix) for o in out])
    cut = state.take(account.token, "stream_cut")
    if cut:
        plan.cut_at, plan.cut_mode = first_answer + middle(len(answer)), str(cut)
    stall = state.take(account.token, "stall")
    if stall:
        plan.stall_at, plan.stall_seconds = first_answer + middle(len(answer)), float(stall)
    return await send(request, plan)


def _images(state: FakeState, account: Account, reply: Reply, response_id: str, count: int,
            moderated: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """In-chat image generation frames (§3.6.5): a part-0 preview then the final per image."""
    out: list[dict[str, Any]] = []
    finals: list[str] = []
    for index in range(count):
        part, final = fr.generated_image(state, account.token, account.uid,
                                         seed_of(reply.prompt, index), (768, 768))
        image_id = fr.image_id_of(final)
        out.append(fr.image_progress(image_id, part, 50, index, False, response_id))
        out.append(fr.image_progress(image_id, final, 100, index, moderated, response_id))
        if not moderated:
            finals.append(final)
    return out, finals


def _drawing(state: FakeState, account: Account, reply: Reply, response_id: str,
             moderated: bool) -> tuple[list[dict[str, Any]], str, str]:
    """The "Drawing:" lite image as a generated_image_card (§3.6.6)."""
    card_id = "fkdraw"
    _, final = fr.generated_image(state, account.token, account.uid, seed_of(reply.prompt, "lite"), (768, 768))
    pending = {"id": card_id, "type": "render_file", "cardType": "generated_image_card", "image_chunk": None}
    done = dict(pending, image_chunk={"imageUuid": fr.image_id_of(final), "imageUrl": final,
                                      "progress": 100, "moderated": moderated})
    tag = (f'<grok:render card_id="{card_id}" card_type="generated_image_card" type="render_file">'
           '<argument name="file_path">/home/workdir/artifacts/imagine_images/image.jpg</argument></grok:render>')
    done_json = json.dumps(done, separators=(",", ":"))
    out = [
        {"cardAttachment": {"jsonData": json.dumps(pending, separators=(",", ":"))}, "messageTag": "final",
         "responseId": response_id},
        fr.token(tag, response_id),
        {"cardAttachment": {"jsonData": done_json}, "messageTag": "final", "responseId": response_id},
        {"token": "", "isSoftStop": True, "responseId": response_id},
    ]
    return out, tag, done_json


@protected("rest")
async def share(request: web.Request) -> web.Response:
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    conv = state.conversations.get(request.match_info["conversation_id"])
    if conv is None or conv.owner != account.token:
        raise not_found("Conversation not found")
    if body.get("responseId") not in conv.response_ids:
        raise bad_request("responseId must name a response of this conversation")
    share_id = fr.new_id()
    state.shares[share_id] = conv.conversation_id
    return web.json_response({"shareLinkId": share_id, "shareLink": f"https://grok.com/share/{share_id}"})


@protected("rest")
async def clone(request: web.Request) -> web.Response:
    body = await json_object(request)
    if body:
        raise bad_request("clone takes an empty body")
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    source = state.conversations.get(state.shares.get(request.match_info["share_link_id"], ""))
    if source is None:
        raise not_found("Share link not found")
    conv = state.new_conversation(account.token)
    responses = []
    for _old_id, sender, text in source.messages:
        new_id = fr.new_id()
        conv.response_ids.append(new_id)
        conv.messages.append((new_id, sender, text))
        responses.append({"responseId": new_id, "sender": sender, "message": text,
                          "createTime": fr.now_rfc3339(False)})
    return web.json_response({"conversation": fr.conversation(conv.conversation_id, False)["conversation"],
                              "responses": responses})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/rest/app-chat/conversations/new", conversations_new),
        web.post("/rest/app-chat/conversations/{conversation_id}/responses", conversation_responses),
        web.post("/rest/app-chat/conversations/{conversation_id}/share", share),
        web.post("/rest/app-chat/share_links/{share_link_id}/clone", clone),
    ]
