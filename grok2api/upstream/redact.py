"""Redaction of transcripts: secrets grok.com exchanges carry become stable placeholders before anything is written.

What counts as a secret: SSO cookies and any cookie value, Authorization, tokens (JWT-shaped strings,
`token`/`access_token` fields and query parameters), account user ids, e-mail addresses,
x-statsig-id values and the page meta they are made from, and the signature parts of signed URLs.

Placeholders are stable: the same secret gets the same placeholder everywhere one Redactor writes
(an HMAC under a random key that is never written), so a developer can still follow one account or
one user id through a directory of transcripts. They keep the shape code relies on: a user id becomes
a UUID (`00000000-0000-4000-8000-…`), an e-mail an address, the page meta 48 bytes of base64, so a
redacted transcript still replays through the gateway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

MIN_SECRET = 6  # shorter learnt values are not replaced everywhere (they would hit ordinary text)
SSO_COOKIES = frozenset({"sso", "sso-rw"})
UID_COOKIES = frozenset({"x-userid", "x-anonuserid"})
# JSON keys, compared lower-case without "-" and "_".
UID_KEYS = frozenset({"userid", "uid", "sub", "xuserid", "owneruserid", "creatoruserid"})
TOKEN_KEYS = frozenset({"token", "accesstoken", "refreshtoken", "idtoken", "sessiontoken", "apikey", "password",
                        "secret"})
STATSIG_KEYS = frozenset({"xstatsigid", "statsigid"})
META_KEYS = frozenset({"metacontent"})
EMAIL_KEYS = frozenset({"email", "emailaddress"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key"})
SIGNED_PARAMS = ("x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
                 "x-goog-credential", "signature", "sig", "token", "access_token", "key-pair-id", "policy",
                 "auth", "uid")

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(f"^{_UUID}$")
_USERS_PATH = re.compile(f"users/({_UUID})")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
_COOKIE_IN_TEXT = re.compile(r"(?i)\b(sso|sso-rw|cf_clearance|__cf_bm|_cfuvid|cf_chl_[\w-]*|x-userid)=([^;\s\"'<>,]+)")
_SIGNED = re.compile(r"(?i)([?&]|\\u0026)(" + "|".join(re.escape(p) for p in SIGNED_PARAMS) + r")=([^&\s\"'<>#\\]+)")
_META_TAG = re.compile(r"""(?i)(<meta\s+[^>]*name=["']grok-site-verification["'][^>]*content=["'])([^"']+)""")
_META_TAG_REVERSED = re.compile(r"""(?i)(<meta\s+[^>]*content=["'])([^"']+)(["'][^>]*name=["']grok-site-verification)""")
_KEYED = re.compile(r'"([A-Za-z][A-Za-z_-]*)"\s*:\s*"([^"\\]{6,})"')  # "key": "value" inside any text
_BEARER = re.compile(r"(?i)\b(bearer)\s+([A-Za-z0-9._~+/=-]{8,})")


def _norm(key: str) -> str:
    return key.replace("-", "").replace("_", "").lower()


class Redactor:
    """Learns the secrets of one transcript document and replaces them, and every secret-shaped
    string, with stable placeholders. One instance per capture: its key makes placeholders stable."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    # -- placeholders ----------------------------------------------------------------
    def placeholder(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256)
        hexed = digest.hexdigest()
        if kind == "uid":
            return f"00000000-0000-4000-8000-{hexed[:12]}"
        if kind == "email":
            return f"user-{hexed[:10]}@redacted.invalid"
        if kind == "meta":
            # The signer input is 48 bytes of base64; keep that shape so `local` can still compute on replay.
            return base64.b64encode(hmac.new(self._key, value.encode(), hashlib.sha384).digest()).decode()
        return f"REDACTED-{kind.upper()}-{hexed[:12]}"

    # -- learning ------------------------------------------------------------------------
    def learn(self, doc: dict[str, Any]) -> dict[str, str]:
        """secret value -> placeholder, from the places a transcript document keeps them."""
        found: dict[str, str] = {}

        def keep(kind: str, value: str) -> None:
            value = value.strip()
            if len(value) >= MIN_SECRET and value not in found:
                found[value] = self.placeholder(kind, value)

        request = doc.get("request") or {}
        response = doc.get("response") or {}
        for name, value in (request.get("headers") or {}).items():
            low = name.lower()
            if low == "cookie":
                for cname, cvalue in _cookies(value):
                    keep(_cookie_kind(cname), cvalue)
            elif low in SECRET_HEADERS:
                keep("auth", value)
                keep("auth", value.split(" ", 1)[-1])
            elif low == "x-statsig-id":
                keep("statsig", value)
        for name, value in (response.get("headers") or {}).items():
            if name.lower() == "set-cookie":
                for line in value.split("\n"):
                    first = line.split(";", 1)[0]
                    cname, sep, cvalue = first.partition("=")
                    if sep:
                        keep(_cookie_kind(cname.strip()), cvalue)
        for match in _SIGNED.finditer(str(request.get("url", ""))):
            keep("uid" if match.group(2).lower() == "uid" else "signed", match.group(3))
        for text in _strings(doc):
            for match in _USERS_PATH.finditer(text):
                keep("uid", match.group(1))
            for obj in _json_objects(text):
                self._learn_json(obj, keep)
            for match in _KEYED.finditer(text):  # JSON inside text that is not JSON as a whole (NDJSON, HTML)
                self._learn_json({match.group(1): match.group(2)}, keep)
        self._learn_json(request.get("json"), keep)
        return found

    def _learn_json(self, obj: Any, keep: Any) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                norm = _norm(str(key))
                if isinstance(value, str):
                    if norm in UID_KEYS and _UUID_RE.match(value):
                        keep("uid", value)
                    elif norm in TOKEN_KEYS:
                        keep("token", value)
                    elif norm in STATSIG_KEYS:
                        keep("statsig", value)
                    elif norm in META_KEYS:
                        keep("meta", value)
                    elif norm in EMAIL_KEYS:
                        keep("email", value)
                elif norm == "user" and isinstance(value, dict) and isinstance(value.get("id"), str) \
                        and _UUID_RE.match(value["id"]):
                    keep("uid", value["id"])
                self._learn_json(value, keep)
        elif isinstance(obj, list):
            for item in obj:
                self._learn_json(item, keep)

    # -- replacing ------------------------------------------------------------------------
    def text(self, value: str, known: dict[str, str] | None = None) -> str:
        """One string with the known secrets and every secret-shaped part replaced."""
        for secret in sorted(known or {}, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, (known or {})[secret])
        value = _META_TAG.sub(lambda m: m.group(1) + self.placeholder("meta", m.group(2)), value)
        value = _META_TAG_REVERSED.sub(lambda m: m.group(1) + self.placeholder("meta", m.group(2)) + m.group(3), value)
        value = _COOKIE_IN_TEXT.sub(lambda m: f"{m.group(1)}={self._cookie_placeholder(m.group(1), m.group(2))}",
                                    value)
        value = _SIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}={self._param_placeholder(m.group(2), m.group(3))}",
                            value)
        value = _BEARER.sub(lambda m: f"{m.group(1)} {self.placeholder('auth', m.group(2))}", value)
        value = _JWT.sub(lambda m: self.placeholder("jwt", m.group(0)), value)
        value = _EMAIL.sub(lambda m: m.group(0) if m.group(0).endswith("@redacted.invalid")
                           else self.placeholder("email", m.group(0)), value)
        value = _USERS_PATH.sub(lambda m: "users/" + (m.group(1) if m.group(1).startswith("00000000-0000-4000-8000-")
                                                       else self.placeholder("uid", m.group(1))), value)
        return value

    def _cookie_placeholder(self, name: str, value: str) -> str:
        if value.startswith("REDACTED-") or _UUID_RE.match(value) and value.startswith("00000000-0000-4000-8000-"):
            return value
        return self.placeholder(_cookie_kind(name), value)

    def _param_placeholder(self, name: str, value: str) -> str:
        if value.startswith("REDACTED-") or value.startswith("00000000-0000-4000-8000-"):
            return value
        return self.placeholder("uid" if name.lower() == "uid" else "signed", value)

    def value(self, obj: Any, known: dict[str, str]) -> Any:
        """A JSON-like value with every string (keys included) redacted."""
        if isinstance(obj, str):
            return self.text(obj, known)
        if isinstance(obj, dict):
            return {self.text(str(k), known): self.value(v, known) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v, known) for v in obj]
        return obj

    def error_text(self, headers: dict[str, str], url: str, text: str) -> str:
        """An error message of one exchange without the secrets its request carried (cookies, uid ...)."""
        return self.text(text, self.learn({"request": {"url": url, "headers": headers}})) if text else ""

    def document(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A transcript document with nothing secret left in it."""
        known = self.learn(doc)
        out: dict[str, Any] = self.value(doc, known)
        for part in ("request", "response"):
            headers = (out.get(part) or {}).get("headers")
            if isinstance(headers, dict):
                for name in list(headers):
                    if name.lower() in SECRET_HEADERS:
                        headers[name] = self.placeholder("auth", str(headers[name]))
        return out


def _cookie_kind(name: str) -> str:
    low = name.strip().lower()
    if low in SSO_COOKIES:
        return "sso"
    if low in UID_COOKIES:
        return "uid"
    return "cookie"


def _cookies(header: str) -> Iterable[tuple[str, str]]:
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            yield name.strip(), value.strip()


def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def _json_objects(text: str) -> Iterable[Any]:
    """The JSON value of a body or frame, when the whole string is JSON (cheap check first)."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return ()
    try:
        return (json.loads(stripped),)
    except ValueError:
        return ()
