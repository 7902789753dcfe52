"""Upstream health: the last hour per step, failures by kind, the last error redacted; the gateway's tap."""

from __future__ import annotations

from grok2api.gateway.observe import HealthTap
from grok2api.stats.upstream_health import UpstreamHealth
from grok2api.upstream.errors import ErrorKind, UpstreamError
from grok2api.upstream.exchange import STEP_LABELS, STEPS, Exchange


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_last_hour_per_step() -> None:
    clock = Clock()
    health = UpstreamHealth(STEP_LABELS, clock)
    heard: list[tuple[str, str]] = []
    health.listeners.append(lambda step, outcome: heard.append((step, outcome)))
    health.note("chat_mgw", "ok")
    health.note("chat_mgw", "anti_bot", "403 refused")
    clock.now += 1800
    health.note("chat_mgw", "ok")
    health.note("chat_mgw", "rate_limited", "429 Too many requests")
    health.note("chat_mgw", "cancelled")  # the client left: nothing about grok.com
    health.note("session", "ok")
    by_step = {s.step: s for s in health.snapshot()}
    assert [s.step for s in health.snapshot()] == list(STEPS)
    mgw = by_step["chat_mgw"]
    assert (mgw.ok, mgw.failed, mgw.failures) == (2, 2, {"anti_bot": 1, "rate_limited": 1})
    assert (mgw.last_error, mgw.last_error_at) == ("429 Too many requests", clock.now)
    assert by_step["session"].ok == 1 and by_step["imagine"].total == 0
    assert ("chat_mgw", "cancelled") not in heard and len(heard) == 5
    clock.now += 1900  # the first half hour has left the window
    mgw = {s.step: s for s in health.snapshot()}["chat_mgw"]
    assert (mgw.ok, mgw.failures) == (1, {"rate_limited": 1})
    clock.now += 3600
    mgw = {s.step: s for s in health.snapshot()}["chat_mgw"]
    assert mgw.total == 0 and mgw.last_error == "429 Too many requests"  # the last error stays, with its time


def test_the_gateway_tap_counts_and_redacts() -> None:
    health = UpstreamHealth(STEP_LABELS)
    tap = HealthTap(health)
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjoiMTIzNDU2Nzg5MCJ9.c2lnbmF0dXJlLXZhbHVl"
    ex = Exchange("http", "POST", "https://grok.com/rest/rate-limits", "",
                  {"Cookie": f"sso={token}; sso-rw={token}"}, request_json={"modelName": "fast"})
    ex.answered(401, {}, b"")
    ex.finish(UpstreamError(ErrorKind.AUTH, f"token {token} of alice@example.com is not valid", status=401))
    tap(ex)
    assert not tap.wants_frames
    (limits,) = [s for s in health.snapshot() if s.step == "rate_limits"]
    assert limits.failures == {"auth": 1}
    assert token not in limits.last_error and "alice@example.com" not in limits.last_error
    assert limits.last_error.startswith("401 token REDACTED-SSO-")
