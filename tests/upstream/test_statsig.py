"""x-statsig-id strategies and their chain (§0.2 C1–C4), as pure units with stand-in page fetchers."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest

from grok2api.upstream.statsig import (
    FallbackStrategy,
    ManualStrategy,
    SignerStrategy,
    StatsigUnavailable,
    decoded_length,
    is_acceptable,
)
from grok2api.upstream.statsig_chain import Signed, StatsigChain, route_of, summary
from grok2api.upstream.statsig_local import LocalStrategy, PageMaterial, compute, fingerprint_of, read_material

NEW = "/rest/app-chat/conversations/new"
META = bytes(range(100, 148))  # 48 bytes
SIGNED = base64.b64encode(bytes(range(70))).decode()
LONG = base64.b64encode(bytes(range(72))).decode()
E_TEXT = base64.b64encode(b"e:TypeError: Cannot read properties of undefined (reading 'childNodes')!").decode()


def page(meta: bytes = META, svgs: str = "") -> str:
    return (f'<html><head><meta name="grok-site-verification" content="{base64.b64encode(meta).decode()}"></head>'
            f"<body>{svgs}</body></html>")


def test_local_value_layout_matches_a_hand_built_one() -> None:
    material = PageMaterial(META, "0a0b0c", 0.0)
    counter, key = 112_233_445, 0x5A
    # By hand: meta, counter (4 bytes little-endian), sha256("METHOD!path!counter" + salt + fingerprint)[:16], 0x03.
    plain = (META + bytes([counter & 0xFF, (counter >> 8) & 0xFF, (counter >> 16) & 0xFF, counter >> 24])
             + hashlib.sha256(f"POST!{NEW}!{counter}".encode() + b"obfiowerehiring" + b"0a0b0c").digest()[:16]
             + b"\x03")
    expected = base64.b64encode(bytes([key]) + bytes(b ^ key for b in plain)).decode()
    value = compute(material, "post", NEW, counter, key)
    assert value == expected
    raw = base64.b64decode(value)
    assert len(raw) == 70 and raw[0] == key and raw[-1] ^ key == 0x03
    assert bytes(b ^ key for b in raw[1:49]) == META
    assert int.from_bytes(bytes(b ^ key for b in raw[49:53]), "little") == counter


async def test_local_values_differ_per_request_and_only_the_page_material_is_kept() -> None:
    fetched: list[str] = []

    async def fetch(egress: str) -> str:
        fetched.append(egress)
        return page()

    local = LocalStrategy(fetch, clock=lambda: 1_800_000_000.0, rng=random.Random(7))
    values = [await local.value("POST", NEW, "") for _ in range(50)]  # all within the same second
    assert len(set(values)) == 50  # never the same value twice: grok.com would see a replay (C3)
    assert all(decoded_length(v) == 70 for v in values)
    assert fetched == [""]  # the meta and fingerprint are read once per egress ...
    await local.value("POST", NEW, "http://proxy:1")
    assert fetched == ["", "http://proxy:1"]
    local.invalidate("POST", NEW, "")  # ... and again after a refusal
    await local.value("POST", NEW, "")
    assert fetched == ["", "http://proxy:1", ""]
    counter = 1_800_000_000 - 1682924400
    raw = base64.b64decode(values[0])
    assert int.from_bytes(bytes(b ^ raw[0] for b in raw[49:53]), "little") == counter


def test_page_material_and_fingerprint() -> None:
    rows = "M 1 2 3 4 5 6 7 8 9 10 11 C 12 13 14 15 16 17 18 19 20 21 300"
    svgs = (f'<svg id="loading-x-anim-1"><path d="M 9 9"/></svg>'
            f'<svg id="loading-x-anim-0" width="4"><path d="{rows}"/></svg>')
    meta = bytearray(META)
    meta[5], meta[6] = 2, 1  # SVG 2 % 2 = 0 (after sorting by N), row 1 % 2 = 1
    material = read_material(page(bytes(meta), svgs), 5.0)
    assert material.meta == bytes(meta) and material.read_at == 5.0
    assert material.fingerprint == "".join(f"{n:02x}" for n in [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 255])
    assert fingerprint_of("<html></html>", bytes(meta)) == ""
    with pytest.raises(StatsigUnavailable):
        read_material("<html>404</html>", 0.0)
    with pytest.raises(StatsigUnavailable):
        read_material(page(b"short"), 0.0)


async def test_fallback_manual_signer_values() -> None:
    fallback = FallbackStrategy(random.Random(1))
    texts = {base64.b64decode(await fallback.value("POST", NEW, "")) for _ in range(20)}
    assert len(texts) == 20 and all(len(t) == 72 and t.startswith(b"x1:TypeError: ") for t in texts)
    assert await ManualStrategy(SIGNED).value("POST", NEW, "") == SIGNED
    assert await ManualStrategy(LONG).value("POST", NEW, "") == LONG  # 72 bytes is accepted too (C2)
    for bad in ("", E_TEXT, base64.b64encode(b"x" * 71).decode()):
        with pytest.raises(StatsigUnavailable):
            await ManualStrategy(bad).value("POST", NEW, "")
    assert not is_acceptable(base64.b64encode(b"e:" + b"x" * 68).decode())  # never an e: value


async def test_signer_per_request_by_default_and_cached_with_a_ttl() -> None:
    calls: list[tuple[str, str, str]] = []
    metas: list[str] = []
    now = [0.0]

    async def fetch_meta(egress: str) -> str:
        metas.append(egress)
        return "META"

    async def sign(meta: str, method: str, path: str) -> str:
        calls.append((meta, method, path))
        return base64.b64encode(bytes([len(calls)]) * (70 if len(calls) % 2 else 72)).decode()

    fresh = SignerStrategy("http://signer", fetch_meta, sign)
    assert await fresh.value("post", NEW, "") != await fresh.value("POST", NEW, "")
    assert calls == [("META", "POST", NEW)] * 2 and metas == [""]
    cached = SignerStrategy("http://signer", fetch_meta, sign, ttl=10, clock=lambda: now[0])
    a = await cached.value("POST", NEW, "")
    assert await cached.value("POST", NEW, "") == a
    assert await cached.value("POST", NEW, "egress-2") != a  # per egress
    cached.invalidate("POST", NEW, "")
    assert await cached.value("POST", NEW, "") != a
    with pytest.raises(StatsigUnavailable):
        await SignerStrategy("", fetch_meta, sign).value("POST", NEW, "")

    async def short(meta: str, method: str, path: str) -> str:
        return base64.b64encode(b"short").decode()

    with pytest.raises(StatsigUnavailable):
        await SignerStrategy("http://signer", fetch_meta, short).value("POST", NEW, "")

    async def down(meta: str, method: str, path: str) -> str:
        raise RuntimeError("signer down")

    with pytest.raises(StatsigUnavailable):
        await SignerStrategy("http://signer", fetch_meta, down).value("POST", NEW, "")


class Fixed:
    """A strategy that always gives one value and counts invalidations."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self._value, self.invalidated = name, value, 0

    async def value(self, method: str, path: str, egress: str) -> str:
        if not self._value:
            raise StatsigUnavailable("nothing")
        return self._value

    def invalidate(self, method: str, path: str, egress: str) -> None:
        self.invalidated += 1


