"""The Imagine WebSocket `/ws/imagine/listen` (§5.1): per slot start_stage, preview, medium, final, completed."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from . import synth as media
from .guards import cut_websocket, protected
from .keys import ACCOUNT, FAKE_STATE, RECORD
from .media_gen import ASPECTS, dims
from .state import Account, Asset, FakeState

FINAL_TARGET_BYTES = 110_000  # → ~147 000 base64 chars, above PY-A's 100 000 "final" threshold
MEDIUM_SIZE = (120, 110)  # incompressible RGB PNG → ~53 000 base64 chars (30 000–100 000: "medium")
PREVIEW_SIZE = (96, 144)  # smooth PNG → a few hundred chars (< 30 000: "preview")


class ImagineRequestError(ValueError):
    """A client frame the Imagine server refuses; sent as `{"type":"error"}`."""


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def parse_request(data: Any) -> dict[str, Any] | None:
    """The `input_text` content of a client frame; None for `reset` (which is ignored)."""
    if not isinstance(data, dict) or data.get("type") != "conversation.item.create":
        raise ImagineRequestError("expected a conversation.item.create frame")
    if not isinstance(data.get("timestamp"), int):
        raise ImagineRequestError("timestamp (unix ms) is required")
    item = data.get("item")
    if not isinstance(item, dict) or item.get("type") != "message":
        raise ImagineRequestError("item.type must be message")
    content = item.get("content")
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        raise ImagineRequestError("item.content must hold exactly one entry")
    entry = content[0]
    if entry.get("type") == "reset":
        return None
    if entry.get("type") != "input_text":
        raise ImagineRequestError("content type must be input_text or reset")
    if not isinstance(entry.get("requestId"), str) or not entry["requestId"]:
        raise ImagineRequestError("requestId is required")
    if not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise ImagineRequestError("text is required")
    props = entry.get("properties", {})
    if not isinstance(props, dict):
        raise ImagineRequestError("properties must be an object")
    if props.get("aspect_ratio", "2:3") not in ASPECTS:
        raise ImagineRequestError(f"unsupported aspect_ratio {props.get('aspect_ratio')!r}")
    count = props.get("num_generations")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10):
        raise ImagineRequestError("num_generations must be 1..10")
    for flag in ("enable_nsfw", "enable_pro", "enable_side_by_side", "is_kids_mode", "skip_upsampler", "is_initial"):
        if flag in props and not isinstance(props[flag], bool):
            raise ImagineRequestError(f"{flag} must be a boolean")
    return entry


def slot_frames(state: FakeState, account: Account, text: str, order: int, aspect: str,
                moderated: bool, finalise: bool) -> list[str]:
    """The frames of one slot; the same UUID is in image_id, id and the URL file name (§5.1.3)."""
    image_id = str(uuid.uuid4())
    width, height = dims(aspect, 784)
    seed = media.seed_of(text, aspect, order)
    origin = state.config.imagine_origin
    png_path, jpg_path = f"imagine-public/images/{image_id}.png", f"imagine-public/images/{image_id}.jpg"
    out = [_dump({"type": "json", "current_status": "start_stage", "image_id": image_id, "order": order,
                  "width": width, "height": height})]

    def image(blob: bytes, path: str, pct: int) -> str:
        return _dump({"type": "image", "id": image_id, "image_id": image_id, "order": order,
                      "percentage_complete": pct, "url": f"{origin}/{path}", "width": width, "height": height,
                      "blob": base64.b64encode(blob).decode()})

    out.append(image(media.gradient_png(seed, *PREVIEW_SIZE), png_path, 35))
    if moderated:
        out.append(_dump({"type": "json", "current_status": "completed", "image_id": image_id, "order": order,
                          "width": width, "height": height, "moderated": True, "r_rated": False}))
        return out
    state.add_asset(Asset(image_id + "-m", account.token, png_path, "image/png", f"{image_id}.png", time.time(),
                          recipe=("png-noise", seed, *MEDIUM_SIZE), listed=False, source="SOURCE_GENERATED"))
    out.append(image(media.noise_png(seed, *MEDIUM_SIZE), png_path, 80))
    if not finalise:
        return out
    state.add_asset(Asset(image_id, account.token, jpg_path, "image/jpeg", f"{image_id}.jpg", time.time(),
                          recipe=("jpeg", seed, width, height, FINAL_TARGET_BYTES), listed=False,
                          source="SOURCE_GENERATED"))
    out.append(image(media.jpeg(seed, width, height, FINAL_TARGET_BYTES), jpg_path, 100))
    out.append(_dump({"type": "json", "current_status": "completed", "image_id": image_id, "order": order,
                      "width": width, "height": height, "moderated": False, "r_rated": False}))
    return out


async def _generate(request: web.Request, ws: web.WebSocketResponse, state: FakeState, account: Account,
                    entry: dict[str, Any]) -> bool:
    """Answer one request; False when the socket must close (fatal error or scenario)."""
    props = entry.get("properties", {})
    if state.take(account.token, "imagine_error"):
        await ws.send_str(_dump({"type": "error", "err_code": "rate_limit_exceeded", "err_msg": "Too many requests"}))
        return False
    if state.consume(account, "imagePro") is not None:
        await ws.send_str(_dump({"type": "error", "err_code": "rate_limit_exceeded",
                                 "err_msg": "Imagine quota exhausted"}))
        return False
    count = props.get("num_generations") or (4 if props.get("enable_pro") else 6)
    text = entry["text"]
    moderated = "[[moderated]]" in text or bool(state.take(account.token, "moderated"))
    no_final = bool(state.take(account.token, "imagine_no_final"))
    delay = state.take(account.token, "slow_first_byte")
    config = state.config
    await asyncio.sleep(float(delay or 0) + config.first_frame_delay)
    frames = [f for order in range(count)
              for f in slot_frames(state, account, text, order, props.get("aspect_ratio", "2:3"), moderated,
                                   not no_final)]
    cut = state.take(account.token, "stream_cut")
    if cut:
        frames = frames[:max(1, len(frames) // 2)]
    for i, text_frame in enumerate(frames):
        if i and config.token_interval:
            await asyncio.sleep(config.token_interval)
        await ws.send_str(text_frame)
    if cut:
        await cut_websocket(request, ws, cut)
        return False
    if no_final:
        await asyncio.sleep(config.stall_seconds)  # "medium never finalises" (§5.1.4)
        return False
    return True


@protected("ws")
async def imagine_listen(request: web.Request) -> web.StreamResponse:
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    received: list[Any] = request[RECORD].setdefault("ws_messages", []) if RECORD in request else []
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            await ws.send_str(_dump({"type": "error", "err_code": "invalid_argument", "err_msg": "text frames only"}))
            break
        try:
            data = json.loads(msg.data)
            if len(received) < 100:
                received.append(data)
            entry = parse_request(data)
        except (ValueError, ImagineRequestError) as exc:
            await ws.send_str(_dump({"type": "error", "err_code": "invalid_argument", "err_msg": str(exc)}))
            break
        if entry is not None and not await _generate(request, ws, state, account, entry):
            break
    if not ws.closed:
        await ws.close()
    return ws


def routes() -> list[web.RouteDef]:
    return [web.get("/ws/imagine/listen", imagine_listen)]
