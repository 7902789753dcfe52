"""The doctor's run: the planned steps in order, each result yielded as it finishes, requests counted as spent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import Catalog
from ..upstream.client import GrokClient
from ..upstream.errors import ErrorKind, UpstreamError
from ..upstream.exchange import Exchange, Tap
from ..upstream.identity import EgressHooks
from ..upstream.redact import Redactor
from ..upstream.transport import ProxyPicker
from . import steps as step_fns
from .plan import NEEDS, Options, Step, budget, plan

OK = "ok"
# The words a result may be: the six failure words, plus what is not a failure of grok.com.
WORDS = ("ok", "anti-bot", "Cloudflare", "expired", "rate-limited", "changed shape", "network",
         "not supported", "skipped")
NOT_FAILED = frozenset({"ok", "not supported"})

_WORD_OF_KIND = {
    ErrorKind.AUTH: "expired", ErrorKind.CLOUDFLARE: "Cloudflare", ErrorKind.ANTI_BOT: "anti-bot",
    ErrorKind.STALE_PAGE: "anti-bot", ErrorKind.RATE_LIMITED: "rate-limited", ErrorKind.TRANSIENT: "rate-limited",
    ErrorKind.NETWORK: "network", ErrorKind.TIMEOUT: "network",
}
NEXT = {
    "expired": "Re-import this account's SSO cookie (sign in to grok.com again); the pool disables an account "
               "after token.fail_threshold such failures.",
    "Cloudflare": "This egress is challenged: use another proxy (proxy.proxy_url, proxy.proxy_pool_url) or set "
                  "security.cf_clearance together with the user agent and IP it was issued for.",
    "anti-bot": "x-statsig-id refused (the detail names the strategies tried): set chat.statsig_signer_url or "
                "chat.statsig_id (network.statsig_strategies orders them) or try another egress.",
    "rate-limited": "This account's window is used up: wait for it to reset or check with another account.",
    "changed shape": "grok.com answered in a shape grok2api does not know: run with --capture DIR, replay it "
                     "with `grok2api fake-grok --replay DIR` and report it.",
    "network": "grok.com did not answer: check DNS, firewall and the proxy; a 5xx is grok.com's own trouble, "
               "try again later.",
    "not supported": "Informational: the gateway does without it, so nothing breaks.",
}
NEXT_FOR_STEP = {
    ("page", "changed shape"): "`local` cannot compute x-statsig-id without the meta: set chat.statsig_signer_url "
                               "or chat.statsig_id.",
    ("chat_mgw", "anti-bot"): "grok.com's anti-bot layer refused the socket (WebSockets carry no x-statsig-id): "
                              "try another egress, or chat.transport = \"rest\" while it lasts.",
    ("mgw_reuse", "anti-bot"): "grok.com's anti-bot layer refused the socket: see the chat_mgw row.",
    ("mgw_reuse", OK): "Sequential chats can share a socket: chat.mgw_keep_socket = true (or "
                       "GROK2API_CHAT_MGW_KEEP_SOCKET=true) saves the WebSocket handshake per chat.",
    ("mgw_reuse", "not supported"): "Keep chat.mgw_keep_socket off (the default): grok.com does not serve a second "
                                    "chat on a socket, so each chat needs its own handshake anyway. Turned on it "
                                    "breaks nothing (a closed socket is replaced before the chat is sent), it "
                                    "only saves nothing.",
    ("modes", "changed shape"): "The catalog disagrees with grok.com: edit DATA_DIR/models.toml "
                                "(`grok2api models check` lists the same).",
}


def word_of(err: UpstreamError) -> str:
    """The doctor's word for a classified failure: a 5xx is grok.com not answering, any other
    unexpected answer (4xx, malformed or unknown shape) is a changed shape."""
    word = _WORD_OF_KIND.get(err.kind)
    if word:
        return word
    if err.kind is ErrorKind.UPSTREAM and err.status >= 500:
        return "network"
    return "changed shape"


@dataclass(slots=True)
class Result:
    """One row of the table."""

    id: str
    title: str
    endpoint: str
    result: str
    latency_ms: float
    detail: str
    next: str
    required: bool
    spent: int  # requests to grok.com this step sent

    @property
    def failed(self) -> bool:
        return self.result not in NOT_FAILED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestCounter:
    """A transport tap counting what the run sent: to grok.com, and to the external signer."""

    wants_frames = False

    def __init__(self, signer_url: str) -> None:
        self.signer_url = signer_url
        self.grok = 0
        self.signer = 0

    def __call__(self, ex: Exchange) -> None:
        if self.signer_url and ex.url.startswith(self.signer_url):
            self.signer += 1
        else:
            self.grok += 1


@dataclass(slots=True)
class Report:
    """The whole run: who was checked through which egress, the rows, and what was spent."""

    account: str
    egress: str
    planned: tuple[int, int]  # at most (grok.com, signer)
    results: list[Result] = field(default_factory=list)
    spent: tuple[int, int] = (0, 0)

    @property
    def exit_code(self) -> int:
        """0 when every step the gateway needs passed, 1 otherwise."""
        return 1 if any(r.required and r.failed for r in self.results) else 0

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "egress": self.egress, "ok": self.exit_code == 0,
                "requests": {"planned_max": self.planned[0], "spent": self.spent[0],
                             "signer_planned_max": self.planned[1], "signer_spent": self.spent[1]},
                "steps": [r.to_json() for r in self.results]}


class FixedEgress:
    """The one egress a doctor run leaves through: the checked account's (`""` = direct). A challenge is
    reported in the table, not acted on by rotating proxies."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    async def current(self) -> str:
        return self.proxy

    async def on_cloudflare(self, proxy: str) -> None:
        """Nothing rotates during a check: the row says Cloudflare and what to do."""


