"""The retry policy (gateway/retry.py): which failures fail over, and the backoff before the next account."""

from __future__ import annotations

import random

import pytest

from grok2api.gateway.retry import backoff_delay, should_retry
from grok2api.upstream.errors import ErrorKind, UpstreamError

ALL_STATUSES = [401, 403, 429]


def err(kind: ErrorKind) -> UpstreamError:
    return UpstreamError(kind, "boom")


@pytest.mark.parametrize(("kind", "retry"), [
    (ErrorKind.AUTH, True), (ErrorKind.CLOUDFLARE, True), (ErrorKind.RATE_LIMITED, True),
    (ErrorKind.UPSTREAM, True), (ErrorKind.NETWORK, True), (ErrorKind.TIMEOUT, True),
    (ErrorKind.MODERATED, False), (ErrorKind.BAD_REQUEST, False),
])
def test_should_retry(kind: ErrorKind, retry: bool) -> None:
    assert should_retry(err(kind), ALL_STATUSES) is retry


def test_every_error_kind_has_a_retry_decision() -> None:
    for kind in ErrorKind:
        assert isinstance(should_retry(err(kind), ALL_STATUSES), bool)


@pytest.mark.parametrize(("kind", "status"), [
    (ErrorKind.AUTH, 401), (ErrorKind.CLOUDFLARE, 403), (ErrorKind.RATE_LIMITED, 429)])
def test_operator_can_exclude_a_status_from_failover(kind: ErrorKind, status: int) -> None:
    others = [s for s in ALL_STATUSES if s != status]
    assert not should_retry(err(kind), others)
    assert should_retry(err(kind), [status])
    # Failures without a status of their own always fail over.
    assert should_retry(err(ErrorKind.UPSTREAM), [])


@pytest.mark.parametrize("kind", [ErrorKind.AUTH, ErrorKind.RATE_LIMITED, ErrorKind.CLOUDFLARE])
def test_account_failures_switch_at_once(kind: ErrorKind) -> None:
    assert backoff_delay(err(kind), 3, 0.5, 2.0, 30.0, random.Random(1)) == 0.0


@pytest.mark.parametrize("kind", [ErrorKind.UPSTREAM, ErrorKind.NETWORK, ErrorKind.TIMEOUT])
def test_upstream_wide_failures_back_off_with_capped_jitter(kind: ErrorKind) -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        delays = [backoff_delay(err(kind), attempt, 0.5, 2.0, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # full jitter spreads over the whole range
