"""The egress pool's pure parts: names, balanced assignment, the solver's request and answer, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from grok2api.config.settings import ConfigError, redact
from grok2api.egress.assign import least_loaded, spread
from grok2api.egress.model import egress_name
from grok2api.egress.options import EgressConfig
from grok2api.egress.solver import SolverError, parse_solution, request_body, solve, solver_proxy
from grok2api.gateway.wiring import egress_config
from tests.conftest import make_settings

NOW = 1_800_000_000.0


def test_names_hide_credentials_and_tell_same_host_exits_apart() -> None:
    assert egress_name("http://10.0.0.1:3128") == "http://10.0.0.1:3128"
    one = egress_name("http://user-session-1:secret@gate.example:7777")
    two = egress_name("http://user-session-2:secret@gate.example:7777")
    assert one.startswith("http://***@gate.example:7777#") and one != two
    assert "secret" not in one and "user-session" not in one
    assert egress_name("http://user-session-1:secret@gate.example:7777") == one  # stable


def test_least_loaded_and_spread_keep_egresses_balanced() -> None:
    assert least_loaded({"a": 2, "b": 1}, ["a", "b"]) == "b"
    assert least_loaded({"a": 1, "b": 1}, ["b", "a"]) == "b"  # ties: configured order
    assert least_loaded({}, []) is None
    plan = spread([f"acct{i}" for i in range(7)], {"a": 3}, ["a", "b", "c"])
    loads = {"a": 3, "b": 0, "c": 0}
    for target in plan.values():
        loads[target] += 1
    assert loads == {"a": 4, "b": 3, "c": 3}
    assert spread(["x"], {}, []) == {}


def test_solver_request_carries_the_egress_with_its_credentials_apart() -> None:
    assert request_body("https://grok.com/", "", 60) == {"cmd": "request.get", "url": "https://grok.com/",
                                                         "maxTimeout": 60000}
    body = request_body("https://grok.com/", "socks5h://us%40er:p%3Ass@10.0.0.9:1080", 30)
    assert body["proxy"] == {"url": "socks5://10.0.0.9:1080", "username": "us@er", "password": "p:ss"}
    assert solver_proxy("http://[::1]:8080") == {"url": "http://[::1]:8080"}


def _answer(**solution: Any) -> dict[str, Any]:
    base = {"url": "https://grok.com/", "status": 200, "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36",
            "cookies": [{"name": "cf_clearance", "value": "cv", "expiry": int(NOW) + 3600},
                        {"name": "__cf_bm", "value": "bm", "expires": -1},
                        {"name": "grok_device_id", "value": "not-ours"}]}
    return {"status": "ok", "message": "Challenge solved!", "solution": {**base, **solution}}


def test_a_solution_becomes_a_clearance_of_cloudflare_cookies_ua_and_profile() -> None:
    clr = parse_solution(_answer(), fallback_browser="chrome152", default_ttl=1800, now=NOW)
    assert dict(clr.cookies) == {"cf_clearance": "cv", "__cf_bm": "bm"}
    assert clr.browser == "chrome146" and "Chrome/146" in clr.user_agent
    assert (clr.obtained_at, clr.expires_at) == (NOW, NOW + 3600)
    assert "cv" not in repr(clr)
    # Byparr writes `expires`; a session cookie (-1) or a past expiry gets the assumed lifetime.
    session = _answer(cookies=[{"name": "cf_clearance", "value": "cv", "expires": -1}])
    assert parse_solution(session, fallback_browser="x", default_ttl=900, now=NOW).expires_at == NOW + 900
    byparr = _answer(cookies=[{"name": "cf_clearance", "value": "cv", "expires": NOW + 60.5}])
    assert parse_solution(byparr, fallback_browser="x", default_ttl=900, now=NOW).expires_at == NOW + 60.5


@pytest.mark.parametrize(("answer", "message"), [
    ({"status": "error", "message": "Error solving the challenge. Timeout after 60.0 seconds."}, "Timeout after 60"),
    ({"status": "ok"}, "no solution"),
    (_answer(userAgent=""), "no userAgent"),
    (_answer(cookies="cf_clearance=x"), "no cookie list"),
    (["not", "an", "object"], "no JSON object"),
])
def test_a_bad_answer_is_a_solver_error_naming_the_problem(answer: Any, message: str) -> None:
    with pytest.raises(SolverError, match=message):
        parse_solution(answer, fallback_browser="chrome152", default_ttl=1800, now=NOW)


async def test_solve_errors_name_the_solver_and_egress_never_a_password(aiohttp_server: Any) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="<html>oops</html>")

    app = web.Application()
    app.router.add_post("/v1", broken)
    server = await aiohttp_server(app)
    url = str(server.make_url("/v1"))
    proxy = "http://user:hunter2@127.0.0.1:9"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SolverError) as bad:
            await solve(session, url, "https://grok.com/", proxy, timeout=5,
                        fallback_browser="chrome152", default_ttl=1800)
        assert "HTTP 500 without JSON" in str(bad.value) and "http://***@127.0.0.1:9" in str(bad.value)
        await server.close()
        with pytest.raises(SolverError) as gone:
            await solve(session, url, "https://grok.com/", proxy, timeout=5,
                        fallback_browser="chrome152", default_ttl=1800)
        assert "could not be reached" in str(gone.value)
    for exc in (bad.value, gone.value):
        assert "hunter2" not in str(exc)


def test_egress_urls_from_the_environment_with_the_seed_proxy(tmp_path: Path) -> None:
    s = make_settings(tmp_path, env={"GROK2API_PROXY_EGRESS_URLS": "http://10.0.0.1:3128, socks5://u:p@10.0.0.2:1080",
                                     "GROK2API_PROXY_PROXY_URL": "http://10.0.0.3:8080",
                                     "GROK2API_NETWORK_BASE_PROXY_URL": "http://ignored:1"})
    cfg = EgressConfig.from_settings(s)
    assert cfg.urls == ("http://10.0.0.1:3128", "socks5h://u:p@10.0.0.2:1080", "http://10.0.0.3:8080")
    assert redact(s.proxy.egress_urls) == ["http://10.0.0.1", "socks5://***@10.0.0.2"]
    assert cfg.static_proxy(egress_name("socks5h://u:p@10.0.0.2:1080")) == "socks5h://u:p@10.0.0.2:1080"
    assert cfg.static_proxy("gone") == "http://10.0.0.1:3128"
    seed_only = EgressConfig.from_settings(make_settings(tmp_path, env={
        "GROK2API_NETWORK_BASE_PROXY_URL": "http://10.0.0.4:8080"}))
    assert seed_only.urls == ("http://10.0.0.4:8080",)


def test_a_bad_egress_url_is_a_config_error_naming_the_key_not_the_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as wrong_scheme:
        egress_config(make_settings(tmp_path, env={"GROK2API_PROXY_EGRESS_URLS": "ftp://u:hunter2@h.example:21"}))
    # Refused when the settings load (issue 19: proxy URLs are validated by scheme, host and port).
    assert "proxy.egress_urls" in str(wrong_scheme.value) and "must start with http://" in str(wrong_scheme.value)
    assert "hunter2" not in str(wrong_scheme.value)
    with pytest.raises(ConfigError) as no_url:
        make_settings(tmp_path, env={"GROK2API_PROXY_EGRESS_URLS": "not a url"})
    assert "proxy.egress_urls" in str(no_url.value) and "absolute URL" in str(no_url.value)
