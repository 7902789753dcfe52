"""REST `conversations/new` (G1/G2, and the media path in G4): body builders and the NDJSON stream parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .chat import ChatRequest
from .classify import classify_inband
from .errors import ErrorKind, UpstreamError
from .events import (
    Dispatched,
    Done,
    Event,
    ImageProgress,
    ImageReady,
    ReasoningDelta,
    TextDelta,
    VideoProgress,
    VideoReady,
)
from .frames import asset_url, card_data, card_image, decode_line, is_partial_image, mime_of, render_cards, tool_line
from .headers import rest_headers
from .options import UpstreamConfig
from .transport import Call, Transport

NEW_PATH = "/rest/app-chat/conversations/new"
DEVICE_ENV = {"darkModeEnabled": False, "devicePixelRatio": 2, "screenWidth": 2056, "screenHeight": 1329,
              "viewportWidth": 2056, "viewportHeight": 1083}
_VIDEO_URL_KEYS = ("videoUrl", "contentUrl", "assetUrl", "fileUri")
# How the echo of the user's message starts (wrapped, and flat on /responses): such a line is not parsed.
# It repeats the whole prompt (an agent's 50 KB prompt: 50 us to parse, 21 to pass over).
_USER_ECHO = (b'{"result":{"response":{"userResponse":', b'{"result":{"userResponse":')
# The keys of a response frame that _response looks at besides token, responseId and isSoftStop.
_RARE = frozenset({"error", "userResponse", "llmInfo", "streamingImageGenerationResponse",
                   "streamingVideoGenerationResponse", "cardAttachment", "cardAttachments", "modelResponse",
                   "finalMetadata"})


def build_chat_body(request: ChatRequest, config: UpstreamConfig, dialect: str) -> dict[str, Any]:
    """The conversations/new body: G1 (`modelName`+`modelMode`, §3.1) or G2 (`modeId`, §3.2)."""
    temporary = config.temporary if request.temporary is None else request.temporary
    disable_memory = config.disable_memory if request.disable_memory is None else request.disable_memory
    body: dict[str, Any] = {
        "deviceEnvInfo": dict(DEVICE_ENV),
        "disableMemory": disable_memory,
        "disableSearch": False,
        "disableSelfHarmShortCircuit": False,
        "disableTextFollowUps": False,
        "enableImageGeneration": True,
        "enableImageStreaming": True,
        "enableSideBySide": True,
        "fileAttachments": list(request.file_ids),
        "forceConcise": False,
        "forceSideBySide": False,
        "imageAttachments": [],
        "imageGenerationCount": request.image_count,
        "isAsyncChat": False,
        "message": request.message,
        "returnImageBytes": False,
        "returnRawGrokInXaiRequest": False,
        "sendFinalMetadata": True,
        "temporary": temporary,
    }
    if dialect == "rest-g1":
        override: dict[str, Any] = {"temperature": 0.8, "topP": 0.95}
        if request.reasoning_effort:
            override["reasoningEffort"] = request.reasoning_effort
        body.update({
            "modelName": request.model_name,
            "modelMode": request.model_mode or None,
            "isReasoning": False,  # reasoning is chosen by the mode, never by this flag (§3.4)
            "toolOverrides": {},
            "responseMetadata": {"requestModelDetails": {"modelId": request.model_name},
                                 "modelConfigOverride": override},
        })
    else:
        body.update({
            "modeId": request.mode_id or request.mode,
            "collectionIds": [],
            "disabledConnectorIds": [],
            "toolOverrides": {},
            "responseMetadata": {},
        })
    return body


class RestStreamParser:
    """Turns conversations/new frames into events; `media=True` keeps only image/video events."""

    def __init__(self, assets_url: str, *, thinking: bool = True, media: bool = False) -> None:
        self.assets_url = assets_url
        self.thinking = thinking
        self.media = media
        self.meta: dict[str, str] = {}
        self.finished = False
        self._text_seen = False
        self._carry = ""  # text held back while a <grok:render> tag is still open
        self._cards: dict[str, dict[str, Any]] = {}
        self._images: dict[str, int] = {}  # final URL -> slot, so repeats are not reported twice
        self._video_done = False

    # -- frames --------------------------------------------------------------
    def feed_lines(self, lines: list[bytes]) -> list[Event]:
        """Events for the stream lines that arrived together, which the list is emptied of: a text
        (or reasoning) delta right after another becomes one, so that tokens that came in one piece
        go on as one event (what a client receives is the same text, in fewer chunks)."""
        events: list[Event] = []
        while lines:
            # Popped, not a loop variable: that would keep the line's last frame (~3 KB of dicts,
            # measured) for as long as the stream then idles.
            line = lines.pop(0)
            if line.startswith(_USER_ECHO) and b'"error"' not in line:
                continue  # nothing in it makes an event (_response), and it is the whole prompt again
            frames = decode_line(line)
            while frames:
                for event in self.feed(frames.pop(0)):
                    last = events[-1] if events else None
                    if isinstance(last, (TextDelta, ReasoningDelta)) and type(event) is type(last):
                        last.text += event.text
                    else:
                        events.append(event)
        return events

    def feed(self, frame: dict[str, Any]) -> list[Event]:
        """Events for one frame; raises a classified UpstreamError for error frames."""
        if "error" in frame and "result" not in frame:
            raise classify_inband(frame["error"])
        result = frame.get("result")
        if not isinstance(result, dict):
            return []
        if isinstance(result.get("conversation"), dict):
            self._set("conversationId", result["conversation"].get("conversationId"))
            return []
        if isinstance(result.get("title"), dict):
            self._set("title", result["title"].get("newTitle"))
            return []
        # /responses uses a flat wrapper (§3.5): accept both.
        inner = result.get("response")
        inner = inner if isinstance(inner, dict) else result
        return self._response(inner)

    def _set(self, key: str, value: Any) -> None:
        if isinstance(value, str) and value:
            self.meta[key] = value

    def _response(self, r: dict[str, Any]) -> list[Event]:
        if _RARE.isdisjoint(r):  # a token frame, nearly every frame: only its token can make events
            self._set("responseId", r.get("responseId"))
            tokens = self._token(r) if isinstance(r.get("token"), str) else []
            if r.get("isSoftStop"):
                self.finished = True
            return tokens
        if r.get("error"):
            raise classify_inband(r["error"])
        if "userResponse" in r:
            return []
        events: list[Event] = []
        self._set("responseId", r.get("responseId"))
        llm = r.get("llmInfo")
        if isinstance(llm, dict):
            self._set("modelHash", llm.get("modelHash"))
        if isinstance(r.get("streamingImageGenerationResponse"), dict):
            events += self._image(r["streamingImageGenerationResponse"])
        if isinstance(r.get("streamingVideoGenerationResponse"), dict):
            events += self._video(r["streamingVideoGenerationResponse"])
        cards = [r["cardAttachment"]] if r.get("cardAttachment") else []
        cards += r.get("cardAttachments") or []
        for card in cards:
            events += self._card(card)
        if isinstance(r.get("token"), str):
            events += self._token(r)
        if isinstance(r.get("modelResponse"), dict):
            events += self._model_response(r["modelResponse"])
        if r.get("isSoftStop") or r.get("finalMetadata") is not None:
            self.finished = True
        return events

    def _token(self, r: dict[str, Any]) -> list[Event]:
        token: str = r["token"]
        tag = r.get("messageTag") or ""
        if tag == "raw_function_result" or self.media:
            return []
        if tag == "tool_usage_card" or "<xai:tool_usage_card" in token:
            line = tool_line(r.get("toolUsageCard"), token, str(r.get("rolloutId") or ""))
            return [ReasoningDelta(line)] if line and self.thinking else []
        if r.get("isThinking"):
            if not (self.thinking and token):
                return []
            rollout = r.get("rolloutId")
            return [ReasoningDelta(f"[{rollout}] {token}" if rollout and tag != "header" else token)]
        text = self._render(token)
        if text:
            self._text_seen = True
            return [TextDelta(text)]
        return []

    def _render(self, token: str) -> str:
        text = self._carry + token
        open_at = text.rfind("<grok:render")
        if open_at >= 0 and "</grok:render>" not in text[open_at:]:
            self._carry, text = text[open_at:], text[:open_at]
        else:
            self._carry = ""
        return render_cards(text, self._cards)

    def _card(self, raw: Any) -> list[Event]:
        card = card_data(raw)
        if card is None:
            return []
        if card.get("id"):
            self._cards[str(card["id"])] = card
        ready = card_image(card, len(self._images), self.assets_url)
        if ready is None or ready.url in self._images:
            return []
        self._images[ready.url] = ready.slot
        return [ready]

    def _image(self, g: dict[str, Any]) -> list[Event]:
        url = asset_url(str(g.get("imageUrl") or g.get("url") or ""), self.assets_url)
        slot = int(g.get("imageIndex") or 0)
        progress = int(g.get("progress") or 0)
        final = (progress >= 100 or g.get("isFinal")) and url and not is_partial_image(url)
        if not final:
            return [ImageProgress(slot=slot, percent=min(progress, 99))]
        if url in self._images:
            return []
        self._images[url] = slot
        return [ImageReady(slot=slot, url=url, mime=mime_of(url), moderated=bool(g.get("moderated")))]

    def _video(self, v: dict[str, Any]) -> list[Event]:
        progress = int(v.get("progress") or 0)
        if progress < 100 or self._video_done:
            return [] if self._video_done else [VideoProgress(percent=progress)]
        url = ""
        for key in _VIDEO_URL_KEYS:
            value = v.get(key)
            if isinstance(value, str) and (value.endswith(".mp4") or "/content" in value):
                url = value
                break
        moderated = bool(v.get("moderated"))
        if not url and not moderated:
            return [VideoProgress(percent=99)]  # 100 without a URL yet: the link follows in a later frame
        self._video_done = True
        return [VideoReady(url=asset_url(url, self.assets_url),
                           thumbnail_url=asset_url(str(v.get("thumbnailImageUrl") or ""), self.assets_url),
                           video_id=str(v.get("videoId") or ""), resolution=str(v.get("resolutionName") or ""),
                           moderated=moderated)]

    def _model_response(self, m: dict[str, Any]) -> list[Event]:
        self.finished = True
        self._set("responseId", m.get("responseId"))
        errors = [e for e in m.get("streamErrors") or [] if e]
        if errors:
            # A quota/auth/moderation text keeps its meaning; anything else is a failed generation.
            raise classify_inband(errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])})
        events: list[Event] = []
        message = m.get("message")
        if not self.media and not self._text_seen and isinstance(message, str) and message:
            text = render_cards(message, self._cards)
            if text:
                self._text_seen = True
                events.append(TextDelta(text))
        for path in m.get("generatedImageUrls") or []:
            url = asset_url(str(path), self.assets_url)
            if url and not is_partial_image(url) and url not in self._images:
                self._images[url] = len(self._images)
                events.append(ImageReady(slot=self._images[url], url=url, mime=mime_of(url)))
        if not self._video_done:
            for path in m.get("fileAttachments") or []:
                if isinstance(path, str) and path.endswith(".mp4"):
                    self._video_done = True
                    events.append(VideoReady(url=asset_url(path, self.assets_url)))
                    break
        return events

    def finish(self) -> list[Event]:
        """Events after the server closed the stream; a stream cut before its end is an error."""
        if not self.finished:
            raise UpstreamError(ErrorKind.UPSTREAM, "grok.com ended the stream before the answer was complete")
        events: list[Event] = []
        if self._carry:
            text, self._carry = render_cards(self._carry, self._cards), ""
            if text and not self.media:
                events.append(TextDelta(text))
        events.append(Done(meta=dict(self.meta)))
        return events


async def run_stream(transport: Transport, call: Call, url: str, headers: dict[str, str], body: dict[str, Any],
                     parser: RestStreamParser, timeout: float | None = None) -> AsyncIterator[Event]:
    """POST a conversations/new-style body and yield the parser's events until the stream ends."""
    yield Dispatched()
    async with transport.stream("POST", url, call, headers, json_body=body, timeout=timeout) as chunks:
        del headers, body  # sent: not held for the rest of a stream that may stay open for minutes
        async for lines in chunks:
            events = parser.feed_lines(lines)
            while events:
                yield events.pop(0)
    for event in parser.finish():
        yield event


def chat_rest(transport: Transport, token: str, request: ChatRequest, dialect: str,
              proxy: str | None = None) -> AsyncIterator[Event]:
    """A chat turn over REST conversations/new (G1/G2): run_stream's own generator (no layer re-yielding
    its events); headers and body go to its frame, which lets them go once sent."""
    config = transport.config
    return run_stream(transport, Call(token, proxy, statsig_path=NEW_PATH), config.grok_url + NEW_PATH,
                      rest_headers(config, origin=config.grok_url, referer=config.grok_url + "/"),
                      build_chat_body(request, config, dialect),
                      RestStreamParser(config.assets_url, thinking=request.thinking))
