"""A client of FlareSolverr-compatible challenge solvers (FlareSolverr, Byparr, ...): one `request.get`
of grok.com through an egress, its cookies and User-Agent turned into a Clearance."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from ..upstream.identity import Clearance, browser_for, is_edge_cookie
from .proxies import mask_proxy

_ANSWER_LIMIT = 16 * 1024 * 1024  # the answer holds the page's HTML; grok.com's is far smaller


class SolverError(Exception):
    """The solver could not earn a clearance (unreachable, refused, timed out, malformed answer)."""


def solver_proxy(proxy: str) -> dict[str, str]:
    """The `proxy` object of a request: the URL without credentials, which go in their own fields
    (FlareSolverr v3 reads `username`/`password`); socks5h becomes socks5 (a browser resolves names
    at a SOCKS5 proxy anyway and knows no socks5h scheme)."""
    parts = urlsplit(proxy)
    scheme = "socks5" if parts.scheme == "socks5h" else parts.scheme
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    out = {"url": urlunsplit((scheme, netloc, "", "", ""))}
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    return out


def request_body(target_url: str, proxy: str, timeout: float) -> dict[str, Any]:
    """The solver request: open `target_url` in its browser, through `proxy` ("" = the solver's own address)."""
    body: dict[str, Any] = {"cmd": "request.get", "url": target_url, "maxTimeout": int(timeout * 1000)}
    if proxy:
        body["proxy"] = solver_proxy(proxy)
    return body


def _expiry(cookie: Mapping[str, Any]) -> float:
    """A cookie's expiry in unix seconds: `expires` (FlareSolverr, Byparr) or `expiry` (Selenium);
    -1 or absent = a session cookie (0)."""
    for key in ("expires", "expiry"):
        value = cookie.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 0.0


def parse_solution(answer: Any, *, fallback_browser: str, default_ttl: float, now: float) -> Clearance:
    """The Clearance in a solver's answer; SolverError naming what is wrong with it."""
    if not isinstance(answer, dict):
        raise SolverError("the solver answered no JSON object")
    if answer.get("status") != "ok":
        message = str(answer.get("message") or answer.get("status") or "no status")[:300]
        raise SolverError(f"the solver failed: {message}")
    solution = answer.get("solution")
    if not isinstance(solution, dict):
        raise SolverError("the solver's answer carries no solution")
    user_agent = solution.get("userAgent")
    if not isinstance(user_agent, str) or not user_agent.strip():
        raise SolverError("the solver's solution carries no userAgent")
    raw = solution.get("cookies")
    if not isinstance(raw, list):
        raise SolverError("the solver's solution carries no cookie list")
    cookies: dict[str, str] = {}
    expires_at = 0.0
    for cookie in raw:
        if not isinstance(cookie, dict) or not isinstance(cookie.get("name"), str):
            continue
        name, value = cookie["name"], str(cookie.get("value", ""))
        if not is_edge_cookie(name) or not value:
            continue  # only Cloudflare's cookies belong to the egress; grok.com's own stay per account
        cookies[name] = value
        if name == "cf_clearance":
            expires_at = _expiry(cookie)
    if expires_at <= now:
        expires_at = now + default_ttl
    return Clearance(cookies=cookies, user_agent=user_agent.strip(), obtained_at=now, expires_at=expires_at,
                     browser=browser_for(user_agent, fallback_browser))


async def solve(session: aiohttp.ClientSession, solver_url: str, target_url: str, proxy: str, *,
                timeout: float, fallback_browser: str, default_ttl: float) -> Clearance:
    """Ask the solver for a clearance on `proxy`'s egress; SolverError on any failure (no secret in it)."""
    where = mask_proxy(proxy) or "the direct egress"
    body = request_body(target_url, proxy, timeout)
    try:
        async with session.post(solver_url, json=body, timeout=aiohttp.ClientTimeout(total=timeout + 15)) as resp:
            raw = await resp.content.read(_ANSWER_LIMIT)
            try:
                answer = json.loads(raw)
            except ValueError:
                raise SolverError(f"the solver answered HTTP {resp.status} without JSON for {where}") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SolverError(f"the solver at {solver_url} could not be reached for {where}: "
                          f"{type(exc).__name__}: {exc}"[:300]) from None
    try:
        return parse_solution(answer, fallback_browser=fallback_browser, default_ttl=default_ttl, now=time.time())
    except SolverError as exc:
        raise SolverError(f"{exc} (egress {where})") from None

