"""One request's life: route the model, acquire an account, call upstream, fail over, settle."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import errors
from ..pool.pool import NoAccountAvailable
from ..storage.base import account_id_for
from ..upstream.chat import ChatRequest, flatten_messages
from ..upstream.errors import ErrorKind, UpstreamError
from ..upstream.events import Dispatched, Event, ImageReady, VideoReady
from .jobs import Attachment, CallContext, ChatJob, EditJob, ImageJob, VideoJob, VideoOptions
from .retry import backoff_delay, should_retry
from .spend import counted

if TYPE_CHECKING:
    from ..catalog import Catalog, ModelRoute
    from ..config.settings import Settings
    from ..pool.model import Account
    from ..pool.pool import Lease, Pool
    from ..upstream.client import GrokClient

log = logging.getLogger(__name__)


class MediaStore(Protocol):
    async def store_from(self, kind: str, fetcher: Callable[[], Any], source_key: str) -> str: ...


class Egresses(Protocol):
    """Which egress an account's calls leave through (grok2api.egress.EgressPool)."""

    async def route(self, account_id: str, bound: str) -> str | None:
        """The proxy for this account's calls (binding it first when needed); None = the default."""

    def blames(self, kind: ErrorKind) -> bool:
        """True when a failure of this kind is the egress's, not the account's."""


# An account call: the lease, and the proxy every call for that account leaves through.
AccountCall = Callable[["Lease", "str | None"], AsyncIterator[Event]]


@dataclass(slots=True)
class Outcome:
    """What happened, for stats and the request log (filled as the request runs)."""

    account_id: str = ""
    attempts: int = 0
    error_kind: str = ""
    error_detail: str = ""  # Grok's own words (or why no account could serve), for the request log
    first_event_at: float = 0.0


class RecordHook(Protocol):
    def __call__(self, ctx: CallContext, model: str, outcome: Outcome, started: float) -> None: ...


def wants_capable_account(job: VideoJob) -> bool:
    """720p and 10 s videos are made natively only by super/heavy accounts: try those first."""
    return job.resolution == "720p" or job.seconds >= 10


def to_api_error(err: UpstreamError) -> errors.ApiError:
    """Translate a classified upstream failure into what the client sees."""
    kind = err.kind
    if kind is ErrorKind.TIMEOUT:
        return errors.UpstreamTimeout(f"Grok did not answer in time: {err.message}")
    if kind is ErrorKind.RATE_LIMITED:
        return errors.ServiceUnavailable(
            "every eligible account is rate limited by Grok; retry later",
            headers={"Retry-After": str(max(1, int(err.retry_after or 60)))})
    if kind is ErrorKind.MODERATED:
        return errors.InvalidRequest(f"Grok refused the content: {err.message}", code="content_policy_violation")
    if kind is ErrorKind.BAD_REQUEST:
        return errors.InvalidRequest(f"Grok rejected the request: {err.message}", code="upstream_bad_request")
    if kind in (ErrorKind.ANTI_BOT, ErrorKind.STALE_PAGE):
        return errors.ServiceUnavailable(
            f"grok.com's anti-bot layer refused every x-statsig-id strategy tried ({err.message}); no account "
            "was penalised. See network.statsig_strategies and the admin stats page.",
            headers={"Retry-After": "60"}, code="upstream_anti_bot")
    if kind is ErrorKind.TRANSIENT:
        return errors.ServiceUnavailable(f"Grok is busy ({err.message}); retry shortly",
                                         headers={"Retry-After": "5"}, code="upstream_busy")
    if kind is ErrorKind.MODEL_UNAVAILABLE:
        return errors.ServiceUnavailable(f"Grok does not serve this model to any eligible account now: {err.message}",
                                         headers={"Retry-After": "60"}, code="model_unavailable")
    return errors.UpstreamFailed(f"Grok upstream error ({kind.value}): {err.message}")


