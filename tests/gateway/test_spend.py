"""The quota rule as a pure function: once the counted request is sent, its unit is spent."""

from __future__ import annotations

import pytest

from grok2api.gateway.spend import counted
from grok2api.upstream.errors import ErrorKind, UpstreamError

REFUSED = {ErrorKind.AUTH, ErrorKind.CLOUDFLARE, ErrorKind.ANTI_BOT, ErrorKind.STALE_PAGE, ErrorKind.RATE_LIMITED,
           ErrorKind.BAD_REQUEST, ErrorKind.MODERATED, ErrorKind.TRANSIENT, ErrorKind.MODEL_UNAVAILABLE,
           ErrorKind.CONVERSATION_GONE}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_the_table_of_the_readme(kind: ErrorKind) -> None:
    err = UpstreamError(kind, "x")
    # Never sent: never counted, whatever the error.
    assert not counted(err, dispatched=False, output=False)
    # grok.com was answering: counted, whatever ended it.
    assert counted(err, dispatched=True, output=True)
    # Sent, nothing came back: refusals were not counted; 5xx, timeouts and resets were.
    assert counted(err, dispatched=True, output=False) is (kind not in REFUSED)


def test_a_failure_before_the_request_left_is_never_counted() -> None:
    for kind in (ErrorKind.NETWORK, ErrorKind.TIMEOUT):
        assert not counted(UpstreamError(kind, "connect", before_send=True), dispatched=True, output=False)


def test_a_caller_who_stops_after_sending_spends_the_unit() -> None:
    assert counted(None, dispatched=True, output=False)
    assert not counted(None, dispatched=False, output=False)
