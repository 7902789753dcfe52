"""Builders of the REST stream objects of §3.6 (conversation, userResponse, tokens, modelResponse…)."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from typing import Any

from .replies import RENDER_CARD_ID, RENDER_TAG, RENDER_URL, TOOL_QUERY, Reply
from .state import Asset, FakeState

MODEL_HASH = "fakegrok-7f3a9c2e"


def now_rfc3339(micro: bool = True) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text if micro else text[:-3]) + "Z"


def new_id() -> str:
    return str(uuid.uuid4())


def conversation(conversation_id: str, temporary: bool) -> dict[str, Any]:
    stamp = now_rfc3339()
    return {"conversation": {
        "conversationId": conversation_id, "title": "New conversation", "starred": False,
        "createTime": stamp, "modifyTime": stamp, "systemPromptName": "", "temporary": temporary,
        "mediaTypes": [], "workspaces": [], "taskResult": None}}


def user_response(response_id: str, message: str, model: str, files: list[str]) -> dict[str, Any]:
    return {"userResponse": {
        "responseId": response_id, "message": message, "sender": "human",
        "createTime": now_rfc3339(False), "manual": False, "partial": False, "shared": False,
        "query": "", "queryType": "", "webSearchResults": [], "xpostIds": [], "xposts": [],
        "generatedImageUrls": [], "imageAttachments": [], "fileAttachments": files,
        "cardAttachmentsJson": [], "fileUris": [], "fileAttachmentsMetadata": [],
        "isControl": False, "steps": [], "imageEditUris": [], "mediaTypes": [],
        "webpageUrls": [], "metadata": {}, "citedWebSearchResults": [], "toolResponses": [],
        "model": model, "ragResults": [], "citedRagResults": [], "searchProductResults": []}}


def model_response(response_id: str, parent_id: str, message: str, *, images: list[str] | None = None,
                   files: list[str] | None = None, cards: list[str] | None = None,
                   errors: list[Any] | None = None) -> dict[str, Any]:
    return {"modelResponse": {
        "responseId": response_id, "parentResponseId": parent_id, "message": message,
        "sender": "assistant", "createTime": now_rfc3339(False), "partial": False,
        "generatedImageUrls": images or [], "fileAttachments": files or [],
        "cardAttachmentsJson": cards or [], "streamErrors": errors or [], "isControl": False,
        "steps": [], "webSearchResults": [], "metadata": {"llm_info": {"modelHash": MODEL_HASH}}},
        "responseId": response_id}


def token(text: str, response_id: str, *, thinking: bool = False, tag: str = "final") -> dict[str, Any]:
    return {"token": text, "isThinking": thinking, "messageTag": tag, "responseId": response_id}


def thinking_tokens(reply: Reply, response_id: str) -> list[dict[str, Any]]:
    return [token(t, response_id, thinking=True, tag="header" if i == 0 else "analysis")
            for i, t in enumerate(reply.thinking)]


def tool_frames(response_id: str) -> list[dict[str, Any]]:
    """A web_search tool card (whose token a gateway must not show as text) and its results."""
    card_id = "tc-fake-1"
    args = json.dumps({"query": TOOL_QUERY})
    card_xml = (f"<xai:tool_usage_card><xai:tool_usage_card_id>{card_id}</xai:tool_usage_card_id>"
                f"<xai:tool_name>web_search</xai:tool_name><xai:tool_args><![CDATA[{args}]]>"
                "</xai:tool_args></xai:tool_usage_card>")
    return [
        {"token": card_xml, "isThinking": True, "messageTag": "tool_usage_card",
         "toolUsageCardId": card_id, "messageStepId": 1,
         "toolUsageCard": {"toolUsageCardId": card_id, "webSearch": {"args": {"query": TOOL_QUERY}}},
         "responseId": response_id},
        {"toolUsageCardId": card_id, "webSearchResults": {"results": [
            {"url": RENDER_URL, "title": "Fakegrok citation", "preview": "A page the fake cites"}]},
         "responseId": response_id},
    ]


def citation_card() -> str:
    return json.dumps({"id": RENDER_CARD_ID, "type": "render_inline_citation",
                       "cardType": "citation_card", "url": RENDER_URL}, separators=(",", ":"))


def answer_frames(reply: Reply, response_id: str) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Visible token frames, the full message they spell, and the cards they reference."""
    out = [token(t, response_id) for t in reply.answer]
    message = reply.text
    cards: list[str] = []
    if reply.render:
        cards.append(citation_card())
        out.append({"cardAttachment": {"jsonData": cards[-1]}, "responseId": response_id})
        out.append(token(RENDER_TAG, response_id))
        message += RENDER_TAG
    return out, message, cards


def generated_image(state: FakeState, token_owner: str, uid: str, seed: int, size: tuple[int, int],
                    listed: bool = True) -> tuple[str, str]:
    """Register a generated image (final + part-0 preview); returns (preview path, final path)."""
    image_id = new_id()
    final = f"users/{uid}/generated/{image_id}/image.jpg"
    part = f"users/{uid}/generated/{image_id}-part-0/image.jpg"
    now = time.time()
    state.add_asset(Asset(image_id, token_owner, final, "image/jpeg", "image.jpg", now,
                          recipe=("jpeg", seed, size[0], size[1]), listed=listed, source="SOURCE_GENERATED"))
    state.add_asset(Asset(image_id + "-part-0", token_owner, part, "image/jpeg", "image.jpg", now,
                          recipe=("jpeg", seed, size[0] // 4, size[1] // 4), listed=False,
                          source="SOURCE_GENERATED"))
    return part, final


def image_progress(image_id: str, url: str, progress: int, index: int, moderated: bool,
                   response_id: str | None) -> dict[str, Any]:
    inner: dict[str, Any] = {"imageId": image_id, "imageUrl": url, "progress": progress,
                             "imageIndex": index, "moderated": moderated}
    if progress >= 100:
        inner["isFinal"] = True
    out: dict[str, Any] = {"streamingImageGenerationResponse": inner}
    if response_id:
        out["responseId"] = response_id
    return out


def image_id_of(path: str) -> str:
    return path.split("/generated/", 1)[1].split("/", 1)[0].split("-part-", 1)[0]


def wrap(inner: dict[str, Any], flat: bool) -> dict[str, Any]:
    """`{"result":{"response":…}}`, or the flat `{"result":…}` of `/responses` (§3.5)."""
    return {"result": inner if flat else {"response": inner}}
