"""The doctor's steps: one small function per upstream operation the gateway depends on, all through GrokClient."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..catalog import Catalog
from ..gateway import model_check
from ..upstream.chat import ChatRequest
from ..upstream.classify import classify
from ..upstream.client import GrokClient
from ..upstream.errors import ErrorKind, UpstreamError
from ..upstream.events import Done, ImageReady, TextDelta, VideoReady
from ..upstream.statsig import extract_site_verification
from .plan import Options

CHAT_PROMPT = "Reply with one word: ok"
IMAGE_PROMPT = "a small red circle on a plain white background"
VIDEO_PROMPT = "a red ball bounces once on a plain white floor"
UPLOAD = (b"grok2api doctor: upload check\n", "text/plain", "grok2api-doctor.txt")
VIDEO_SECONDS = 6  # C6: basic accounts get 429 above 6 s


class Finding(Exception):
    """A step's own verdict that is not an UpstreamError (a shape we do not accept, an unsupported feature)."""

    def __init__(self, word: str, detail: str) -> None:
        super().__init__(detail)
        self.word = word
        self.detail = detail


@dataclass(slots=True)
class Context:
    """What the steps share: the client, the account, the egress every step leaves through (C13)."""

    client: GrokClient
    token: str
    options: Options
    catalog: Catalog | None = None
    egress: str | None = None  # None until the egress step (or the first step) resolved it
    home: str = ""  # the body of GET /, for the C4 meta fallback
    notes: dict[str, Any] = field(default_factory=dict)

    async def proxy(self) -> str:
        if self.egress is None:
            self.egress = await self.client.egress()
        return self.egress


def egress_label(proxy: str) -> str:
    """"direct", or the proxy without its credentials."""
    if not proxy:
        return "direct"
    parts = urlsplit(proxy)
    host = parts.hostname or "?"
    return f"proxy {parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


async def egress(ctx: Context) -> str:
    proxy = await ctx.proxy()
    page = await ctx.client.get_page("/", proxy=proxy)
    if page.status >= 400:
        raise classify(page.status, page.text, page.headers)
    ctx.home = page.text
    return f"{egress_label(proxy)}; GET / answered HTTP {page.status}"


async def page(ctx: Context) -> str:
    found = await ctx.client.get_page("/index", proxy=await ctx.proxy())
    if found.status == 403:
        raise classify(found.status, found.text, found.headers)
    if extract_site_verification(found.text):
        return f"HTTP {found.status} with the grok-site-verification meta"
    if extract_site_verification(ctx.home):
        return f"no meta on /index (HTTP {found.status}); / carries it (the C4 fallback)"
    raise Finding("changed shape", f"no grok-site-verification meta on /index (HTTP {found.status}) nor on /")


async def session(ctx: Context) -> str:
    await ctx.client.user_id(ctx.token, proxy=await ctx.proxy())
    return "signed in; user id known"


async def statsig(ctx: Context) -> str:
    outcomes = await try_strategies(ctx, lambda: rate_limit_probe(ctx), stop_at_first=False)
    ctx.notes["statsig"] = outcomes
    text = describe(outcomes)
    if not any(v == "passes" for v in outcomes.values()):
        raise Finding("anti-bot", text)
    return text


async def rate_limit_probe(ctx: Context) -> None:
    await ctx.client.rate_limits(ctx.token, "fast", proxy=await ctx.proxy())


async def rate_limits(ctx: Context) -> str:
    parts = []
    for mode in ctx.options.modes:
        limits = await ctx.client.rate_limits(ctx.token, mode, proxy=await ctx.proxy())
        part = f"{mode} {'?' if limits.remaining is None else limits.remaining}/{'?' if limits.total is None else limits.total}"
        if limits.remaining == 0 and limits.total:
            part += f" (used up, resets in {limits.wait_seconds:g} s)"
        parts.append(part)
    return " · ".join(parts)


async def modes(ctx: Context) -> str:
    upstream = await ctx.client.modes(ctx.token, proxy=await ctx.proxy())
    offered = ", ".join(f"{m.id} ({m.min_tier})" for m in upstream)
    if ctx.catalog is None:
        return f"grok.com offers {offered}"
    findings = model_check.check(ctx.catalog, upstream)
    if findings:
        raise Finding("changed shape", "; ".join(f"{f.model}: {f.problem}" for f in findings))
    return f"the catalog agrees: {offered}"


async def _chat(ctx: Context, request: ChatRequest) -> str:
    started = time.perf_counter()
    first = 0.0
    text, done = "", False
    async for event in ctx.client.chat(ctx.token, request, proxy=await ctx.proxy()):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter() - started
            text += event.text
        elif isinstance(event, Done):
            done = True
    if not done or not text.strip():
        raise Finding("changed shape", "the chat ended without an answer text")
    shown = " ".join(text.split())
    return f'answered "{shown[:40]}{"…" if len(shown) > 40 else ""}", first text after {first * 1000:.0f} ms'


async def chat_mgw(ctx: Context) -> str:
    return await _chat(ctx, ChatRequest(message=CHAT_PROMPT, mode="fast", transport="ws", thinking=False))


async def mgw_reuse(ctx: Context) -> str:
    request = ChatRequest(message=CHAT_PROMPT, mode="fast", transport="ws", thinking=False)
    why_not = await ctx.client.mgw_socket_reuse(ctx.token, request, proxy=await ctx.proxy())
    setting = f"chat.mgw_keep_socket is {'on' if ctx.client.config.mgw_keep_socket else 'off'}"
    if why_not:
        raise Finding("not supported", f"not supported: {why_not} ({setting})")
    return f"works: a second chat completed on the same socket after response.done ({setting})"


