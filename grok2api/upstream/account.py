"""Account settings: ToS (gRPC-web + REST), birth date, NSFW (gRPC-web), LiveKit voice token (§10, §11)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlencode

from .classify import classify_grpc
from .errors import ErrorKind, UpstreamError
from .grpcweb import TOS_MESSAGE, feature_controls_message, frame, parse_reply
from .headers import grpc_headers, rest_headers
from .transport import Call, Transport

TOS_GRPC_PATH = "/auth_mgmt.AuthManagement/SetTosAcceptedVersion"
TOS_REST_PATH = "/rest/auth/set-tos-accepted"
BIRTH_PATH = "/rest/auth/set-birth-date"
NSFW_PATH = "/auth_mgmt.AuthManagement/UpdateUserFeatureControls"
LIVEKIT_PATH = "/rest/livekit/tokens"
TOS_VERSION = 5
BIRTH_DATE_LOCKED = "birth-date-change-limit-reached"  # 429 body marker: already set (§10.3)
LIVEKIT_QUERY = {"auto_subscribe": "1", "sdk": "js", "version": "2.11.4", "protocol": "15"}


def random_birth_date(rng: random.Random, today: date | None = None) -> str:
    """A random adult birth date (age 20–48, day 1–28, random time, 3-digit ms), PY-A style."""
    today = today or datetime.now(timezone.utc).date()
    year = today.year - rng.randint(20, 48)
    moment = datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                      rng.randint(0, 59), rng.randint(0, 999) * 1000, tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def _grpc(transport: Transport, url: str, call: Call, headers: dict[str, str], payload: bytes) -> None:
    result = await transport.request("POST", url, call, headers, content=frame(payload))
    try:
        reply = parse_reply(result.body, result.headers)
    except ValueError as exc:
        raise UpstreamError(ErrorKind.UPSTREAM, str(exc)) from None
    if not reply.ok:
        raise classify_grpc(reply.status, reply.message)


async def accept_tos(transport: Transport, token: str, *, proxy: str | None = None) -> None:
    """gRPC SetTosAcceptedVersion on accounts.x.ai (sso cookies only), then grok.com's REST flag."""
    config = transport.config
    headers = grpc_headers(config, origin=config.accounts_url, referer=config.accounts_url + "/accept-tos")
    await _grpc(transport, config.accounts_url + TOS_GRPC_PATH, Call(token, proxy, cf_cookies=False),
                headers, TOS_MESSAGE)
    rest = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    await transport.request("POST", config.grok_url + TOS_REST_PATH, Call(token, proxy, statsig_path=TOS_REST_PATH),
                            rest, json_body={"tosVersion": TOS_VERSION})


async def set_birth_date(transport: Transport, token: str, birth_date: str = "", *, rng: random.Random | None = None,
                         proxy: str | None = None) -> bool:
    """Set the birth date; False when it was already set and is locked (the 429 WKE answer)."""
    config = transport.config
    value = birth_date or random_birth_date(rng or random.Random())
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    try:
        await transport.request("POST", config.grok_url + BIRTH_PATH, Call(token, proxy, statsig_path=BIRTH_PATH),
                                headers, json_body={"birthDate": value})
    except UpstreamError as err:
        if err.kind is ErrorKind.RATE_LIMITED and BIRTH_DATE_LOCKED in err.message:
            return False
        raise
    return True


async def update_nsfw(transport: Transport, token: str, enabled: bool = True, *, proxy: str | None = None) -> None:
    """gRPC-web UpdateUserFeatureControls with the exact 37-byte body (§10.4)."""
    config = transport.config
    headers = grpc_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    await _grpc(transport, config.grok_url + NSFW_PATH, Call(token, proxy, statsig_path=NSFW_PATH), headers,
                feature_controls_message(enabled))


@dataclass(frozen=True, slots=True)
class LiveKitToken:
    """A voice-mode token and where to use it."""

    token: str
    url: str  # the LiveKit server (wss://livekit.grok.com)
    ws_url: str  # the full signalling URL with the access token
    participant_name: str = ""
    room_name: str = ""


def livekit_body(livekit_url: str, voice: str = "ara", personality: str = "assistant", speed: float = 1.0,
                 instructions: str = "") -> dict[str, Any]:
    """§11 body; `sessionPayload` is a JSON string, custom instructions replace the personality."""
    payload: dict[str, Any] = {"voice": voice, "personality": personality, "playback_speed": speed,
                               "enable_vision": False, "turn_detection": {"type": "server_vad"}}
    if instructions:
        payload.update(personality=None, instructions=instructions, is_raw_instructions=True)
    return {"sessionPayload": json.dumps(payload), "requestAgentDispatch": False, "livekitUrl": livekit_url,
            "params": {"enable_markdown_transcript": "true"}}


def parse_livekit(data: Any, livekit_url: str) -> LiveKitToken:
    if not isinstance(data, dict) or not data.get("token"):
        raise UpstreamError(ErrorKind.UPSTREAM, "LiveKit answer carries no token")
    url = str(data.get("livekitUrl") or livekit_url).rstrip("/")
    query = urlencode({"access_token": data["token"], **LIVEKIT_QUERY})
    return LiveKitToken(str(data["token"]), url, f"{url}/rtc?{query}", str(data.get("participantName") or ""),
                        str(data.get("roomName") or ""))


async def livekit_token(transport: Transport, token: str, *, voice: str = "ara", personality: str = "assistant",
                        speed: float = 1.0, instructions: str = "", proxy: str | None = None) -> LiveKitToken:
    config = transport.config
    headers = rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/")
    result = await transport.request("POST", config.grok_url + LIVEKIT_PATH,
                                     Call(token, proxy, statsig_path=LIVEKIT_PATH), headers,
                                     json_body=livekit_body(config.livekit_url, voice, personality, speed, instructions))
    return parse_livekit(result.json(), config.livekit_url)
