"""Cookies and request headers a browser on grok.com would send (protocol §2); pure functions."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .. import ids
from .options import UpstreamConfig

ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
NAVIGATION_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
GRPC_WEB = "application/grpc-web+proto"
_CHROME_MAJOR = re.compile(r"(?:Chrome|Chromium|CriOS)/(\d+)")
_DIGITS = re.compile(r"(\d+)")


def normalize_token(raw: str) -> str:
    """An SSO value from whatever was pasted: strip `sso=`, cut at the first `;`, drop CR/LF/NUL."""
    token = raw.replace("\r", "").replace("\n", "").replace("\x00", "").strip()
    if token.lower().startswith("sso="):
        token = token[4:]
    return token.split(";", 1)[0].strip()


def cookie_header(token: str, cf_clearance: str = "", user_id: str = "",
                  edge_cookies: Mapping[str, str] | None = None) -> str:
    """`sso` and `sso-rw` always carry the same value (§2.2); then the Cloudflare cookies (those the
    edge set on this egress for this account win over the configured clearance, C5); mgw adds `x-userid`."""
    sso = normalize_token(token)
    parts = [f"sso={sso}", f"sso-rw={sso}"] if sso else []  # the page read for x-statsig-id has no account
    cf = dict(edge_cookies or {})
    if cf_clearance and "cf_clearance" not in cf:
        parts.append(f"cf_clearance={cf_clearance}")
    parts += [f"{name}={value}" for name, value in cf.items()]
    if user_id:
        parts.append(f"x-userid={user_id}")
    return "; ".join(parts)


def request_id() -> str:
    """A fresh `x-xai-request-id`: a version-4 UUID, as the browser's crypto.randomUUID."""
    return ids.uuid4()


def client_hints(user_agent: str, browser: str = "") -> dict[str, str]:
    """The low-entropy Sec-CH-UA* hints a Chromium browser sends unasked (C11); {} for non-Chromium UAs."""
    return dict(_client_hints(user_agent, browser))


def high_entropy_hints(user_agent: str, asked: frozenset[str]) -> dict[str, str]:
    """The high-entropy hints the edge asked for with Accept-CH (and only those)."""
    if not asked or not _CHROME_MAJOR.search(user_agent):
        return {}
    ua = user_agent.lower()
    x86 = any(m in ua for m in ("intel", "x86_64", "win64", "x64", "wow64"))
    major = _CHROME_MAJOR.search(user_agent)
    full = f"{major.group(1)}.0.0.0" if major else ""
    brands = _brand_list(int(major.group(1)), _brand(user_agent), full) if major else ""
    offered = {
        "sec-ch-ua-arch": ("Sec-Ch-Ua-Arch", '"x86"' if x86 else '"arm"'),
        "sec-ch-ua-bitness": ("Sec-Ch-Ua-Bitness", '"64"'),
        "sec-ch-ua-model": ("Sec-Ch-Ua-Model", '""'),
        "sec-ch-ua-full-version-list": ("Sec-Ch-Ua-Full-Version-List", brands),
    }
    return {name: value for key, (name, value) in offered.items() if key in asked and value}


def _brand(user_agent: str) -> str:
    if "Edg/" in user_agent:
        return "Microsoft Edge"
    if "Chrome/" in user_agent or "CriOS/" in user_agent:
        return "Google Chrome"
    return "Chromium"


# Chromium's GREASE for the brand list (user_agent_utils.cc): the fake brand's two separator
# characters, its version and the order of the three entries all follow from the major version,
# so a UA claiming Chrome N must carry exactly Chrome N's list.
_GREASE_CHARS = (" ", "(", ":", "-", ".", "/", ")", ";", "=", "?", "_")
_GREASE_VERSIONS = ("8", "99", "24")
_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _brand_list(major: int, brand: str, version: str = "") -> str:
    grease = f"Not{_GREASE_CHARS[major % 11]}A{_GREASE_CHARS[(major + 1) % 11]}Brand"
    grease_version = _GREASE_VERSIONS[major % 3] + (".0.0.0" if version else "")
    own = version or str(major)
    entries = [(grease, grease_version), ("Chromium", own)] + ([] if brand == "Chromium" else [(brand, own)])
    # Entry i goes to position _ORDERS[major % 6][i]; with two entries their relative order is kept.
    ranked = sorted(zip(_ORDERS[major % 6], entries))
    return ", ".join(f'"{name}";v="{v}"' for _, (name, v) in ranked)


