"""Everything the upstream client needs to know, as one frozen value built from settings."""

from __future__ import annotations

from dataclasses import dataclass

# The newest Chrome profile of the pinned curl_cffi (setup.cfg) and that profile's own User-Agent (C11).
DEFAULT_BROWSER = "chrome152"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/152.0.0.0 Safari/537.36"
)

CHAT_TRANSPORTS = ("ws", "rest")
STATSIG_STRATEGIES = ("local", "signer", "manual", "fallback")
DEFAULT_STATSIG_STRATEGIES = ("local", "signer", "manual", "fallback")


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Hosts, identity, timeouts and dialect switches of the grok.com client."""

    grok_url: str = "https://grok.com"
    assets_url: str = "https://assets.grok.com"
    accounts_url: str = "https://accounts.x.ai"
    livekit_url: str = "wss://livekit.grok.com"
    browser: str = DEFAULT_BROWSER  # curl_cffi impersonation profile; must match the UA's Chrome major
    user_agent: str = DEFAULT_USER_AGENT
    cf_clearance: str = ""  # bound by Cloudflare to UA + egress IP, so only useful with a fixed proxy
    timeout: float = 120.0  # whole request / WebSocket session, seconds
    connect_timeout: float = 20.0
    first_byte_timeout: float = 30.0
    idle_timeout: float = 120.0
    media_timeout: float = 900.0  # video generation can legitimately take many minutes
    chat_transport: str = "ws"  # "ws" = mgw WebSocket (G3), "rest" = conversations/new (G1/G2)
    temporary: bool = True
    disable_memory: bool = True
    # x-statsig-id strategies in the order they are tried (§0.2 C1-C4); see statsig_chain.py.
    statsig_strategies: tuple[str, ...] = DEFAULT_STATSIG_STRATEGIES
    statsig_value: str = ""  # the "manual" strategy's value
    statsig_signer_url: str = ""  # the "signer" strategy's URL
    statsig_cache_seconds: float = 0.0  # signer values kept per path; 0 = sign per request (C3)
    statsig_demote_seconds: float = 600.0  # a refused strategy goes to the back for this long (per path+egress)
    statsig_page_seconds: float = 3600.0  # the page's meta and fingerprint material are re-read after this
    image_ws_nsfw: bool = True
    image_ws_blocked_seconds: float = 15.0  # a medium image with no final after this = silently moderated
    image_ws_final_min_bytes: int = 100_000  # base64 length above which a blob is a final image
    image_ws_medium_min_bytes: int = 30_000
    image_ws_idle_seconds: float = 10.0  # after one final, give up waiting for stragglers this long
    legacy_media: bool = False  # G1/G2 media post + modelMap shapes instead of mediaGenInput (C7 fallback)
    quality_images_rest: bool = True  # "pro" images via REST textToImage mode quality (C12), not the Imagine WS
    # Concurrent curl handles per egress. curl_cffi defaults to 10, which serialised the predecessor;
    # every live chat WebSocket holds one, so this caps open streams (10,000 must fit).
    max_clients: int = 16_384
    proxy_url: str = ""
    asset_proxy_url: str = ""  # asset downloads may leave through a different egress
    heartbeat_seconds: float = 3.0  # mgw client ping interval: the browser pings about every 3 s (C8)
    # Keep one mgw socket per (account, egress) open between sequential chats (mgw_keeper.py); it is
    # closed after this many seconds without a chat.
    mgw_keep_socket: bool = False
    mgw_socket_idle_sec: float = 30.0

    def __post_init__(self) -> None:
        if self.chat_transport not in CHAT_TRANSPORTS:
            raise ValueError(f"chat_transport must be one of {CHAT_TRANSPORTS}, not {self.chat_transport!r}")
        unknown = [s for s in self.statsig_strategies if s not in STATSIG_STRATEGIES]
        if unknown or not self.statsig_strategies or len(set(self.statsig_strategies)) != len(self.statsig_strategies):
            raise ValueError(f"statsig_strategies must list distinct names of {STATSIG_STRATEGIES}, "
                             f"not {list(self.statsig_strategies)!r}")
        if self.max_clients < 1:
            raise ValueError("max_clients must be at least 1")

    @property
    def ws_url(self) -> str:
        """grok_url with the WebSocket scheme (https -> wss, http -> ws)."""
        return to_ws_url(self.grok_url)


def to_ws_url(url: str) -> str:
    """Swap an http(s) URL's scheme for ws(s)."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url
