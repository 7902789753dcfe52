"""Pure helpers shared by the stream parsers: NDJSON line decoding, asset URLs, cards, tool lines."""

from __future__ import annotations

import json
import re
from typing import Any

from .. import jsonfast
from .events import ImageReady

_DECODER = json.JSONDecoder()
_RENDER = re.compile(r"<grok:render\b([^>]*)>(.*?)</grok:render>", re.DOTALL)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_ARG = re.compile(r'<argument name="([^"]+)">(.*?)</argument>', re.DOTALL)
_TOOL_NAME = re.compile(r"<xai:tool_name>(.*?)</xai:tool_name>", re.DOTALL)
_TOOL_ARGS = re.compile(r"<xai:tool_args>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</xai:tool_args>", re.DOTALL)
_ROLLOUT = re.compile(r"<rolloutId>(.*?)</rolloutId>", re.DOTALL)


def decode_line(line: bytes | str) -> list[dict[str, Any]]:
    """JSON objects on one stream line; tolerates `data:` prefixes, `event:` lines, `[DONE]`, blank
    lines and objects concatenated without a separator (§3.5). Unparseable text yields nothing."""
    if isinstance(line, bytes):
        # The usual line is one JSON value, read whole (the stdlib's raw_decode was 4 % of a REST
        # completion's CPU). Anything else (prefixes, several objects, invalid UTF-8) takes the
        # tolerant path below, and comes out as it did.
        try:
            obj = jsonfast.loads(line)
        except ValueError:
            pass
        else:
            return [obj] if isinstance(obj, dict) else []
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if text.startswith("data:"):
        text = text[5:].strip()
    if not text or text == "[DONE]" or text.startswith(("event:", "id:", "retry:", ":")):
        return []
    out: list[dict[str, Any]] = []
    pos = 0
    while pos < len(text):
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(obj, dict):
            out.append(obj)
        pos = end
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
    return out


def asset_url(path: str, assets_url: str) -> str:
    """Absolute asset URL: relative stream paths live under the assets host (§8.3)."""
    if not path or path.startswith(("http://", "https://")):
        return path
    return f"{assets_url.rstrip('/')}/{path.lstrip('/')}"


def mime_of(url: str, default: str = "image/jpeg") -> str:
    """Media type guessed from an asset URL's extension."""
    low = url.lower().split("?", 1)[0]
    for ext, mime in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif"),
                      (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"), (".mp4", "video/mp4")):
        if low.endswith(ext):
            return mime
    return default


def is_partial_image(url: str) -> bool:
    """Preview paths (`…-part-N/…`) must never be returned as results (§3.6.5)."""
    return "-part-" in url


def card_data(card: Any) -> dict[str, Any] | None:
    """The card object of a `cardAttachment` (jsonData is usually a JSON string, sometimes an object)."""
    if not isinstance(card, dict):
        return None
    data = card.get("jsonData", card)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def card_image(card: dict[str, Any], slot: int, assets_url: str) -> ImageReady | None:
    """The finished image of a generated-image card (`image_chunk` at progress 100), else None."""
    chunk = card.get("image_chunk")
    if not isinstance(chunk, dict) or not chunk.get("imageUrl"):
        return None
    if int(chunk.get("progress") or 0) < 100 or is_partial_image(str(chunk["imageUrl"])):
        return None
    url = asset_url(str(chunk["imageUrl"]), assets_url)
    return ImageReady(slot=slot, url=url, mime=mime_of(url), moderated=bool(chunk.get("moderated")))


def render_cards(text: str, cards: dict[str, dict[str, Any]]) -> str:
    """Replace `<grok:render>` tags: citations become ` [[n]](url)`, searched images markdown,
    everything else (generated-image cards, files) disappears (the image comes as an event)."""

    def one(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match.group(1)))
        args = dict(_ARG.findall(match.group(2)))
        card = cards.get(attrs.get("card_id", ""), {})
        kind = attrs.get("type") or card.get("type", "")
        if kind == "render_inline_citation" and card.get("url"):
            return f" [[{args.get('citation_id', '').strip() or '*'}]]({card['url']})"
        image = card.get("image")
        if kind == "render_searched_image" and isinstance(image, dict) and image.get("original"):
            title = image.get("title", "")
            thumb = image.get("thumbnail") or image["original"]
            link = image.get("link") or image["original"]
            return f"[![{title}]({thumb})]({link})"
        return ""

    return _RENDER.sub(one, text)


def _camel_words(name: str) -> str:
    return name[:1].upper() + name[1:]


def tool_line(card: Any = None, token: str = "", rollout: str = "") -> str:
    """One reasoning line for a tool card: `[WebSearch] query` (PY-A style), prefixed by `[rolloutId]`."""
    name, args = "", dict[str, Any]()
    if isinstance(card, dict):
        for key, value in card.items():
            if key not in ("toolUsageCardId", "tool_usage_card_id") and isinstance(value, dict):
                name = key
                args = value.get("args", value) if isinstance(value.get("args", value), dict) else {}
                break
    if not name and token:
        found = _TOOL_NAME.search(token)
        name = found.group(1).strip() if found else ""
        raw = _TOOL_ARGS.search(token)
        try:
            args = json.loads(raw.group(1)) if raw else {}
        except ValueError:
            args = {}
        if not rollout:
            found = _ROLLOUT.search(token)
            rollout = found.group(1).strip() if found else ""
    if not name:
        return ""
    # snake_case (mgw, XML) and camelCase (REST) both become WebSearch / XSearch / …
    label = "".join(_camel_words(p) for p in re.split(r"_", name)) if "_" in name else _camel_words(name)
    if label in ("WebSearch", "XSearch", "XKeywordSearch", "XSemanticSearch", "BrowsePage", "OpenPage"):
        detail = args.get("query") or args.get("url") or ""
    elif label == "SearchImages":
        label, detail = "SearchImage", args.get("image_description") or args.get("imageDescription") or ""
    elif label == "ChatroomSend":
        label, detail = "AgentThink", args.get("message", "")
    else:
        detail = json.dumps(args, ensure_ascii=False, separators=(",", ":")) if args else ""
    prefix = f"[{rollout}] " if rollout else ""
    return f"{prefix}[{label}] {detail}".rstrip() + "\n"
