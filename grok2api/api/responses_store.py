"""Stored Responses (`store: true`): kept in the storage's documents for `previous_response_id`.

One document per response, scoped to the API key that created it (another key sees nothing),
expiring after `chat.responses_retention_hours`. Each document carries the whole conversation
so far (earlier turns, this request's input, this answer's output), so a follow-up replays the
chain even after older responses in it expired or were deleted. Reasoning items are not kept in
the conversation: Grok cannot resume an earlier thought.
"""

from __future__ import annotations

from typing import Any

from ..storage.base import Storage

NAMESPACE = "responses"


def conversation_after(history: list[dict[str, Any]], items: list[dict[str, Any]],
                       output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turns a follow-up to this response replays."""
    return [*history, *items, *(item for item in output if item.get("type") != "reasoning")]


async def save(storage: Storage, key_id: str, response: dict[str, Any], conversation: list[dict[str, Any]],
               input_items: list[dict[str, Any]], ttl_sec: float) -> None:
    await storage.doc_put(NAMESPACE, response["id"], {
        "key_id": key_id, "response": response, "conversation": conversation, "input": input_items,
    }, ttl_sec=ttl_sec)


async def load(storage: Storage, key_id: str, response_id: str) -> dict[str, Any] | None:
    """The stored document, or None when it is unknown, expired or belongs to another key."""
    doc = await storage.doc_get(NAMESPACE, response_id)
    if doc is None or doc.get("key_id") != key_id:
        return None
    return doc


async def delete(storage: Storage, key_id: str, response_id: str) -> bool:
    if await load(storage, key_id, response_id) is None:
        return False
    return await storage.doc_delete(NAMESPACE, response_id)