class Gateway:
    """The only way API surfaces reach grok.com."""

    def __init__(self, *, catalog: Catalog, pool: Pool, client: GrokClient, media: MediaStore,
                 settings: Callable[[], Settings], record: RecordHook | None = None,
                 rng: random.Random | None = None, egresses: Egresses | None = None,
                 shutting_down: Callable[[], bool] = lambda: False) -> None:
        self.catalog = catalog
        self.pool = pool
        self.client = client
        self.media = media
        self.settings = settings
        self.record = record
        self.rng = rng or random.Random()
        self.egresses = egresses
        self.shutting_down = shutting_down  # SIGTERM's drain has begun: cut requests are the server's doing

    async def egress_for(self, account: Account) -> str | None:
        """The proxy every call for this account leaves through (None: the client's default)."""
        if self.egresses is None:
            return None
        return await self.egresses.route(account.id, account.egress)

    async def egress_for_token(self, token: str) -> str | None:
        """The same, for callers that hold only the account's token (quota refresh, admin actions)."""
        account = self.pool.get(account_id_for(token))
        if account is None or self.egresses is None:
            return None
        return await self.egresses.route(account.id, account.egress)

    def route(self, model: str, kinds: tuple[str, ...]) -> ModelRoute:
        route = self.catalog.get(model)
        if route is None:
            raise errors.ModelNotFound(f"The model `{model}` does not exist", param="model")
        if route.kind not in kinds:
            raise errors.InvalidRequest(
                f"The model `{model}` is a {route.kind} model and cannot be used here; "
                f"use one of the {'/'.join(kinds)} models", param="model", code="model_not_supported")
        return route

    # -- public operations -------------------------------------------------
    def chat(self, job: ChatJob) -> AsyncIterator[Event]:
        route = self.route(job.model, ("chat", "image", "video"))
        prefer = route.kind == "video" and job.video is not None and wants_capable_account(
            VideoJob(model=job.model, prompt="", seconds=job.video.seconds, resolution=job.video.resolution))
        return self._run(route, job.ctx, lambda lease, proxy: self._chat_call(lease, proxy, route, job),
                         prefer_higher_tier=prefer, hold=not job.stream and route.kind == "chat")

    def images(self, job: ImageJob) -> AsyncIterator[Event]:
        route = self.route(job.model, ("image",))
        return self._run(route, job.ctx, lambda lease, proxy: self.client.imagine(
            lease.account.token, prompt=job.prompt, n=job.n, aspect_ratio=job.aspect_ratio,
            nsfw=self.settings().image.image_ws_nsfw, pro=route.pro, proxy=proxy))

    def edit(self, job: EditJob) -> AsyncIterator[Event]:
        route = self.route(job.model, ("edit", "image"))
        return self._run(route, job.ctx, lambda lease, proxy: self._edit_call(lease, proxy, job))

    def video(self, job: VideoJob) -> AsyncIterator[Event]:
        route = self.route(job.model, ("video",))
        return self._run(route, job.ctx, lambda lease, proxy: self._video_events(lease, proxy, job),
                         prefer_higher_tier=wants_capable_account(job))

    # -- upstream calls bound to one account ------------------------------
    async def _upload_all(self, token: str, proxy: str | None, files: list[Attachment],
                          for_imagine: bool = False) -> list[Any]:
        return list(await asyncio.gather(*(
            self.client.upload(token, f.source, f.mime, f.name, for_imagine=for_imagine, proxy=proxy) for f in files)))

    async def _chat_call(self, lease: Lease, proxy: str | None, route: ModelRoute,
                         job: ChatJob) -> AsyncIterator[Event]:
        s = self.settings()
        token = lease.account.token
        if route.kind in ("image", "video"):
            # Media models through chat: the last user message is the prompt.
            prompt = next((m.text for m in reversed(job.messages) if m.role == "user"), "")
            if not prompt.strip():
                raise UpstreamError(ErrorKind.BAD_REQUEST, "a user message with the prompt is required")
            if route.kind == "image":
                async for event in self.client.imagine(token, prompt=prompt, n=1, aspect_ratio="1:1",
                                                       nsfw=s.image.image_ws_nsfw, pro=route.pro, proxy=proxy):
                    yield event
                return
            images = [a for a in job.attachments if a.mime.startswith("image/")][:1]
            opts = job.video or VideoOptions()
            async for event in self._video_events(lease, proxy, VideoJob(
                    model=job.model, prompt=prompt, aspect_ratio=opts.aspect_ratio, seconds=opts.seconds,
                    resolution=opts.resolution, preset=opts.preset, image=images[0] if images else None)):
                yield event
            return
        uploaded = await self._upload_all(token, proxy, job.attachments) if job.attachments else []
        request = ChatRequest.from_route(
            route,
            message=flatten_messages(job.messages),
            file_ids=[u.file_id for u in uploaded],
            thinking=job.thinking,
            temporary=s.chat.temporary,
            disable_memory=s.chat.disable_memory,
            transport=s.chat.transport,
        )
        async for event in self.client.chat(token, request, proxy=proxy):
            yield event

    async def _edit_call(self, lease: Lease, proxy: str | None, job: EditJob) -> AsyncIterator[Event]:
        token = lease.account.token
        uploaded = await self._upload_all(token, proxy, job.images, for_imagine=True)
        async for event in self.client.edit_image(token, prompt=job.prompt, images=uploaded, n=job.n, proxy=proxy):
            yield event

    async def _video_events(self, lease: Lease, proxy: str | None, job: VideoJob) -> AsyncIterator[Event]:
        token = lease.account.token
        basic = lease.account.pool == "basic"
        # Basic accounts cannot render 720p: make 480p there and upscale it, as the predecessor did.
        upscale = job.resolution == "720p" and basic
        resolution = "480p" if upscale else job.resolution
        # grok.com answers 429 to free accounts for longer videos (C6): make the longest they may,
        # say so, and do not burn the pool with 429s.
        limit = self.settings().network.basic_video_max_seconds
        seconds = min(job.seconds, limit) if basic else job.seconds
        image = (await self._upload_all(token, proxy, [job.image], for_imagine=True))[0] if job.image else None
        async for event in self.client.video(
                token, prompt=job.prompt, aspect_ratio=job.aspect_ratio, seconds=seconds,
                resolution=resolution, preset=job.preset, image=image, proxy=proxy):
            if upscale and isinstance(event, VideoReady) and not event.moderated and event.url:
                event.url = await self.client.upscale(token, event.video_id or event.url, proxy=proxy)
                event.resolution = "720p"
            if seconds != job.seconds and isinstance(event, VideoReady) and not event.moderated:
                event.seconds = seconds
                event.note = (f"This video is {seconds} s long: Grok makes videos of at most {limit} s on basic "
                              f"accounts and no account with a higher tier was free ({job.seconds} s were asked for).")
            yield event

    async def _cache_media(self, event: Event, token: str, proxy: str | None) -> Event:
        """Upstream asset links answer 403 to anyone but the generating account: cache them now."""
        if isinstance(event, ImageReady) and not event.moderated and not event.local:
            if event.data:
                data, mime = event.data, event.mime

                async def inline() -> tuple[bytes, str]:
                    return data, mime

                event.local = await self.media.store_from("image", inline, event.url or f"inline:{id(data)}")
            elif event.url:
                url = event.url
                event.local = await self.media.store_from(
                    "image", lambda: self.client.download(token, url, proxy=proxy), url)
        elif isinstance(event, VideoReady) and not event.moderated and not event.local and event.url:
            url = event.url
            event.local = await self.media.store_from("video", lambda: self.client.download(token, url, proxy=proxy),
                                                      url)
        return event

    # -- the failover loop ---------------------------------------------------
    async def _finish_failed(self, lease: Lease, err: UpstreamError | None, *, dispatched: bool,
                             output: bool) -> None:
        """A failed or abandoned call: its unit stays spent when grok.com counted the request,
        and goes back to the account when the request never reached grok.com or was refused."""
        if counted(err, dispatched=dispatched, output=output):
            lease.spend()
        else:
            await lease.release()

    async def _run(self, route: ModelRoute, ctx: CallContext, call: AccountCall,
                   prefer_higher_tier: bool = False, hold: bool = False) -> AsyncIterator[Event]:
        """Events of the first account that succeeds. With `hold`, events are kept until the call
        ends: a non-streaming answer reaches the client only whole, so a cut midway can still
        fail over to another account."""
        s = self.settings()
        started = time.monotonic()
        outcome = Outcome()
        tried: set[str] = set()
        # Accounts that failed through no fault of theirs (their egress's): tried again when none is left.
        egress_failed: set[str] = set()
        last_error: UpstreamError | None = None
        synced = False
        try:
            while True:
                try:
                    lease = await self.pool.acquire(route, exclude=tried, prefer_higher_tier=prefer_higher_tier)
                except NoAccountAvailable as exc:
                    if exc.code == "all_tried" and egress_failed:
                        tried -= egress_failed
                        egress_failed.clear()
                        continue
                    if not outcome.attempts and not synced:
                        # Accounts added a moment ago (admin, CLI, another worker) serve this very
                        # request: one counter read, a reload only when something moved.
                        synced = True
                        if await self.pool.sync():
                            continue
                    outcome.error_kind = last_error.kind.value if last_error else "no_account"
                    outcome.error_detail = last_error.message if last_error else exc.reason
                    if last_error is not None:
                        raise to_api_error(last_error) from None
                    raise errors.ServiceUnavailable(
                        f"no account can serve `{route.id}` now: {exc.reason}",
                        headers={"Retry-After": str(max(1, int(exc.retry_after or 30)))}) from None
                outcome.attempts += 1
                outcome.account_id = lease.account.id
                tried.add(lease.account.id)
                yielded = False
                dispatched = False  # the counted request has gone to grok.com: its unit is spent
                output = False  # grok.com started answering
                held: list[Event] | None = [] if hold else None
                try:
                    proxy = await self.egress_for(lease.account)
                    async for event in call(lease, proxy):
                        if isinstance(event, Dispatched):
                            dispatched = True
                            continue
                        if isinstance(event, (ImageReady, VideoReady)):  # no coroutine per text token
                            event = await self._cache_media(event, lease.account.token, proxy)
                        if not output:
                            output = True
                            outcome.first_event_at = time.monotonic()
                        if held is not None:
                            held.append(event)
                            continue
                        yielded = True
                        yield event
                    for event in held or ():
                        yielded = True
                        yield event
                except UpstreamError as err:
                    await self._finish_failed(lease, err, dispatched=dispatched, output=output)
                    await self.pool.report_failure(lease, err)
                    last_error = err
                    outcome.error_kind = err.kind.value
                    outcome.error_detail = err.message
                    log.info("request %s: account %s failed (%s: %s)", ctx.request_id,
                             lease.account.id, err.kind.value, err.message)
                    elapsed = time.monotonic() - started
                    if (yielded or not should_retry(err, s.retry.retry_status_codes)
                            or outcome.attempts > s.retry.max_retry or elapsed >= s.retry.retry_budget):
                        raise to_api_error(err) from None
                    egress_fault = self.egresses is not None and self.egresses.blames(err.kind)
                    if egress_fault:
                        if await self.egress_for(lease.account) != proxy:
                            tried.discard(lease.account.id)  # it moved off the failed egress: it may go on
                        else:
                            egress_failed.add(lease.account.id)
                    delay = 0.0 if egress_fault else backoff_delay(
                        err, outcome.attempts, s.retry.retry_backoff_base, s.retry.retry_backoff_factor,
                        s.retry.retry_backoff_max, self.rng)
                    if delay:
                        await asyncio.sleep(min(delay, max(0.0, s.retry.retry_budget - elapsed)))
                    continue
                except BaseException:
                    # The client went away, the server is shutting down (GeneratorExit/CancelledError)
                    # or a bug of ours: a request already sent was counted by grok.com all the same.
                    await self._finish_failed(lease, None, dispatched=dispatched, output=output)
                    raise
                await lease.settle()
                await self.pool.report_success(lease)
                outcome.error_kind = outcome.error_detail = ""
                return
        except errors.ApiError as exc:
            exc.recorded = True  # error_kind was set where it was raised; the record below logs it
            raise
        except (GeneratorExit, asyncio.CancelledError):
            # Not a success in the stats: the client went away, or shutdown cut the request.
            outcome.error_kind = "server_shutdown" if self.shutting_down() else "cancelled"
            raise
        except BaseException:
            outcome.error_kind = "internal"  # a failure of ours, not Grok's
            raise
        finally:
            ctx.recorded = True
            if self.record is not None:
                self.record(ctx, route.id, outcome, started)
