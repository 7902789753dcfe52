"""gRPC-web framing (§10.1) and the two tiny protobuf messages the account operations send; pure."""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

DATA_FLAG = 0x00
TRAILER_FLAG = 0x80
COMPRESSED_FLAG = 0x01
_BASE64ISH = re.compile(rb"^[A-Za-z0-9+/=\s]+$")

# SetTosAcceptedVersion: protobuf { field 2 (varint) = 1 } (§10.2)
TOS_MESSAGE = bytes([0x10, 0x01])
NSFW_PATH = b"always_show_nsfw_content"


def frame(payload: bytes, flag: int = DATA_FLAG) -> bytes:
    """One frame: flag byte, 4-byte big-endian length, payload."""
    return bytes([flag]) + struct.pack(">I", len(payload)) + payload


def feature_controls_message(enabled: bool = True) -> bytes:
    """UpdateUserFeatureControlsRequest{1: {2: enabled}, 2: {1: "always_show_nsfw_content"}} (§10.4)."""
    controls = bytes([0x10, 0x01 if enabled else 0x00])
    mask = bytes([0x0A, len(NSFW_PATH)]) + NSFW_PATH
    return bytes([0x0A, len(controls)]) + controls + bytes([0x12, len(mask)]) + mask


@dataclass(slots=True)
class GrpcReply:
    """Data messages plus the status; status -1 = none reported (treated as success, like PY-A/PY-B)."""

    messages: list[bytes] = field(default_factory=list)
    status: int = -1
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (-1, 0)


def _trailers(payload: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in payload.decode("latin-1").split("\r\n"):
        if ":" in line:
            name, value = line.split(":", 1)
            out[name.strip().lower()] = value.strip()
    return out


def parse_reply(body: bytes, headers: Mapping[str, str] | None = None) -> GrpcReply:
    """Decode a gRPC-web answer; status from the trailer frame, else from HTTP headers."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    ctype = headers.get("content-type", "")
    if "grpc-web-text" in ctype or (body and _BASE64ISH.match(body) and len(body) % 4 == 0):
        try:
            body = base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError):
            pass
    reply = GrpcReply()
    trailers: dict[str, str] = {}
    pos = 0
    while pos + 5 <= len(body):
        flag = body[pos]
        (length,) = struct.unpack(">I", body[pos + 1:pos + 5])
        payload = body[pos + 5:pos + 5 + length]
        pos += 5 + length
        if flag & TRAILER_FLAG:
            trailers.update(_trailers(payload))
        elif flag & COMPRESSED_FLAG:
            raise ValueError("compressed gRPC-web frames are not supported")
        else:
            reply.messages.append(payload)
    status = trailers.get("grpc-status", headers.get("grpc-status", ""))
    if status.strip().lstrip("-").isdigit():
        reply.status = int(status)
    reply.message = unquote(trailers.get("grpc-message", headers.get("grpc-message", "")))
    return reply