def own_client(base: GrokClient, picker: ProxyPicker | None, taps: tuple[Tap, ...] = (), *,
               hooks: EgressHooks | None = None) -> GrokClient:
    """A client for one doctor run on `base`'s config and egress: never `base` itself, since the doctor
    reorders its client's x-statsig-id chain and counts its exchanges. With the gateway's egress `hooks`
    its calls present (and, after a challenge, renew) the clearance that egress holds."""
    client = GrokClient(base.config, proxy_picker=picker, egress_hooks=hooks)
    client.transport.taps.extend(taps)
    return client


def _row(step: Step, word: str, latency: float, detail: str, spent: int) -> Result:
    hint = "" if word == "skipped" else NEXT_FOR_STEP.get((step.id, word), "" if word == OK else NEXT.get(word, ""))
    return Result(step.id, step.title, step.endpoint, word, round(latency * 1000, 1), detail, hint, step.required,
                  spent)


class Doctor:
    """Checks one account against grok.com with a client of its own (never the gateway's: the doctor
    reorders its x-statsig-id chain), spending at most what `plan` lists."""

    def __init__(self, client: GrokClient, token: str, options: Options, *, catalog: Catalog | None = None,
                 account: str = "") -> None:
        self.client = client
        self.steps = plan(client.config, options)
        self.context = step_fns.Context(client, token, options, catalog)
        self.counter = RequestCounter(client.config.statsig_signer_url)
        self.report = Report(account, "", budget(self.steps))
        # grok.com's error texts can quote cookies, e-mails or the token itself: rows never show them.
        self._redactor = Redactor()
        self._known = {token: account or "<the token>"}

    async def run(self) -> AsyncIterator[Result]:
        """Each step's result as soon as it is known; the report fills as they come."""
        self.client.transport.taps.append(self.counter)
        blocked = ""
        try:
            # One egress for the whole run (C13: the session probe and the socket share it).
            self.report.egress = step_fns.egress_label(await self.context.proxy())
            for step in self.steps:
                missing = [n for n in NEEDS.get(step.id, ()) if self._result(n) not in (None, OK)]
                if blocked or missing:
                    reason = blocked or f"needs the {', '.join(missing)} step"
                    result = _row(step, "skipped", 0.0, reason, 0)
                else:
                    result = await self._step(step)
                    result.detail = self._redactor.text(result.detail, self._known)
                    if result.result == "expired":
                        blocked = f"the account is expired (see {step.id})"
                    elif step.id == "egress" and result.result == "network":
                        blocked = "grok.com is not reachable through this egress"
                self.report.results.append(result)
                self.report.spent = (self.counter.grok, self.counter.signer)
                yield result
        finally:
            self.client.transport.taps.remove(self.counter)
            self.report.spent = (self.counter.grok, self.counter.signer)

    async def run_all(self) -> Report:
        async for _ in self.run():
            pass
        return self.report

    def _result(self, step_id: str) -> str | None:
        return next((r.result for r in self.report.results if r.id == step_id), None)

    async def _step(self, step: Step) -> Result:
        ctx = self.context
        before = self.counter.grok
        started = time.perf_counter()
        word, detail = OK, ""
        try:
            detail = await step_fns.STEPS[step.id](ctx)
        except step_fns.Finding as found:
            word, detail = found.word, found.detail
        except UpstreamError as err:
            shown = f" (HTTP {err.status})" if err.status >= 300 else ""  # in-band errors come in a 200 stream
            word, detail = word_of(err), f"{err.kind.value}{shown}: {err.message}"
            if word == "anti-bot" and step.signed:
                word, detail = await self._other_strategies(step, detail)
        except Exception as exc:  # a parser meeting an answer it does not know
            word, detail = "changed shape", f"unexpected answer: {type(exc).__name__}: {exc}"[:300]
        return _row(step, word, time.perf_counter() - started, detail, self.counter.grok - before)

    async def _other_strategies(self, step: Step, detail: str) -> tuple[str, str]:
        """Anti-bot refused this call (after the transport's one retry): try each strategy alone, stop at
        the first that passes. Passing means the gateway's chain will get there too (refused ones are demoted)."""
        probe = step_fns.PROBES[step.id]
        try:
            outcomes = await step_fns.try_strategies(self.context, lambda: probe(self.context), stop_at_first=True)
        except UpstreamError as err:
            return word_of(err), f"{detail}; trying strategies one by one: {err.kind.value}: {err.message}"
        except step_fns.Finding as found:
            return found.word, f"{detail}; {found.detail}"
        passing = [name for name, outcome in outcomes.items() if outcome == "passes"]
        tried = step_fns.describe(outcomes)
        if passing:
            return OK, f"passes with `{passing[0]}` only ({tried}); the gateway's chain moves refused strategies back"
        return "anti-bot", f"{detail}; one by one: {tried}"
