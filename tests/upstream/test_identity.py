"""Which curl_cffi profile impersonates a solver's browser: the same browser and major (C11, §2.1)."""

from __future__ import annotations

import pytest

from grok2api.upstream.identity import Clearance, browser_for

WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
PROFILES = ["chrome131", "chrome133a", "chrome146", "chrome152", "chrome152_macos", "firefox135", "firefox144",
            "edge101", "safari184"]


@pytest.mark.parametrize(("ua", "profile"), [
    (WIN.format(v=146), "chrome146"),
    (WIN.format(v=133), "chrome133a"),
    (MAC.format(v=152), "chrome152_macos"),
    (WIN.format(v=152), "chrome152"),
    (WIN.format(v=150), "chrome146"),  # no 150 profile: the nearest older Chrome
    (WIN.format(v=120), "chrome131"),  # older than every profile: the oldest one
    ("Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0", "firefox144"),
    (WIN.format(v=131) + " Edg/131.0.0.0", "edge101"),
    ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15", "fallback"),
])
def test_browser_for(ua: str, profile: str) -> None:
    assert browser_for(ua, "fallback", PROFILES) == profile


def test_the_installed_curl_cffi_has_the_default_and_recent_chromes() -> None:
    assert browser_for(WIN.format(v=146), "x") == "chrome146"
    assert browser_for(WIN.format(v=152), "x") == "chrome152"


def test_clearance_validity() -> None:
    clr = Clearance({"cf_clearance": "v"}, "ua", "chrome146", obtained_at=100.0, expires_at=200.0)
    assert clr.valid(150.0) and not clr.valid(200.0)
    assert Clearance({}, "ua", "chrome146", obtained_at=100.0).valid(10**12)  # unknown expiry
