"""Proxy selection: parsing pool answers, lazy refresh, rotation on Cloudflare, masking."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from grok2api.egress.proxies import ProxyManager, extract_proxy, mask_proxy, normalize_proxy


@pytest.mark.parametrize(("raw", "expected"), [
    ("1.2.3.4:8080", "http://1.2.3.4:8080"),
    ("sock5://u:p@h.example:1080", "socks5h://u:p@h.example:1080"),
    ("socks5://h.example:1080\nsocks5://other:1", "socks5h://h.example:1080"),
    ("https://proxy.example:443", "https://proxy.example:443"),
])
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_proxy(raw) == expected


@pytest.mark.parametrize("bad", ["ftp://h:1", "http://nohost", "http://h.example"])
def test_normalize_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_proxy(bad)


@pytest.mark.parametrize(("body", "expected"), [
    ('{"code":0,"data":{"proxy":"5.6.7.8:3128"}}', "http://5.6.7.8:3128"),
    ('{"data":[{"ip":"9.9.9.9:1"}]}', "http://9.9.9.9:1"),
    ("socks5://10.0.0.1:1080", "socks5h://10.0.0.1:1080"),
])
def test_extract(body: str, expected: str) -> None:
    assert extract_proxy(body) == expected


def test_mask_hides_credentials() -> None:
    assert mask_proxy("http://user:secret@h.example:8080") == "http://***@h.example:8080"
    assert "secret" not in mask_proxy("socks5h://a:secret@h:1")


async def test_pool_refresh_interval_and_cloudflare_rotation(aiohttp_server) -> None:
    served = iter(["1.1.1.1:1000", "2.2.2.2:2000", "3.3.3.3:3000"])
    calls = 0

    async def pool(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(text=next(served))

    app = web.Application()
    app.router.add_get("/proxy", pool)
    server = await aiohttp_server(app)
    now = [1000.0]

    async def fetch(url: str) -> str:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return await r.text()

    mgr = ProxyManager("", str(server.make_url("/proxy")), 300, fetch, clock=lambda: now[0])
    assert await mgr.current() == "http://1.1.1.1:1000"
    assert await mgr.current() == "http://1.1.1.1:1000" and calls == 1  # cached within the interval
    await mgr.on_cloudflare("http://1.1.1.1:1000")
    assert await mgr.current() == "http://2.2.2.2:2000"
    await mgr.on_cloudflare("http://1.1.1.1:1000")  # stale report: already rotated
    assert calls == 2
    now[0] += 301
    assert await mgr.current() == "http://3.3.3.3:3000"
    st = mgr.status()
    assert (st.mode, st.rotations, st.cloudflare_blocks) == ("pool", 3, 2)


async def test_pool_failure_keeps_previous_proxy() -> None:
    answers = ["7.7.7.7:7", RuntimeError("pool down")]
    now = [0.0]

    async def fetch(_: str) -> str:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    mgr = ProxyManager("http://static.example:8080", "http://pool.example/", 10, fetch, clock=lambda: now[0])
    assert await mgr.current() == "http://7.7.7.7:7"
    now[0] = 20
    assert await mgr.current() == "http://7.7.7.7:7"
    assert mgr.status().last_error == "pool down"


async def test_static_and_direct() -> None:
    async def never(_: str) -> str:
        raise AssertionError("no pool configured")

    assert await ProxyManager("h.example:1", "", 1, never).current() == "http://h.example:1"
    direct = ProxyManager("", "", 1, never)
    assert await direct.current() == "" and direct.mode == "direct"
