"""Who we are on one egress: the clearance an egress earned (cookies, User-Agent, impersonation profile),
what grok.com's edge told it (Cloudflare cookies per egress+account, C5 C13; asked-for client hints, C11),
and the hooks through which whoever manages egresses hands clearances to the transport."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from curl_cffi.requests import BrowserType

from .errors import ErrorKind

# Cookies the edge sets and a browser sends back; nothing else a response sets is kept (§2.2).
KEPT_COOKIES = frozenset({"__cf_bm", "cf_clearance", "_cfuvid"})
KEPT_PREFIXES = ("cf_chl_",)
_MAX_JARS = 20_000


def is_edge_cookie(name: str) -> bool:
    """A cookie Cloudflare's edge sets and a browser sends back (the only ones an egress keeps)."""
    return name in KEPT_COOKIES or name.startswith(KEPT_PREFIXES)


def parse_set_cookie(lines: Iterable[str]) -> dict[str, str]:
    """name -> value of the kept cookies in Set-Cookie lines; an expired/empty one maps to ""."""
    out: dict[str, str] = {}
    for line in lines:
        first, _, attrs = line.partition(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not is_edge_cookie(name):
            continue
        low = attrs.lower().replace(" ", "")
        expired = "max-age=0" in low or "max-age=-" in low or "expires=thu,01jan1970" in low
        out[name] = "" if expired else value
    return out


@dataclass(frozen=True, slots=True)
class Clearance:
    """What a challenge solver earned on one egress: Cloudflare binds `cf_clearance` to the egress
    address and this User-Agent, so both travel together, with the TLS profile of the same browser."""

    cookies: Mapping[str, str]  # cf_clearance, and __cf_bm when the solver got one
    user_agent: str
    browser: str  # curl_cffi impersonation profile of the User-Agent's browser major (browser_for)
    obtained_at: float
    expires_at: float = 0.0  # unix seconds; 0 = unknown

    def valid(self, now: float) -> bool:
        return not self.expires_at or now < self.expires_at

    def __repr__(self) -> str:  # never the cookie values
        return f"Clearance({self.browser}, cookies={sorted(self.cookies)}, obtained_at={self.obtained_at:.0f})"


class EgressHooks(Protocol):
    """What the transport asks of the egress manager, by egress (the proxy a call leaves through)."""

    def clearance(self, egress: str) -> Clearance | None:
        """The clearance to present on this egress now (None: the configured identity)."""

    async def challenged(self, egress: str, seen: Clearance | None) -> Clearance | None:
        """A Cloudflare challenge answered a call that presented `seen`: a fresh clearance to send the
        call again with (once), or None when there is none to be had."""

    def observed(self, egress: str, kind: ErrorKind | None) -> None:
        """A call through this egress ended: None = success, else the failure's kind."""


_BROWSER_MAJOR = (("Edg/", "edge"), ("Firefox/", "firefox"), ("Chrome/", "chrome"), ("CriOS/", "chrome"))


def browser_for(user_agent: str, fallback: str, profiles: Iterable[str] | None = None) -> str:
    """curl_cffi's impersonation profile for a User-Agent: its browser and major version (a macOS
    variant for a macOS UA when there is one); the nearest older major of that browser when curl_cffi
    has no profile of the same major; `fallback` for browsers it cannot impersonate."""
    names = set(profiles if profiles is not None else (b.value for b in BrowserType))
    for marker, family in _BROWSER_MAJOR:
        match = re.search(re.escape(marker) + r"(\d+)", user_agent)
        if not match:
            continue
        major = int(match.group(1))
        mac = "Macintosh" in user_agent or "Mac OS X" in user_agent
        for name in ((f"{family}{major}_macos",) if mac else ()) + (f"{family}{major}", f"{family}{major}a"):
            if name in names:
                return name
        ranked = sorted((int(m.group(1)), n) for n in names
                        if (m := re.fullmatch(re.escape(family) + r"(\d+)a?", n)))
        older = [n for v, n in ranked if v <= major]
        return older[-1] if older else (ranked[0][1] if ranked else fallback)
    return fallback


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
