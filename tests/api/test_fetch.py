"""The SSRF guard: its address rule, and real fetches through it (redirects, size bound)."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import pytest
from aiohttp import web

from grok2api.media.fetch import FetchError, FetchPolicy, FetchRefused, decode_data_url, fetch_url, is_public_address

MB = 1024 * 1024


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True),
    ("127.0.0.1", False), ("127.1.2.3", False), ("10.0.0.1", False), ("172.16.5.4", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("224.0.0.251", False), ("240.0.0.1", False), ("255.255.255.255", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False), ("fd12::1", False),
    ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("::ffff:169.254.169.254", False), ("2002:7f00:0001::", False), ("64:ff9b::7f00:1", False),
])
def test_address_rule(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def loopback_only(ip: Any) -> bool:
    """The test server lives on 127.0.0.1: allow exactly it, and everything else by the real rule."""
    return ip == ipaddress.ip_address("127.0.0.1") or is_public_address(ip)


@pytest.fixture
async def origin(aiohttp_server: Any) -> Any:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG-bytes", content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the reader must stop on its own
        await response.prepare(request)
        for _ in range(3):
            await response.write(b"x" * MB)
        return response

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * (2 * MB))

    app = web.Application()
    app.router.add_get("/a.png", image)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/big", big)
    app.router.add_get("/declared", declared)
    return await aiohttp_server(app, host="127.0.0.1")


async def test_loopback_refused_and_allowed_by_setting(origin: Any) -> None:
    url = f"http://127.0.0.1:{origin.port}/a.png"
    with pytest.raises(FetchRefused):
        await fetch_url(url, FetchPolicy(max_bytes=MB))
    fetched = await fetch_url(url, FetchPolicy(max_bytes=MB, allow_private=True))
    assert fetched.data == b"\x89PNG-bytes" and fetched.mime == "image/png" and fetched.name == "a.png"


@pytest.mark.parametrize("host", ["localhost", "[::1]", "10.1.2.3", "169.254.169.254", "[::ffff:127.0.0.1]",
                                  "0.0.0.0", "192.168.0.1"])
async def test_private_targets_refused(origin: Any, host: str) -> None:
    with pytest.raises(FetchRefused):
        await fetch_url(f"http://{host}:{origin.port}/a.png", FetchPolicy(max_bytes=MB, timeout=5))


async def test_name_resolved_through_the_guarded_resolver(origin: Any) -> None:
    # With private fetches allowed, "localhost" goes through the same resolver that refuses it above.
    fetched = await fetch_url(f"http://localhost:{origin.port}/a.png",
                              FetchPolicy(max_bytes=MB, allow_private=True))
    assert fetched.data == b"\x89PNG-bytes"


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x",
                                    "http://127.0.0.2:{port}/a.png", "http://[::1]:{port}/a.png",
                                    "http://[::ffff:7f00:1]:{port}/a.png"])
async def test_redirect_to_private_target_refused(origin: Any, target: str) -> None:
    policy = FetchPolicy(max_bytes=MB, address_ok=loopback_only, timeout=5)
    to = target.format(port=origin.port)
    with pytest.raises(FetchRefused):
        await fetch_url(f"http://127.0.0.1:{origin.port}/redirect?to={to}", policy)


async def test_redirect_to_allowed_target_followed(origin: Any) -> None:
    policy = FetchPolicy(max_bytes=MB, address_ok=loopback_only)
    fetched = await fetch_url(f"http://127.0.0.1:{origin.port}/redirect?to=/a.png", policy)
    assert fetched.data == b"\x89PNG-bytes"


async def test_redirect_loop_stops(origin: Any) -> None:
    with pytest.raises(FetchError, match="redirects"):
        await fetch_url(f"http://127.0.0.1:{origin.port}/loop", FetchPolicy(max_bytes=MB, allow_private=True))


@pytest.mark.parametrize("path", ["/big", "/declared"])
async def test_size_bound(origin: Any, path: str) -> None:
    with pytest.raises(FetchError, match="larger than the 1 MB limit"):
        await fetch_url(f"http://127.0.0.1:{origin.port}{path}", FetchPolicy(max_bytes=MB, allow_private=True))


async def test_other_schemes_refused() -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x/"):
        with pytest.raises(FetchError, match="only http"):
            await fetch_url(url, FetchPolicy(max_bytes=MB))


def test_data_urls() -> None:
    payload = base64.b64encode(b"\x89PNG" + b"0" * 100).decode()
    fetched = decode_data_url(f"data:image/png;base64,{payload}", MB)
    assert fetched.data.startswith(b"\x89PNG") and fetched.mime == "image/png" and fetched.name == "upload.png"
    assert decode_data_url("data:,hello%20world", MB).data == b"hello world"
    with pytest.raises(FetchError, match="base64"):
        decode_data_url("data:image/png;base64,@@@@", MB)
    with pytest.raises(FetchError, match="limit"):
        decode_data_url("data:image/png;base64," + "A" * (2 * MB), MB)
    with pytest.raises(FetchError, match="comma"):
        decode_data_url("data:image/png;base64", MB)
