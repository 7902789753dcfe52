"""Whether grok.com counted a failed call against the account: once sent, the unit is spent."""

from __future__ import annotations

from ..upstream.errors import ErrorKind, UpstreamError

# Answers grok.com (or its edge) gives instead of running the request, before any output: the
# request was refused, not served, so the account's quota did not move.
_REFUSED = frozenset({
    ErrorKind.AUTH, ErrorKind.CLOUDFLARE, ErrorKind.ANTI_BOT, ErrorKind.STALE_PAGE, ErrorKind.RATE_LIMITED,
    ErrorKind.BAD_REQUEST, ErrorKind.MODERATED, ErrorKind.TRANSIENT, ErrorKind.MODEL_UNAVAILABLE,
    ErrorKind.CONVERSATION_GONE,
})


def counted(err: UpstreamError | None, *, dispatched: bool, output: bool) -> bool:
    """Did grok.com count this call? `err` None means the caller stopped it (client gone, shutdown).

    Never dispatched: no. Output already came: yes. Otherwise a refusal (401, 403 challenge,
    anti-bot or safety, 429, 4xx, a typed "busy" / "usage limit" / "moderated" / "model not
    available" / "conversation gone") or a failure before the request left (connect, TLS, proxy) was
    not counted; anything else (5xx, a timeout or a reset after sending, the caller leaving) was.
    """
    if not dispatched:
        return False
    if output or err is None:
        return True
    return not (err.kind in _REFUSED or err.before_send)
