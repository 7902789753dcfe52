"""One assistant answer, shared by chat completions, Responses and Anthropic Messages.

`open_answer` turns a neutral request (messages, attachments, tools) into a running gateway
call; `Answer` reads its events with the idle timeout and the shutdown drain and hands back
rendered pieces (content, reasoning, tool calls), either all at once (`collect`) or in batches
as they arrive (`batches`). Each API surface only encodes pieces into its own wire shape.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from ..config.settings import Settings
from ..edge.api_auth import check_model_allowed
from ..errors import ApiError, ModelNotFound, UpstreamTimeout
from ..gateway.drain import Drain
from ..gateway.jobs import CallContext, ChatJob, Message, VideoOptions
from ..gateway.pump import END, EventPump, InlineEvents
from ..keys import API_KEY, CALL_CONTEXT, CATALOG, CLIENT_IP, DRAIN, GATEWAY, LIVE_SETTINGS, MEDIA, REQUEST_ID
from ..upstream.events import Event
from .attachments import fetch_policy, load_attachments, total_bound
from .chat_render import CompletionRenderer, MediaLinks, Piece
from .tokens import count_prompt
from .tools import ToolChoice, ToolSpec, tool_prompt
from .validate import AttachmentRef

HELD_IDLE = 6 * 3600.0


def no_client_retry(exc: ApiError) -> ApiError:
    """The gateway already failed over between accounts: a client retry would only triple the load."""
    if exc.status >= 500:
        exc.headers.setdefault("x-should-retry", "false")
    return exc


def idle_timeout(settings: Settings, kind: str) -> float:
    """Longest silence allowed between gateway events. Video renders are silent for long
    stretches (generation, then waiting for and downloading the result), so they get both budgets."""
    t = settings.timeout
    if kind == "video":
        return max(t.stream_idle_timeout, t.video_idle_timeout + t.video_result_wait_timeout)
    return t.stream_idle_timeout


@dataclass(slots=True)
class Ask:
    """What every API surface asks of the model, after its own validation."""

    model: str
    messages: list[Message]
    attachments: list[AttachmentRef] = field(default_factory=list)
    stream: bool = True
    thinking: bool | None = None  # None: the server default (chat.thinking)
    max_tokens: int | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    video: VideoOptions | None = None
    think_tags: bool | None = None  # None: the key's or server's reasoning format (chat only)
    show_reasoning: bool | None = None  # None: shown when thinking is on (Anthropic shows it only on request)


def with_tool_prompt(messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> list[Message]:
    """The conversation with the tool declaration as its first system turn (the web app has no tools)."""
    prompt = tool_prompt(tools, choice)
    return [Message(role="system", text=prompt), *messages] if prompt else messages


def call_context(request: web.Request, stream: bool) -> CallContext:
    """Who asks, for the gateway's records; kept on the request so the edge knows it was recorded."""
    key = request.get(API_KEY)
    ctx = request[CALL_CONTEXT] = CallContext(
        request_id=request.get(REQUEST_ID, ""), key_id=key.id if key else "", key_name=key.name if key else "",
        client_ip=request.get(CLIENT_IP, ""), path=request.path, stream=stream)
    return ctx


