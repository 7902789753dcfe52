"""The neutral chat request (built from a catalog route) and prompt flattening (§3.4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

LITE_IMAGE_PREFIX = "Drawing: "  # §3.2: "Lite" images are a normal fast-mode turn with this prefix


class RouteLike(Protocol):
    """What ChatRequest reads from a catalog route (grok2api.catalog.ModelRoute fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def mode_id(self) -> str: ...
    @property
    def model_name(self) -> str: ...
    @property
    def model_mode(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat turn for grok.com: selectors of every generation, the flattened prompt, options."""

    message: str
    mode: str = ""  # mgw `session.model` (G3): fast | auto | expert | heavy
    mode_id: str = ""  # REST `modeId` (G2)
    model_name: str = ""  # REST `modelName` (G1)
    model_mode: str = ""  # REST `modelMode` (G1); "" = null
    file_ids: tuple[str, ...] = ()  # fileMetadataIds from upload()
    thinking: bool = True  # False: reasoning is requested by mode only, so it is dropped from the events
    temporary: bool | None = None  # None = config default
    disable_memory: bool | None = None
    transport: str = ""  # "ws" | "rest"; "" = config.chat_transport
    image_count: int = 2  # images per in-chat generation
    reasoning_effort: str = ""  # G1 modelConfigOverride.reasoningEffort, passed through verbatim

    @classmethod
    def from_route(cls, route: RouteLike, *, message: str, file_ids: Iterable[str] = (), thinking: bool = True,
                   temporary: bool | None = None, disable_memory: bool | None = None,
                   transport: str = "", reasoning_effort: str = "") -> ChatRequest:
        """A request for `route`; image routes served by chat become "Lite" Drawing: turns."""
        if route.kind == "image" and not message.startswith(LITE_IMAGE_PREFIX):
            message = LITE_IMAGE_PREFIX + message
        return cls(message=message, mode=route.mode, mode_id=route.mode_id, model_name=route.model_name,
                   model_mode=route.model_mode, file_ids=tuple(file_ids), thinking=thinking,
                   temporary=temporary, disable_memory=disable_memory, transport=transport,
                   reasoning_effort=reasoning_effort)

    def dialect(self, default_transport: str) -> str:
        """Which wire to use: "mgw" (G3), "rest-g2" (`modeId`) or "rest-g1" (`modelName`+`modelMode`).

        The WebSocket needs a mode; REST prefers `modeId` and uses the G1 body only when the route
        gives no modeId (or gives only G1 names), so remapping is a catalog edit."""
        transport = self.transport or default_transport
        if transport == "ws" and (self.mode or self.mode_id):
            return "mgw"
        if self.mode_id or (self.mode and not self.model_name):
            return "rest-g2"
        if self.model_name:
            return "rest-g1"
        raise ValueError("chat request names no upstream mode or model")


def _role_and_text(message: Any) -> tuple[str, str, str]:
    if isinstance(message, Mapping):
        content = message.get("content", message.get("text", ""))
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
        return str(message.get("role", "user")), str(content or ""), str(message.get("name") or "")
    return str(getattr(message, "role", "user")), str(getattr(message, "text", "")), str(getattr(message, "name", "") or "")


def flatten_messages(messages: Iterable[Any], style: str = "plain") -> str:
    """One `message` string from a conversation (§3.4).

    "plain" (PY-A): turns joined by blank lines, each prefixed `role: ` except a final user turn.
    "tagged" (GO): every turn prefixed with `[role]\\n`. Messages are objects with role/text
    (grok2api.gateway.jobs.Message) or OpenAI-style dicts."""
    turns = [_role_and_text(m) for m in messages]
    turns = [(r, t, n) for r, t, n in turns if t.strip()]
    parts: list[str] = []
    for index, (role, text, name) in enumerate(turns):
        label = f"{role} ({name})" if name and role == "tool" else role
        if style == "tagged":
            parts.append(f"[{label}]\n{text}")
        elif index == len(turns) - 1 and role == "user":
            parts.append(text)
        else:
            parts.append(f"{label}: {text}")
    return "\n\n".join(parts)