async def test_chain_demotes_per_path_and_egress_and_promotes_on_success() -> None:
    now = [0.0]
    local, manual = Fixed("local", SIGNED), Fixed("manual", LONG)
    chain = StatsigChain([local, manual, Fixed("fallback", "")], demote_seconds=60, clock=lambda: now[0])
    seen: list[tuple[str, str, str]] = []
    chain.listeners.append(lambda *a: seen.append(a))
    first = await chain.value("POST", NEW, "")
    assert first == Signed("local", SIGNED)
    chain.refused(first, "POST", NEW, "", stale=False)
    assert local.invalidated == 1
    assert [s.name for s in chain.order(NEW, "")] == ["manual", "fallback", "local"]
    assert [s.name for s in chain.order(NEW, "other-egress")] == ["local", "manual", "fallback"]
    assert [s.name for s in chain.order("/rest/rate-limits", "")] == ["local", "manual", "fallback"]
    assert await chain.value("POST", NEW, "", exclude=["local"]) == Signed("manual", LONG)
    now[0] = 61  # demotion over: back in its place ...
    assert chain.order(NEW, "")[0].name == "local"
    chain.refused(first, "POST", NEW, "", stale=True)
    chain.passed(first, NEW, "")  # ... or at once when it passes again
    assert chain.order(NEW, "")[0].name == "local"
    assert chain.totals()["local"] == {"ok": 1, "refused": 1, "stale": 1, "unavailable": 0}
    assert ("local", NEW, "refused") in seen and ("local", NEW, "ok") in seen
    assert summary(chain.totals()) == "local 1 ok / 2 refused · manual 0 ok / 0 refused · fallback 0 ok / 0 refused"


async def test_chain_skips_strategies_without_a_value_and_never_sends_e() -> None:
    chain = StatsigChain([Fixed("manual", E_TEXT), Fixed("signer", ""), Fixed("fallback", LONG)])
    assert await chain.value("POST", NEW, "") == Signed("fallback", LONG)
    assert chain.counts[("manual", NEW, "unavailable")] == 1 and chain.counts[("signer", NEW, "unavailable")] == 1
    with pytest.raises(Exception, match="already tried|fallback"):
        await chain.value("POST", NEW, "", exclude=["fallback"])


def test_route_of_keeps_counters_few() -> None:
    assert route_of("/rest/assets-metadata/0d0d0000-0000-4000-8000-000000000001") == "/rest/assets-metadata/{id}"
    assert route_of(NEW) == NEW