async def open_answer(request: web.Request, ask: Ask) -> Answer:
    """Check the key and model, fetch attachments and start the gateway call."""
    settings = request.app[LIVE_SETTINGS].current
    key = request.get(API_KEY)
    check_model_allowed(key, ask.model)
    route = request.app[CATALOG].get(ask.model)
    if route is None:
        raise ModelNotFound(f"The model `{ask.model}` does not exist.", param="model")
    # Most asks carry none: no fetch policy then (it makes sure the spool directory exists, a syscall).
    attachments = (await load_attachments(ask.attachments, fetch_policy(request), total_bound(request))
                   if ask.attachments else [])
    thinking = settings.chat.thinking if ask.thinking is None else ask.thinking
    tools = [] if ask.tool_choice.mode == "none" else ask.tools
    messages = with_tool_prompt(ask.messages, tools, ask.tool_choice)
    job = ChatJob(model=ask.model, messages=messages, attachments=attachments, thinking=thinking,
                  stream=ask.stream, ctx=call_context(request, ask.stream), video=ask.video)
    think_tags = ask.think_tags
    if think_tags is None:
        fmt = key.reasoning_format if key and key.reasoning_format else settings.app.reasoning_format
        think_tags = fmt == "think_tags"
    renderer = CompletionRenderer(
        links=MediaLinks(request.app[MEDIA], settings.app.app_url, settings.app.image_format,
                         settings.app.video_format),
        filter_tags=settings.chat.filter_tags, think_tags=think_tags,
        show_reasoning=thinking if ask.show_reasoning is None else ask.show_reasoning and thinking,
        progress=ask.stream, max_tokens=ask.max_tokens, tools=tools)
    try:
        events = request.app[GATEWAY].chat(job)
    except ApiError as exc:
        raise no_client_retry(exc) from None
    # A non-streamed chat's events are held by the gateway until Grok finishes (so a cut can fail
    # over), so silence here is expected; the upstream transport still enforces the idle timeout.
    idle = idle_timeout(settings, route.kind) if ask.stream or route.kind != "chat" else HELD_IDLE
    # Only a stream's writer has to stop waiting now and then (keepalives): it needs the pump's task.
    source = EventPump(events) if ask.stream else InlineEvents(events)
    return Answer(source, renderer, idle, request.app[DRAIN], count_prompt(messages, len(attachments)))


class Answer:
    """Reads one gateway call: pieces as they come, with the idle timeout and the drain deadline."""

    def __init__(self, pump: EventPump | InlineEvents, renderer: CompletionRenderer, idle: float, drain: Drain,
                 prompt_tokens: int) -> None:
        self.pump = pump
        self.renderer = renderer
        self.idle = idle
        self.drain = drain
        self.prompt_tokens = prompt_tokens
        # Set as `batches` hands out the answer's last batch: a writer then sends it with the end of
        # the stream in one write (nothing is held back: nothing else can come).
        self.finished = False

    async def close(self) -> None:
        """Stops the gateway call (releasing the account when the client left early)."""
        await self.pump.close()

    async def _render(self, items: list[Event | object]) -> tuple[list[Piece], bool]:
        """Pieces for a batch of events, and whether the answer is over."""
        pieces: list[Piece] = []
        for item in items:
            if item is END:
                return pieces, True
            pieces += await self.renderer.feed(item)  # type: ignore[arg-type]
            if self.renderer.truncated:
                return pieces, True
        return pieces, False

    async def collect(self) -> list[Piece]:
        """Every piece of the answer (non-streaming)."""
        pieces: list[Piece] = []
        while True:
            try:
                item = await self.pump.next(self.idle)
            except TimeoutError:
                raise UpstreamTimeout(f"no data from Grok for {self.idle:g} s") from None
            batch, over = await self._render([item, *self.pump.ready()])
            pieces += batch
            if over:
                return pieces + self.renderer.finish()

    async def batches(self, keepalive: float) -> AsyncIterator[list[Piece] | None]:
        """Pieces as they arrive; None when `keepalive` seconds passed in silence (send a ping).

        The first batch is awaited only up to one keepalive interval, so a caller that waits for
        it before sending headers still answers fast failures with their real HTTP status."""
        now = time.monotonic
        deadline = now() + self.idle
        ping_at = now() + min(keepalive, self.idle)  # silence on the client side, not upstream
        while True:
            try:
                item = await self.pump.next(min(ping_at, deadline, self.drain.deadline) - now())
            except TimeoutError:
                if now() >= deadline:
                    raise UpstreamTimeout(f"no data from Grok for {self.idle:g} s") from None
                self.drain.check()
                ping_at = now() + keepalive
                yield None
                continue
            self.drain.check()
            deadline = now() + self.idle
            pieces, over = await self._render([item, *self.pump.ready()])
            if over:
                self.finished = True
                yield pieces + self.renderer.finish()
                return
            if pieces:
                ping_at = now() + keepalive
                yield pieces
