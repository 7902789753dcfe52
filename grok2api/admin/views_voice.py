"""Voice live: a LiveKit token fetched with one of the pool's accounts, for the vendored browser client."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..edge.body import read_object
from ..keys import CSP_CONNECT
from ..pool.model import mask_token
from ..storage.base import AccountQuery
from ..upstream.errors import UpstreamError
from . import render
from .upstream_ops import upstream_actions
from .view_models import AdminInputError, settings_of, storage_of

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

VOICES = ("ara", "rex", "sal", "eve", "leo")
PERSONALITIES = ("assistant", "therapist", "storyteller", "meditation", "doc", "conspiracy", "unhinged")


def livekit_url(request: web.Request) -> str:
    s = settings_of(request)
    return s.voice.livekit_url or s.network.livekit_url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _field(result: Any, *names: str) -> str:
    for name in names:
        value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
        if value:
            return str(value)
    return ""


async def voice_token(request: web.Request, voice: str, personality: str, speed: float) -> dict[str, str]:
    if voice not in VOICES:
        raise AdminInputError(f"voice must be one of {', '.join(VOICES)}")
    if personality not in PERSONALITIES:
        raise AdminInputError(f"personality must be one of {', '.join(PERSONALITIES)}")
    if not 0.5 <= speed <= 2.0:
        raise AdminInputError("speed must be between 0.5 and 2")
    actions = upstream_actions(request)
    call = actions.livekit_token
    storage = storage_of(request)
    account = None
    for pool in ("basic", "super", "heavy"):
        found, _ = await storage.list_accounts(AccountQuery(pool=pool, status="active", limit=1))
        if found:
            account = found[0]
            break
    if account is None:
        raise AdminInputError("No active account in the pool to open a voice session with.")
    try:
        result = await call(account.token, voice=voice, personality=personality, speed=speed)
    except UpstreamError as err:
        raise AdminInputError(f"Grok refused the voice token ({err.kind.value}): {err.message}") from None
    token = _field(result, "token")
    if not token:
        raise AdminInputError("Grok answered without a voice token.")
    return {"token": token, "url": _field(result, "url", "livekit_url", "livekitUrl") or livekit_url(request),
            "room": _field(result, "room", "room_name", "roomName"),
            "participant": _field(result, "participant", "participant_name", "participantName"),
            "account": mask_token(account.token)}


def _params(data: Any) -> tuple[str, str, float]:
    try:
        speed = float(data.get("speed") or 1.0)
    except (TypeError, ValueError):
        raise AdminInputError("speed must be a number") from None
    return str(data.get("voice") or "ara"), str(data.get("personality") or "assistant"), speed


@routes.get("/voice", name="admin.voice")
async def voice_page(request: web.Request) -> web.StreamResponse:
    origin = _origin(livekit_url(request))
    if origin:
        request[CSP_CONNECT] = origin  # the LiveKit signalling server, and nothing else
    return render.page(request, "admin/voice.html", {"voices": VOICES, "personalities": PERSONALITIES,
                                                     "livekit_url": livekit_url(request)})


@api_routes.post("/voice/token", name="api.voice_token")
async def api_voice_token(request: web.Request) -> web.StreamResponse:
    body = await read_object(request, empty_ok=True)
    return web.json_response(await voice_token(request, *_params(body)))
