"""What the doctor will do, before it does anything: the steps, their endpoints, and every request each may spend."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..upstream.options import UpstreamConfig

# Groups `--only` accepts (step ids are accepted too).
GROUPS: dict[str, tuple[str, ...]] = {
    "egress": ("egress", "page"),
    "session": ("session",),
    "statsig": ("statsig",),
    "limits": ("rate_limits", "quota"),
    "modes": ("modes",),
    "chat": ("chat_mgw", "mgw_reuse", "chat_rest"),
    "upload": ("upload",),
    "media": ("imagine", "video"),
}
ORDER = ("egress", "page", "session", "statsig", "rate_limits", "modes", "chat_mgw", "mgw_reuse", "chat_rest",
         "upload", "imagine", "quota", "video")
# A step that cannot run without another (the mgw socket needs the session's user id).
NEEDS: dict[str, tuple[str, ...]] = {"chat_mgw": ("session",), "mgw_reuse": ("session",)}
DEFAULT_MODES = ("fast", "auto", "expert", "heavy")


@dataclass(frozen=True, slots=True)
class Request:
    """One request a step may send; `when` says on which condition (empty = always)."""

    method: str
    url: str
    when: str = ""
    grok: bool = True  # False for the external signer

    def line(self) -> str:
        return f"{self.method} {self.url}" + (f"  ({self.when})" if self.when else "")


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    endpoint: str
    required: bool  # the gateway needs it: a failure makes the doctor exit non-zero
    requests: tuple[Request, ...] = ()
    signed: bool = False  # carries x-statsig-id: an anti-bot refusal leads to one try per other strategy


@dataclass(frozen=True, slots=True)
class Options:
    """What to check and how the gateway is configured for it."""

    only: frozenset[str] = frozenset()  # group names or step ids; empty = everything
    media: bool = False  # also one short video
    modes: tuple[str, ...] = DEFAULT_MODES  # chat modes whose rate limits are read (the catalog's)
    strategies: tuple[str, ...] = field(default=("local", "signer", "manual", "fallback"))

    def selected(self) -> list[str]:
        """Step ids in order, with the steps they need added."""
        if self.only:
            unknown = sorted(name for name in self.only if name not in GROUPS and name not in ORDER)
            if unknown:
                raise ValueError(f"--only: unknown step or group {', '.join(unknown)} "
                                 f"(groups: {', '.join(GROUPS)}; steps: {', '.join(ORDER)})")
            wanted = {s for name in self.only for s in GROUPS.get(name, (name,))}
        else:
            wanted = set(ORDER)
        for step in list(wanted):
            wanted.update(NEEDS.get(step, ()))
        if not self.media and not ({"video"} & set(self.only)):
            wanted.discard("video")
        return [s for s in ORDER if s in wanted]


def usable(config: UpstreamConfig, strategies: Iterable[str]) -> tuple[str, ...]:
    """The strategies that can give a value at all (`signer` needs its URL, `manual` its value)."""
    return tuple(s for s in strategies if (s != "signer" or config.statsig_signer_url)
                 and (s != "manual" or config.statsig_value))


def _signed(method: str, url: str, times: int = 1, *, retry: bool = True) -> list[Request]:
    """A signed call: once (or per item), and one resend with the next strategy after an anti-bot refusal."""
    out = [Request(method, url) for _ in range(times)]
    if retry:
        out.append(Request(method, url, "once more with the next x-statsig-id strategy if anti-bot refuses the value"))
    return out


def _trials(method: str, url: str, strategies: Iterable[str]) -> list[Request]:
    return [Request(method, url, f"with `{name}` only, if anti-bot refused: which strategy passes")
            for name in strategies]


def _page_reads(base: str, strategies: tuple[str, ...], signer_url: str) -> list[Request]:
    """The page reads (and signer calls) strategies make to get a value, once per doctor run."""
    out: list[Request] = []
    if "local" in strategies:
        out += [Request("GET", base + "/index", "`local` reads the page's meta once"),
                Request("GET", base + "/", "`local`: only when /index has no meta")]
    if "signer" in strategies and signer_url:
        out += [Request("GET", base + "/index", "`signer` reads the page's meta once"),
                Request("GET", base + "/", "`signer`: only when /index has no meta"),
                Request("POST", signer_url, "`signer` signs each value", grok=False)]
    return out


def plan(config: UpstreamConfig, options: Options) -> list[Step]:
    """Every selected step with the requests it may spend, in the order they run."""
    base, ws = config.grok_url, config.ws_url
    strategies = usable(config, options.strategies)
    signed = functools.partial(_signed, retry=len(strategies) > 1)  # the transport resends only with another one
    rate = base + "/rest/rate-limits"
    chat_new = base + "/rest/app-chat/conversations/new"
    ws_chat = config.chat_transport == "ws"
    table: dict[str, Step] = {
        "egress": Step("egress", "Egress reachability", "GET /", True, (Request("GET", base + "/"),)),
        "page": Step("page", "/index meta", "GET /index", False, (Request("GET", base + "/index"),)),
        "session": Step("session", "Session (user id)", "GET /api/auth/session", True,
                        (Request("GET", base + "/api/auth/session"),)),
        "statsig": Step("statsig", "x-statsig-id strategies", "POST /rest/rate-limits", True,
                        tuple(Request("POST", rate, f"with `{name}` only") for name in strategies)),
        "rate_limits": Step("rate_limits", "Rate limits per mode", "POST /rest/rate-limits", True,
                            tuple(signed("POST", rate, len(options.modes)) + _trials("POST", rate, strategies)),
                            signed=True),
        "modes": Step("modes", "/rest/modes vs catalog", "POST /rest/modes", False,
                      tuple(signed("POST", base + "/rest/modes") + _trials("POST", base + "/rest/modes", strategies)),
                      signed=True),
        "chat_mgw": Step("chat_mgw", "Chat over mgw", "WS /ws/mgw/", ws_chat, (Request("WS", ws + "/ws/mgw/"),)),
        "mgw_reuse": Step("mgw_reuse", "mgw socket reuse", "WS /ws/mgw/", False,
                          (Request("WS", ws + "/ws/mgw/", "two chats on one socket, a ping between them"),)),
        "chat_rest": Step("chat_rest", "Chat over REST", "POST /rest/app-chat/conversations/new", not ws_chat,
                          tuple(signed("POST", chat_new) + _trials("POST", chat_new, strategies)), signed=True),
        "upload": Step("upload", "Upload (and delete it)", "POST /http/upload-file-v2/direct", True,
                       (Request("POST", base + "/http/upload-file-v2/direct"),
                        Request("POST", base + "/rest/app-chat/upload-file", "only when v2 answers 404/405/501"),
                        Request("POST", base + "/rest/app-chat/upload-file",
                                "v1 resent with the next x-statsig-id strategy if anti-bot refuses"),
                        Request("DELETE", base + "/rest/assets-metadata/{fileId}", "removes the test file"))),
        "imagine": Step("imagine", "Imagine image (1, smallest)", "WS /ws/imagine/listen", True,
                        (Request("WS", ws + "/ws/imagine/listen"),)),
        "quota": Step("quota", "Imagine quota_info", "POST /rest/media/imagine/quota_info", False,
                      tuple(signed("POST", base + "/rest/media/imagine/quota_info")
                            + _trials("POST", base + "/rest/media/imagine/quota_info", strategies)), signed=True),
        "video": Step("video", "Video (one short)", "POST /rest/app-chat/conversations/new", False,
                      tuple((signed("POST", base + "/rest/media/post/create") if config.legacy_media else [])
                            + signed("POST", chat_new) + _trials("POST", chat_new, strategies)), signed=True),
    }
    steps = [table[s] for s in options.selected()]
    # Strategies read the page (and ask the signer) on the first signed call of the run, whichever it is.
    reads = tuple(_page_reads(base, strategies, config.statsig_signer_url))
    for i, step in enumerate(steps):
        if step.signed or step.id in ("statsig", "upload"):
            steps[i] = dataclasses.replace(step, requests=reads + step.requests)
            break
    return steps


def budget(steps: Iterable[Step]) -> tuple[int, int]:
    """At most this many requests: (to grok.com, to the signer)."""
    grok = other = 0
    for step in steps:
        for req in step.requests:
            if req.grok:
                grok += 1
            else:
                other += 1
    return grok, other
