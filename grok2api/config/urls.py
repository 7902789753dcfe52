"""Checks of URL-valued settings: endpoints by scheme, proxies (scheme, host, port), browser origins."""

from __future__ import annotations

from urllib.parse import urlsplit


def url_problem(value: str, schemes: tuple[str, ...], *, proxy: bool = False) -> str:
    """Why `value` is not an absolute URL with one of `schemes` (a proxy also needs a port and no
    path), or "" when it is."""
    allowed = ", ".join(f"{s}://" for s in schemes)
    parts = urlsplit(value)
    # `sock5://` is a typo proxy pools and the seed's users write; the egress reads it as socks5h.
    if parts.scheme.lower() not in schemes and not (proxy and parts.scheme.lower() == "sock5"):
        return f"must start with {allowed}" if parts.scheme else f"must be an absolute URL starting with {allowed}"
    if any(c.isspace() or not c.isprintable() for c in value):
        return "must not contain spaces or control characters"
    try:
        port = parts.port
    except ValueError:
        return "has an invalid port"
    if not parts.hostname:
        return f"names no host (expected {parts.scheme}://host[:port])"
    if proxy and (port is None or parts.path not in ("", "/") or parts.query or parts.fragment):
        return f"a proxy is {parts.scheme}://[user:password@]host:port, with a port and nothing after it"
    return ""


def origin_problem(origin: str) -> str:
    """Why `origin` is not "*" nor a browser origin (scheme://host[:port], nothing else), or ""."""
    if origin == "*":
        return ""
    problem = url_problem(origin, ("http", "https"))
    parts = urlsplit(origin)
    if not problem and (parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        problem = "has a path, query or user; an origin is only scheme://host[:port]"
    return f"{origin!r} is not an origin like https://app.example.com or \"*\": {problem}" if problem else ""