async def chat_rest(ctx: Context) -> str:
    return await _chat(ctx, ChatRequest(message=CHAT_PROMPT, mode_id="fast", transport="rest", thinking=False))


async def upload(ctx: Context) -> str:
    proxy = await ctx.proxy()
    data, mime, name = UPLOAD
    uploaded = await ctx.client.upload(ctx.token, data, mime, name, proxy=proxy)
    try:
        await ctx.client.delete_asset(ctx.token, uploaded.file_id, proxy=proxy)
    except UpstreamError as err:
        return f"uploaded {len(data)} bytes; deleting the test file failed ({err.kind.value}: {err.message})"
    return f"uploaded {len(data)} bytes and deleted the test file"


async def imagine(ctx: Context) -> str:
    ready = [e async for e in ctx.client.imagine(ctx.token, IMAGE_PROMPT, n=1, aspect_ratio="1:1",
                                                 proxy=await ctx.proxy()) if isinstance(e, ImageReady)]
    if not ready:
        raise Finding("changed shape", "the Imagine socket ended without an image")
    image = ready[0]
    if image.moderated:
        return "the image came back moderated (the socket works; grok.com withheld this picture)"
    return f"1 image, {len(image.data) // 1024} KiB {image.mime}" if image.data else f"1 image at {image.url[:60]}"


async def quota(ctx: Context) -> str:
    products = await ctx.client.quota_info(ctx.token, proxy=await ctx.proxy())
    parts = [f"{name} {'n/a' if q is None else ('available' if q.available else 'used up')}"
             + ("" if q is None or q.remaining is None else f" ({q.remaining} left)") for name, q in products.items()]
    return " · ".join(parts)


async def video(ctx: Context) -> str:
    ready: list[VideoReady] = []
    # Read to the end (never break out): the stream and its exchange close before the step is over.
    async for event in ctx.client.video(ctx.token, VIDEO_PROMPT, aspect_ratio="16:9", seconds=VIDEO_SECONDS,
                                        resolution="480p", proxy=await ctx.proxy()):
        if isinstance(event, VideoReady):
            ready.append(event)
    if not ready:
        raise Finding("changed shape", "the video stream ended without a video")
    return "the video came back moderated" if ready[0].moderated else f"a {VIDEO_SECONDS} s video is ready"


STEPS: dict[str, Callable[[Context], Awaitable[str]]] = {
    "egress": egress, "page": page, "session": session, "statsig": statsig, "rate_limits": rate_limits,
    "modes": modes, "chat_mgw": chat_mgw, "mgw_reuse": mgw_reuse, "chat_rest": chat_rest, "upload": upload,
    "imagine": imagine, "quota": quota, "video": video,
}
# The one call a signed step repeats with each strategy when anti-bot refused it.
async def _modes_probe(ctx: Context) -> None:
    await ctx.client.modes(ctx.token, proxy=await ctx.proxy())


async def _quota_probe(ctx: Context) -> None:
    await ctx.client.quota_info(ctx.token, proxy=await ctx.proxy())


# The one call a signed step repeats with each strategy when anti-bot refused it.
PROBES: dict[str, Callable[[Context], Awaitable[Any]]] = {
    "rate_limits": rate_limit_probe, "modes": _modes_probe, "chat_rest": chat_rest, "quota": _quota_probe,
    "video": video,
}


# -- x-statsig-id strategies, one at a time --------------------------------------------
async def try_strategies(ctx: Context, call: Callable[[], Awaitable[Any]], *, stop_at_first: bool) -> dict[str, str]:
    """Run `call` with each strategy of the client's chain alone: name -> passes | refused | stale |
    unavailable (why). Afterwards the chain tries passing strategies first, so the later steps spend
    no request on a refused one. A failure that is not about x-statsig-id is raised."""
    chain = ctx.client.statsig
    original = list(chain.strategies)
    outcomes: dict[str, str] = {}
    for strategy in original:
        heard: list[str] = []

        def listen(name: str, _path: str, outcome: str, *, mine: str = strategy.name) -> None:
            if name == mine:
                heard.append(outcome)

        chain.listeners.append(listen)
        chain.strategies = [strategy]
        try:
            await call()
            outcomes[strategy.name] = "passes"
        except UpstreamError as err:
            if "refused" in heard or "stale" in heard:
                outcomes[strategy.name] = "stale" if "stale" in heard else "refused"
            elif "unavailable" in heard or err.kind is ErrorKind.ANTI_BOT and not heard:
                outcomes[strategy.name] = f"unavailable ({_reason(err.message, strategy.name)})"
            else:
                raise
        finally:
            chain.strategies = original
            chain.listeners.remove(listen)
        if stop_at_first and outcomes[strategy.name] == "passes":
            break

    def rank(name: str) -> int:
        outcome = outcomes.get(name)
        if outcome == "passes":
            return 0
        return 1 if outcome is None or outcome.startswith("unavailable") else 2

    chain.strategies = sorted(original, key=lambda s: rank(s.name))  # stable: configured order within a rank
    return outcomes


def _reason(message: str, name: str) -> str:
    """`signer`'s reason out of "no x-statsig-id strategy could give a value (signer: …; manual: …)"."""
    marker = f"{name}: "
    if marker not in message:
        return message
    reason = message.split(marker, 1)[1]
    if reason.endswith(")"):
        reason = reason[:-1]
    return reason.split("; ", 1)[0]


def describe(outcomes: dict[str, str]) -> str:
    return " · ".join(f"{name} {outcome}" for name, outcome in outcomes.items())
