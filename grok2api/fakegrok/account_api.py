"""Account side endpoints: session, rate limits, Imagine quotas, ToS/birth date/NSFW (REST + gRPC-web), LiveKit, /index."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import struct
import time
import uuid
from typing import Any

from aiohttp import web

from .antibot import INDEX_HTML
from .chat import G1_MODELS, G2_MODES
from .guards import bad_request, error_body, grpc_status, json_error, json_object, protected
from .keys import ACCOUNT, FAKE_STATE
from .state import Account, Quota

REQUEST_KINDS = frozenset({"DEFAULT", "REASONING", "DEEPSEARCH", "DEEPERSEARCH"})
BIRTH_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
NSFW_PATH = "always_show_nsfw_content"


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@protected("session")
async def auth_session(request: web.Request) -> web.Response:
    """§4.1: `status` authenticated / unauthenticated (401) / blocked, with the user id."""
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    if state.take(account.token, "invalid_token"):
        return web.json_response({"status": "unauthenticated", **error_body(16, "invalid-credentials")}, status=401)
    if state.take(account.token, "blocked"):
        return web.json_response({"status": "blocked"})
    return web.json_response({
        "status": "authenticated", "expires": _iso(time.time() + 30 * 86400),
        "session": {"userId": account.uid, "email": account.email, "organizationId": ""},
        "user": {"id": account.uid, "email": account.email, "teamId": "", "tier": account.tier}})


def _exhausted(quota: Quota, forced_wait: Any, now: float) -> tuple[int, int | None]:
    """(remaining, waitTimeSeconds or None), honouring the rate_limited switch."""
    quota.refresh(now)
    if forced_wait is not None:
        return 0, int(forced_wait)
    return quota.remaining, (quota.wait_seconds(now) if quota.remaining <= 0 else None)


@protected("signed")
async def rate_limits(request: web.Request) -> web.Response:
    """§9.1, both body styles: per-mode `{modelName:<mode>}` and PY-A `{requestKind, modelName}`."""
    body = await json_object(request)
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    name, kind = body.get("modelName"), body.get("requestKind")
    if kind is not None and kind not in REQUEST_KINDS:
        raise bad_request(f"unknown requestKind {kind!r}")
    now, forced = time.time(), state.peek(account.token, "rate_limited")
    if name in G2_MODES:
        quota = account.quotas[G2_MODES[name]]
        remaining, wait = _exhausted(quota, forced, now)
        out: dict[str, Any] = {"windowSizeSeconds": quota.window, "remainingQueries": remaining,
                               "totalQueries": quota.total, "lowEffortRateLimits": None, "highEffortRateLimits": None}
    elif name in G1_MODELS:
        quota = account.quotas["default"]
        remaining, wait = _exhausted(quota, forced, now)
        out = {"windowSizeSeconds": quota.window, "remainingQueries": 0, "totalQueries": 0,
               "remainingTokens": remaining, "totalTokens": quota.total,
               "lowEffortRateLimits": {"cost": 1, "remainingQueries": remaining},
               "highEffortRateLimits": {"cost": 4, "remainingQueries": remaining // 4}}
    else:
        return json_error(404, 5, "Model not found")
    if wait is not None:
        out["waitTimeSeconds"] = wait
    return web.json_response(out)


@protected("signed")
async def quota_info(request: web.Request) -> web.Response:
    """§9.2: the five products, each null or `{available, remainingQueries, windowSizeSeconds[, nextAvailableAt]}`."""
    body = await json_object(request)
    if body:
        raise bad_request("quota_info takes an empty object")
    state, account = request.app[FAKE_STATE], request[ACCOUNT]
    now, forced = time.time(), state.peek(account.token, "rate_limited")
    out: dict[str, Any] = {"image": None}
    for product in ("imagePro", "imageEdit", "video", "video720p"):
        quota = account.quotas[product]
        if quota.total == 0:
            out[product] = {"available": False}
            continue
        remaining, wait = _exhausted(quota, forced, now)
        entry: dict[str, Any] = {"available": True, "remainingQueries": remaining, "windowSizeSeconds": quota.window}
        if wait is not None:
            entry["nextAvailableAt"] = _iso(now + wait)
        out[product] = entry
    return web.json_response(out)


@protected("signed")
async def set_birth_date(request: web.Request) -> web.Response:
    """§10.3: an adult ISO date; a second change answers the documented 429 WKE."""
    body = await json_object(request)
    account = request[ACCOUNT]
    value = body.get("birthDate")
    if not isinstance(value, str) or not BIRTH_DATE.match(value):
        raise bad_request("birthDate must look like 1990-05-17T16:00:00.000Z")
    try:
        born = datetime.datetime.strptime(value[:10], "%Y-%m-%d").date()
    except ValueError:
        raise bad_request("birthDate is not a real date") from None
    today = datetime.date.today()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if not 18 <= age <= 120:
        raise bad_request("birthDate must be of an adult")
    if account.birth_date is not None:
        return json_error(429, 8, "[WKE=account:birth-date-change-limit-reached] birth date can no longer be changed")
    account.birth_date = value
    return web.json_response({})


@protected("signed")
async def set_tos_accepted(request: web.Request) -> web.Response:
    body = await json_object(request)
    version = body.get("tosVersion")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad_request("tosVersion must be a positive integer")
    account = request[ACCOUNT]
    account.tos_version = max(account.tos_version, version)
    return web.json_response({})


# --- gRPC-web (§10.1) ------------------------------------------------------------------------


def grpc_message(request_body: bytes, content_type: str) -> bytes:
    """The payload of the single uncompressed data frame of a gRPC-web request; ValueError otherwise."""
    if content_type == "application/grpc-web-text":
        request_body = base64.b64decode(request_body, validate=True)
    if len(request_body) < 5:
        raise ValueError("truncated gRPC-web frame header")
    flag, length = request_body[0], struct.unpack(">I", request_body[1:5])[0]
    if flag != 0:
        raise ValueError("compressed or trailer frames are not accepted in a request")
    if len(request_body) != 5 + length:
        raise ValueError("frame length does not match the body")
    return request_body[5:]


def protobuf_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field, wire type, value) of a protobuf message: varint, 64-bit, LEN and 32-bit only."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            if i + size > len(data):
                raise ValueError("LEN field overruns the message")
            value, i = data[i:i + size], i + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if i + width > len(data):
                raise ValueError("fixed field overruns the message")
            value, i = data[i:i + width], i + width
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if number == 0:
            raise ValueError("field number 0")
        out.append((number, wire, value))
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        shift += 7
        if not byte & 0x80:
            return value, i


def _enc_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _enc_len(number: int, payload: bytes) -> bytes:
    return _enc_varint(number << 3 | 2) + _enc_varint(len(payload)) + payload


def grpc_ok(message: bytes = b"") -> web.Response:
    """HTTP 200: one data frame, then the trailer frame `80 00 00 00 0f` + `grpc-status:0\\r\\n`."""
    trailer = b"grpc-status:0\r\n"
    body = b"\x00" + struct.pack(">I", len(message)) + message + b"\x80" + struct.pack(">I", len(trailer)) + trailer
    return web.Response(body=body, content_type="application/grpc-web+proto")


async def _grpc_payload(request: web.Request) -> bytes | web.Response:
    content_type = request.content_type
    if content_type not in ("application/grpc-web+proto", "application/grpc-web", "application/grpc-web-text"):
        return web.Response(status=415, text="unsupported content-type")
    try:
        return grpc_message(await request.read(), content_type)
    except ValueError as exc:
        return grpc_status(3, str(exc))


@protected("grpc")
async def set_tos_accepted_version(request: web.Request) -> web.Response:
    """accounts.x.ai SetTosAcceptedVersion: exactly `{2: varint}` (body `00 00 00 00 02 10 01`)."""
    payload = await _grpc_payload(request)
    if isinstance(payload, web.Response):
        return payload
    try:
        fields = protobuf_fields(payload)
    except ValueError as exc:
        return grpc_status(3, str(exc))
    if [(n, w) for n, w, _ in fields] != [(2, 0)] or fields[0][2] < 1:
        return grpc_status(3, "expected field 2 (varint) >= 1")
    request[ACCOUNT].grpc_tos_accepted = True
    return grpc_ok()


def parse_feature_controls(payload: bytes) -> tuple[bool, list[str]]:
    """UpdateUserFeatureControlsRequest{1: {2: bool}, 2: FieldMask{1: paths}} (§10.4)."""
    fields = protobuf_fields(payload)
    if [(n, w) for n, w, _ in fields] != [(1, 2), (2, 2)]:
        raise ValueError("expected field 1 (controls) then field 2 (update mask)")
    controls = protobuf_fields(fields[0][2])
    if [(n, w) for n, w, _ in controls] != [(2, 0)] or controls[0][2] not in (0, 1):
        raise ValueError("controls must be {2: bool}")
    mask = protobuf_fields(fields[1][2])
    if not mask or any((n, w) != (1, 2) for n, w, _ in mask):
        raise ValueError("update mask must be {1: path, …}")
    return bool(controls[0][2]), [value.decode() for _, _, value in mask]


@protected("grpc")
async def update_feature_controls(request: web.Request) -> web.Response:
    payload = await _grpc_payload(request)
    if isinstance(payload, web.Response):
        return payload
    try:
        enabled, paths = parse_feature_controls(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return grpc_status(3, str(exc))
    if paths != [NSFW_PATH]:
        return grpc_status(3, f"unknown update mask {paths}")
    account: Account = request[ACCOUNT]
    if enabled and account.birth_date is None:
        return grpc_status(9, "birth date must be set before enabling this content")
    account.nsfw = enabled
    return grpc_ok()


@protected("grpc")
async def grok_credits_config(request: web.Request) -> web.Response:
    """§9.3 weekly credits: paid tiers only; usage derived from the `default` budget."""
    payload = await _grpc_payload(request)
    if isinstance(payload, web.Response):
        return payload
    if payload:
        return grpc_status(3, "GetGrokCreditsConfig takes an empty message")
    account: Account = request[ACCOUNT]
    if account.tier == "basic":
        return grpc_status(7, "weekly credits need a paid plan")
    quota = account.quotas["default"]
    used = 100.0 * (quota.total - quota.remaining) / quota.total if quota.total else 0.0
    start = int(time.time()) // 604800 * 604800

    def stamp(seconds: int) -> bytes:
        return _enc_varint(1 << 3) + _enc_varint(seconds)

    config = (b"\x0d" + struct.pack("<f", used) + _enc_len(4, stamp(start)) + _enc_len(5, stamp(start + 604800))
              + _enc_len(7, _enc_varint(1 << 3) + _enc_varint(1) + b"\x15" + struct.pack("<f", used)))
    return grpc_ok(_enc_len(1, config))


@protected("rest")
async def livekit_tokens(request: web.Request) -> web.Response:
    """§11: `sessionPayload` must be a JSON string of an object; answers a JWT-shaped token."""
    body = await json_object(request)
    account = request[ACCOUNT]
    raw = body.get("sessionPayload")
    try:
        session = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        session = None
    if not isinstance(session, dict):
        raise bad_request("sessionPayload must be a JSON-encoded object string")
    if not isinstance(body.get("requestAgentDispatch", False), bool):
        raise bad_request("requestAgentDispatch must be a boolean")
    if not isinstance(body.get("params", {}), dict):
        raise bad_request("params must be an object")
    state = request.app[FAKE_STATE]
    room = f"voice-{uuid.uuid4()}"

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"iss": "fakegrok", "sub": account.uid, "exp": int(time.time()) + 600,
                             "video": {"room": room, "roomJoin": True}, "metadata": json.dumps(session)}).encode())
    sig = b64(hmac.new(b"fakegrok", f"{head}.{claims}".encode(), hashlib.sha256).digest())
    return web.json_response({"token": f"{head}.{claims}.{sig}",
                              "livekitUrl": body.get("livekitUrl") or state.config.livekit_url,
                              "participantName": account.uid, "roomName": room})


@protected("public")
async def index(request: web.Request) -> web.Response:
    """The app page: `/index` answers 404 today but still carries the meta (C4); `/` answers 200."""
    config = request.app[FAKE_STATE].config
    status = 404 if request.path == config.path_prefix + "/index" and config.index_404 else 200
    return web.Response(text=INDEX_HTML, content_type="text/html", status=status)


# /rest/modes (C10): what the mode picker offers, with the tier each mode needs.
MODES = (
    ("auto", "Auto", None), ("fast", "Fast", None), ("expert", "Expert", None),
    ("heavy", "Heavy", "SUBSCRIPTION_TIER_SUPER_GROK_HEAVY"), ("build", "Build", "SUBSCRIPTION_TIER_SUPER_GROK_PRO"),
)
TIER_RANK = {"basic": 0, "super": 1, "heavy": 2}
_NEEDS = {"SUBSCRIPTION_TIER_SUPER_GROK_PRO": 1, "SUBSCRIPTION_TIER_SUPER_GROK_HEAVY": 2}


@protected("signed")
async def modes(request: web.Request) -> web.Response:
    """`POST /rest/modes {"locale"}` -> the modes, each with `requiresUpgrade` for this account's tier."""
    body = await json_object(request)
    if not isinstance(body.get("locale", "en"), str):
        raise bad_request("locale must be a string")
    account = request[ACCOUNT]
    out = []
    for mode_id, title, tier in MODES:
        upgrade = None
        if tier is not None:
            upgrade = {"minimumSubscriptionTier": tier,
                       "isRequired": TIER_RANK[account.tier] < _NEEDS[tier]}
        out.append({"id": mode_id, "modeId": mode_id, "title": title, "requiresUpgrade": upgrade})
    return web.json_response({"modes": out})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/auth/session", auth_session),
        web.post("/rest/rate-limits", rate_limits),
        web.post("/rest/media/imagine/quota_info", quota_info),
        web.post("/rest/auth/set-birth-date", set_birth_date),
        web.post("/rest/auth/set-tos-accepted", set_tos_accepted),
        web.post("/auth_mgmt.AuthManagement/SetTosAcceptedVersion", set_tos_accepted_version),
        web.post("/auth_mgmt.AuthManagement/UpdateUserFeatureControls", update_feature_controls),
        web.post("/grok_api_v2.GrokBuildBilling/GetGrokCreditsConfig", grok_credits_config),
        web.post("/rest/livekit/tokens", livekit_tokens),
        web.post("/rest/modes", modes),
        web.get("/index", index),
        web.get("/", index),
    ]
