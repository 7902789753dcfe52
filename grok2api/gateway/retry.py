"""The retry policy: whether a failed call fails over to another account, and how long to wait first."""

from __future__ import annotations

import random

from ..upstream.errors import ErrorKind, UpstreamError

# Never worth retrying on another account: the request itself is the problem.
_NOT_RETRYABLE = frozenset({ErrorKind.MODERATED, ErrorKind.BAD_REQUEST})
# Errors whose status the operator can exclude from failover with retry.retry_status_codes.
_STATUS_OF = {ErrorKind.AUTH: 401, ErrorKind.CLOUDFLARE: 403, ErrorKind.ANTI_BOT: 403, ErrorKind.STALE_PAGE: 403,
              ErrorKind.RATE_LIMITED: 429}
# Failures of one account (or one egress's identity) that another account avoids: tried at once.
_SWITCH_AT_ONCE = frozenset({ErrorKind.AUTH, ErrorKind.RATE_LIMITED, ErrorKind.CLOUDFLARE, ErrorKind.ANTI_BOT,
                             ErrorKind.STALE_PAGE, ErrorKind.MODEL_UNAVAILABLE, ErrorKind.CONVERSATION_GONE})


def should_retry(err: UpstreamError, retry_status_codes: list[int]) -> bool:
    """Fail over to another account? Only for errors another account could avoid."""
    if err.kind in _NOT_RETRYABLE:
        return False
    status = _STATUS_OF.get(err.kind)
    return status is None or status in retry_status_codes


def backoff_delay(err: UpstreamError, attempt: int, base: float, factor: float, cap: float,
                  rng: random.Random) -> float:
    """Wait before the next account. Account-specific failures switch at once; upstream-wide
    ones (5xx, network, timeout) back off with full jitter so a struggling upstream is not hammered."""
    if err.kind in _SWITCH_AT_ONCE:
        return 0.0
    return rng.uniform(0, min(cap, base * factor ** (attempt - 1)))
