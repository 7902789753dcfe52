"""Agent-client tests run the whole stack against fakegrok: reuse the gateway fixtures."""

from __future__ import annotations

from typing import Any

from tests.gateway.conftest import Stack, make_stack, stack  # noqa: F401


def _ws_text(frame: Any) -> str | None:
    """The prompt text of an mgw `conversation.item.create` frame (input_chunks, §4.3.2)."""
    try:
        item = frame["event"]["item"] if "event" in frame else frame["item"]
        chunks = item["x_grok"]["input_chunks"]
    except (KeyError, TypeError):
        return None
    return "".join(c["text"]["text"] for c in chunks if isinstance(c, dict) and "text" in c)


async def prompts_sent(target: Stack) -> list[str]:
    """The prompt text of every chat the fake received, oldest first (REST body or mgw frames)."""
    out = []
    for r in await target.fake_requests():
        body = r.get("json")
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            out.append(body["message"])
        for frame in r.get("ws_messages") or []:
            text = _ws_text(frame)
            if text is not None:
                out.append(text)
    return out
