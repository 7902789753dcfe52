"""GrokClient: the one facade the gateway and the pool use to reach grok.com."""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from . import account, assets, limits, mgw, modes, rest_chat, uploads
from . import imagine as imagine_ws
from . import media_gen as media
from .chat import ChatRequest
from .errors import ErrorKind, UpstreamError
from .events import Event
from .headers import navigation_headers, normalize_token
from .identity import EgressHooks
from .mgw_keeper import MgwKeeper
from .options import UpstreamConfig
from .statsig import FallbackStrategy, ManualStrategy, SignerStrategy, Strategy, extract_site_verification
from .statsig_chain import StatsigChain
from .statsig_local import LocalStrategy
from .transport import Call, HttpResult, ProxyPicker, Transport
from .uploads import UploadedFile

_UID_CACHE_SIZE = 10_000
_ANY_STATUS = tuple(range(100, 600))
# The page is read whatever its status (C4: /index answers 404), except a 403: a Cloudflare challenge
# must reach the transport's clearance handling, and no other 403 page carries the meta.
_PAGE_STATUS = tuple(s for s in _ANY_STATUS if s != 403)


def _statsig_settings(config: UpstreamConfig) -> tuple[object, ...]:
    """What the x-statsig-id chain is built from."""
    return (config.statsig_strategies, config.statsig_value, config.statsig_signer_url,
            config.statsig_cache_seconds, config.statsig_demote_seconds, config.statsig_page_seconds)


