"""The one classified error every upstream call raises."""

from __future__ import annotations

import enum


class ErrorKind(str, enum.Enum):
    """Why an upstream call failed; decides blame (account, egress, nobody) and retry."""

    AUTH = "auth"  # 401: the account's fault
    CLOUDFLARE = "cloudflare"  # 403 challenge page: the egress's fault, never the account's
    ANTI_BOT = "anti_bot"  # 403 code 7 "rejected by anti-bot rules": the x-statsig-id / egress, never the account
    STALE_PAGE = "stale_page"  # 403 code 7 "This page is out of date": a replayed x-statsig-id (C3)
    RATE_LIMITED = "rate_limited"  # 429: cool the account until `retry_after`
    MODERATED = "moderated"  # content refused
    BAD_REQUEST = "bad_request"  # 400: our request is wrong; retrying elsewhere will not help
    UPSTREAM = "upstream"  # 5xx or a malformed stream
    TRANSIENT = "transient"  # concurrency / global rate limit in the stream (C9): elsewhere, no penalty
    MODEL_UNAVAILABLE = "model_unavailable"  # the mode is not served to this account now (C9): route elsewhere
    CONVERSATION_GONE = "conversation_gone"  # mgw conversation_not_found and friends: start afresh elsewhere
    NETWORK = "network"  # connection refused/reset, TLS, proxy
    TIMEOUT = "timeout"  # first byte or idle timeout


class UpstreamError(Exception):
    """A classified failure of a call to grok.com."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int = 0,
        retry_after: float = 0.0,
        remaining: int | None = None,
        before_send: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        # Seconds until the account may be used again (RATE_LIMITED), 0 = unknown.
        self.retry_after = retry_after
        # Quota left as reported in a 429 body, when the upstream said.
        self.remaining = remaining
        # The call failed before any byte of the request left (name resolution, connect, TLS, proxy):
        # grok.com cannot have counted it.
        self.before_send = before_send

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind.value}, status={self.status}, {self.message!r})"
