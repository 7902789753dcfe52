"""What grok.com's edge told one egress: Cloudflare cookies per egress+account (C5, C13), asked-for client hints (C11)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

# Cookies the edge sets and a browser sends back; nothing else a response sets is kept (§2.2).
KEPT_COOKIES = frozenset({"__cf_bm", "cf_clearance", "_cfuvid"})
KEPT_PREFIXES = ("cf_chl_",)
_MAX_JARS = 20_000


def _kept(name: str) -> bool:
    return name in KEPT_COOKIES or name.startswith(KEPT_PREFIXES)


def parse_set_cookie(lines: Iterable[str]) -> dict[str, str]:
    """name -> value of the kept cookies in Set-Cookie lines; an expired/empty one maps to ""."""
    out: dict[str, str] = {}
    for line in lines:
        first, _, attrs = line.partition(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _kept(name):
            continue
        low = attrs.lower().replace(" ", "")
        expired = "max-age=0" in low or "max-age=-" in low or "expires=thu,01jan1970" in low
        out[name] = "" if expired else value
    return out


def _account_key(token: str) -> str:
    # The jar is keyed by a digest: the token itself is a secret and must not sit in another structure.
    return hashlib.sha256(token.encode()).hexdigest()[:32] if token else ""


class EgressIdentity:
    """Per-egress memory of the edge: cookies per (egress, account) and Accept-CH hints per egress."""

    def __init__(self) -> None:
        self._jars: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
        self._hints: dict[str, frozenset[str]] = {}

    def cookies(self, egress: str, token: str) -> dict[str, str]:
        """Cookies to send back on this egress for this account (empty dict if none)."""
        return dict(self._jars.get((egress, _account_key(token)), {}))

    def remember(self, egress: str, token: str, set_cookie: Iterable[str]) -> None:
        """Keep the Cloudflare cookies a response set; an expired one is forgotten."""
        found = parse_set_cookie(set_cookie)
        if not found:
            return
        key = (egress, _account_key(token))
        jar = self._jars.setdefault(key, {})
        for name, value in found.items():
            if value:
                jar[name] = value
            else:
                jar.pop(name, None)
        self._jars.move_to_end(key)
        while len(self._jars) > _MAX_JARS:
            self._jars.popitem(last=False)

    def forget(self, egress: str) -> None:
        """Drop every cookie of an egress (its clearance no longer holds)."""
        for key in [k for k in self._jars if k[0] == egress]:
            del self._jars[key]

    def asked_hints(self, egress: str) -> frozenset[str]:
        """Lower-case client-hint names the edge asked this egress for with Accept-CH."""
        return self._hints.get(egress, frozenset())

    def note_accept_ch(self, egress: str, value: str) -> None:
        if value:
            self._hints[egress] = frozenset(h.strip().lower() for h in value.split(",") if h.strip())