@functools.lru_cache(maxsize=64)  # the UA is a setting: derive its hints once, not on every call
def _client_hints(user_agent: str, browser: str) -> tuple[tuple[str, str], ...]:
    match = _CHROME_MAJOR.search(user_agent) or _DIGITS.search(browser if "chrom" in browser.lower() else "")
    if not match:
        return ()
    major = int(match.group(1))
    ua = user_agent.lower()
    mobile = any(m in ua for m in ("mobile", "android", "iphone", "ipad"))
    if "android" in ua:
        platform = "Android"
    elif "iphone" in ua or "ipad" in ua:
        platform = "iOS"
    elif "windows" in ua:
        platform = "Windows"
    elif "mac os" in ua or "macintosh" in ua:
        platform = "macOS"
    else:
        platform = "Linux"
    return (
        ("Sec-Ch-Ua", _brand_list(major, _brand(user_agent))),
        ("Sec-Ch-Ua-Mobile", "?1" if mobile else "?0"),
        ("Sec-Ch-Ua-Platform", f'"{platform}"'),
    )


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


@functools.lru_cache(maxsize=64)  # origin and referer come from settings: a few pairs
def fetch_site(origin: str, referer: str) -> str:
    """`same-origin` when Origin and Referer share the host, else `same-site` (§2.3)."""
    return "same-origin" if _host(origin) == _host(referer) else "same-site"


def rest_headers(config: UpstreamConfig, *, origin: str, referer: str, content_type: str = "application/json",
                 with_request_id: bool = True) -> dict[str, str]:
    """Fetch-style headers of a REST/gRPC call (§2.3); cookies and statsig are added by the transport."""
    headers = dict(_rest_base(config.user_agent, config.browser, origin, referer, content_type))
    if with_request_id:
        headers["x-xai-request-id"] = request_id()
    return headers


@functools.lru_cache(maxsize=64)  # every input is a setting or a constant of the call site
def _rest_base(user_agent: str, browser: str, origin: str, referer: str,
               content_type: str) -> tuple[tuple[str, str], ...]:
    """rest_headers without its request id, in the order they go out."""
    headers = {
        "Accept": "*/*",
        "Accept-Language": ACCEPT_LANGUAGE,
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "Priority": "u=1, i",
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": fetch_site(origin, referer) if origin else "same-origin",
        "User-Agent": user_agent,
        **dict(_client_hints(user_agent, browser)),
    }
    if origin:
        headers["Origin"] = origin
    if referer:
        headers["Referer"] = referer
    if content_type:
        headers["Content-Type"] = content_type
    return tuple(headers.items())


def grpc_headers(config: UpstreamConfig, *, origin: str, referer: str) -> dict[str, str]:
    """gRPC-web call headers (§2.6): binary proto body, `x-grpc-web`, connect-es user agent."""
    headers = rest_headers(config, origin=origin, referer=referer, content_type=GRPC_WEB)
    headers["x-grpc-web"] = "1"
    headers["x-user-agent"] = "connect-es/2.1.1"
    return headers


def navigation_headers(config: UpstreamConfig, *, origin: str, referer: str) -> dict[str, str]:
    """A top-level browser navigation (asset downloads §8.4, the /index page for the signer §2.4)."""
    headers = rest_headers(config, origin=origin, referer=referer, content_type="")
    headers.update({
        "Accept": NAVIGATION_ACCEPT,
        "Sec-Fetch-Dest": "document",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-User": "?1",
        "Upgrade-Insecure-Requests": "1",
        "Priority": "u=0, i",
    })
    if not origin:
        headers["Sec-Fetch-Site"] = "none"
    return headers


def ws_headers(config: UpstreamConfig, origin: str) -> dict[str, str]:
    """WebSocket upgrade headers (§2.7): no statsig and no request id on any WebSocket."""
    return {
        "Origin": origin,
        "User-Agent": config.user_agent,
        "Accept-Language": ACCEPT_LANGUAGE,
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        **client_hints(config.user_agent, config.browser),
    }