class GrokClient:
    """One method per upstream operation, each taking the account's token and optionally a proxy.

    `proxy=None` lets `proxy_picker` (or `config.proxy_url`) choose; "" forces a direct connection.
    Every failure is a classified UpstreamError; CLOUDFLARE failures are also reported to the picker.
    With `egress_hooks` every call presents the clearance its egress holds (see transport.py)."""

    def __init__(self, config: UpstreamConfig, *, proxy_picker: ProxyPicker | None = None,
                 egress_hooks: EgressHooks | None = None, statsig: StatsigChain | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self.transport = Transport(config, statsig or self._statsig(config), proxy_picker, egress_hooks)
        self.mgw_keeper = MgwKeeper(self.transport)  # idle mgw sockets when config.mgw_keep_socket is on
        # (token, egress) -> user id: a moved account probes its session again on its new egress (C13).
        self._uids: OrderedDict[tuple[str, str], str] = OrderedDict()

    @property
    def statsig(self) -> StatsigChain:
        """The x-statsig-id chain: its order per path and egress, its counters, one strategy by name."""
        return self.transport.statsig

    def _statsig(self, config: UpstreamConfig) -> StatsigChain:
        built: dict[str, Strategy] = {
            "local": LocalStrategy(self.page, ttl=config.statsig_page_seconds, rng=self._rng),
            "signer": SignerStrategy(config.statsig_signer_url, self._fetch_meta, self._sign,
                                     ttl=config.statsig_cache_seconds),
            "manual": ManualStrategy(config.statsig_value),
            "fallback": FallbackStrategy(self._rng),
        }
        return StatsigChain([built[name] for name in config.statsig_strategies],
                            demote_seconds=config.statsig_demote_seconds)

    async def page(self, egress: str) -> str:
        """The HTML the signer and `local` read: /index whatever its status (C4), / when it has no meta."""
        config = self.config
        last = ""
        for path in ("/index", "/"):
            headers = navigation_headers(config, origin="", referer="")
            try:
                page = await self.transport.request("GET", config.grok_url + path, Call("", egress), headers,
                                                    ok=_PAGE_STATUS)
            except UpstreamError:
                continue
            last = page.text
            if extract_site_verification(last):
                return last
        if last:
            return last
        raise UpstreamError(ErrorKind.UPSTREAM, "grok.com's page could not be read")

    async def egress(self, proxy: str | None = None) -> str:
        """The egress a call with this `proxy` argument would leave through ("" = direct)."""
        return await self.transport.egress(proxy)

    async def get_page(self, path: str, *, proxy: str | None = None) -> HttpResult:
        """One grok.com page as a browser navigates to it, whatever its status (reachability probes)."""
        headers = navigation_headers(self.config, origin="", referer="")
        return await self.transport.request("GET", self.config.grok_url + path, Call("", proxy), headers,
                                            ok=_ANY_STATUS)

    async def _fetch_meta(self, egress: str) -> str:
        """The signer's input: the grok-site-verification meta of /index (fallback /)."""
        meta = extract_site_verification(await self.page(egress))
        if not meta:
            raise UpstreamError(ErrorKind.UPSTREAM, "grok.com page carries no grok-site-verification meta")
        return meta

    async def _sign(self, meta: str, method: str, path: str) -> str:
        body = {"method": method, "path": path, "environment": {"metaContent": meta}}
        # The signer is not grok.com: no grok.com cookies go there.
        result = await self.transport.request("POST", self.config.statsig_signer_url, Call("", cf_cookies=False),
                                              {"Content-Type": "application/json", "Accept": "application/json"},
                                              json_body=body, timeout=self.config.connect_timeout)
        data = result.json()
        value = data.get("x-statsig-id") if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise UpstreamError(ErrorKind.UPSTREAM, "signer answer carries no x-statsig-id")
        return value

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        """Nothing to open eagerly: sessions are created per egress on first use."""
        self.transport.start()

    def reconfigure(self, config: UpstreamConfig) -> bool:
        """Use `config` from the next call on (the admin saved settings): hosts, identity, timeouts,
        dialects, Imagine thresholds and proxies at once; the x-statsig-id chain is rebuilt when its
        settings changed (its listeners stay). Calls already running finish as they started. False
        when nothing changed."""
        if config == self.config:
            return False
        statsig = self.transport.statsig
        if _statsig_settings(config) != _statsig_settings(self.config):
            fresh = self._statsig(config)
            fresh.listeners = statsig.listeners
            statsig = fresh
        self.config = config
        self.transport.reconfigure(config, statsig)
        self.mgw_keeper.reconfigure()  # kept sockets were opened with the old identity, hosts and timeouts
        return True

    async def close(self) -> None:
        await self.mgw_keeper.close()
        await self.transport.close()

    async def __aenter__(self) -> GrokClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- chat --------------------------------------------------------------
    async def reachable(self, proxy: str) -> int:
        """The status of grok.com's front page through one egress (any answer proves the egress
        carries traffic); a classified UpstreamError when it does not."""
        headers = navigation_headers(self.config, origin="", referer="")
        result = await self.transport.request("GET", self.config.grok_url + "/", Call("", proxy), headers,
                                              ok=_ANY_STATUS, timeout=self.config.connect_timeout)
        return result.status

    async def user_id(self, token: str, *, proxy: str | None = None) -> str:
        """The account's UID (for mgw), cached per token and egress."""
        token = normalize_token(token)
        key = (token, "" if proxy is None else proxy)
        uid = self._uids.get(key)
        if uid is None:
            uid = await mgw.fetch_user_id(self.transport, token, proxy)
            self._uids[key] = uid
            while len(self._uids) > _UID_CACHE_SIZE:
                self._uids.popitem(last=False)
        return uid

    def chat(self, token: str, request: ChatRequest, *, proxy: str | None = None) -> AsyncIterator[Event]:
        """One chat turn over the mgw WebSocket (G3) or REST conversations/new (G1/G2)."""
        dialect = request.dialect(self.config.chat_transport)
        if dialect == "mgw":
            return self._chat_mgw(token, request, proxy)
        # REST's own generator, not one re-yielding it: each layer costs every event a resume.
        return rest_chat.chat_rest(self.transport, token, request, dialect, proxy)

    async def _chat_mgw(self, token: str, request: ChatRequest, proxy: str | None) -> AsyncIterator[Event]:
        # C13: the session probe and the socket leave through one egress (clearance is bound to it).
        proxy = await self.transport.egress(proxy)
        uid = await self.user_id(token, proxy=proxy)
        chat = (self.mgw_keeper.chat(normalize_token(token), request, uid, proxy) if self.config.mgw_keep_socket
                else mgw.chat_mgw(self.transport, token, request, uid, proxy))
        try:
            async for event in chat:
                yield event
        except UpstreamError as err:
            if err.kind is ErrorKind.AUTH:
                self._uids.pop((normalize_token(token), proxy), None)
            raise

    async def mgw_socket_reuse(self, token: str, request: ChatRequest, *, proxy: str | None = None) -> str:
        """Whether one mgw socket carries two sequential chats: "" when it does, else why not (issue 21)."""
        proxy = await self.transport.egress(proxy)
        uid = await self.user_id(token, proxy=proxy)
        return await mgw.socket_reuse(self.transport, token, request, uid, proxy)

    # -- media -------------------------------------------------------------
    async def imagine(self, token: str, prompt: str, n: int = 1, aspect_ratio: str = "2:3", nsfw: bool | None = None,
                      *, pro: bool = False, proxy: str | None = None) -> AsyncIterator[Event]:
        """n images: over the Imagine WebSocket, or quality ("pro") ones through REST textToImage (C12)."""
        if pro and self.config.quality_images_rest:
            async for event in media.quality_images(self.transport, token, prompt, n=n, aspect_ratio=aspect_ratio,
                                                    proxy=proxy):
                yield event
            return
        async for event in imagine_ws.imagine(
                self.transport, token, prompt, n=n, aspect_ratio=aspect_ratio,
                nsfw=self.config.image_ws_nsfw if nsfw is None else nsfw, pro=pro, proxy=proxy):
            yield event

    async def edit_image(self, token: str, prompt: str, images: Sequence[UploadedFile], n: int = 1, *,
                         aspect_ratio: str = "", proxy: str | None = None) -> AsyncIterator[Event]:
        """Edit uploaded images (upload them with `upload(..., for_imagine=True)` first)."""
        async for event in media.edit_image(self.transport, token, prompt, images, n=n, aspect_ratio=aspect_ratio,
                                            proxy=proxy):
            yield event

    async def video(self, token: str, prompt: str, *, aspect_ratio: str = "16:9", seconds: int = 6,
                    resolution: str = "480p", preset: str = "normal", image: UploadedFile | None = None,
                    proxy: str | None = None) -> AsyncIterator[Event]:
        """Text-to-video (G4 mediaGenInput) or image-to-video (media post)."""
        async for event in media.video(self.transport, token, prompt, aspect_ratio=aspect_ratio, seconds=seconds,
                                       resolution=resolution, preset=preset, image=image, proxy=proxy):
            yield event

    async def upscale(self, token: str, video_url_or_id: str, *, proxy: str | None = None) -> str:
        return await media.upscale(self.transport, token, video_url_or_id, proxy=proxy)

    # -- files -------------------------------------------------------------
    async def upload(self, token: str, data: bytes | Path, mime: str, filename: str, *, for_imagine: bool = False,
                     proxy: str | None = None) -> UploadedFile:
        return await uploads.upload(self.transport, token, data, mime, filename, for_imagine=for_imagine, proxy=proxy)

    async def download(self, token: str, url: str, *, proxy: str | None = None) -> tuple[bytes, str]:
        return await assets.download(self.transport, token, url, proxy=proxy)

    async def list_assets(self, token: str, *, proxy: str | None = None) -> list[dict[str, object]]:
        return await assets.list_assets(self.transport, token, proxy=proxy)

    async def delete_asset(self, token: str, asset_id: str, *, proxy: str | None = None) -> None:
        await assets.delete_asset(self.transport, token, asset_id, proxy=proxy)

    # -- quota -------------------------------------------------------------
    async def rate_limits(self, token: str, mode: str = "fast", *, proxy: str | None = None) -> limits.RateLimits:
        return await limits.rate_limits(self.transport, token, mode, proxy=proxy)

    async def quota_info(self, token: str, *, proxy: str | None = None) -> dict[str, limits.ProductQuota | None]:
        return await limits.quota_info(self.transport, token, proxy=proxy)

    async def modes(self, token: str, *, proxy: str | None = None) -> list[modes.UpstreamMode]:
        """The modes grok.com offers this account and the tier each needs (C10)."""
        return await modes.fetch_modes(self.transport, token, proxy=proxy)

    # -- account settings ----------------------------------------------------
    async def accept_tos(self, token: str, *, proxy: str | None = None) -> None:
        await account.accept_tos(self.transport, token, proxy=proxy)

    async def set_birth_date(self, token: str, birth_date: str = "", *, proxy: str | None = None) -> bool:
        """True when set now, False when it was already set (locked)."""
        return await account.set_birth_date(self.transport, token, birth_date, rng=self._rng, proxy=proxy)

    async def enable_nsfw(self, token: str, *, prepare: bool = True, proxy: str | None = None) -> None:
        """Enable NSFW content. With `prepare` (default) first accept the ToS and set a birth date,
        the order grok.com requires (§10); an already-set birth date is fine."""
        if prepare:
            await self.accept_tos(token, proxy=proxy)
            await self.set_birth_date(token, proxy=proxy)
        await account.update_nsfw(self.transport, token, True, proxy=proxy)

    async def livekit_token(self, token: str, *, voice: str = "ara", personality: str = "assistant",
                            speed: float = 1.0, instructions: str = "", proxy: str | None = None) -> account.LiveKitToken:
        return await account.livekit_token(self.transport, token, voice=voice, personality=personality, speed=speed,
                                           instructions=instructions, proxy=proxy)
