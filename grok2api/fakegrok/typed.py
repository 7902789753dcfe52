"""Second-edition stream details on demand (§0.2 C8, C9): prompt markers for typed stream errors and NOTETAKER thinking.

`[[stream_error:KIND]]` answers with the typed StreamError of KIND instead of the answer (REST:
`modelResponse.streamErrors`, mgw: `response.grok.output.stream_error` + `response.done` failed);
`[[notetaker]]` streams mgw thinking on `CHANNEL_ASSISTANT_NOTETAKER_HEADER`. Both markers are
removed from the prompt before the reply is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NOTETAKER = "CHANNEL_ASSISTANT_NOTETAKER_HEADER"
# KIND -> (the enum name grok.com sends, its message)
STREAM_ERRORS: dict[str, tuple[str, str]] = {
    "usage_pool_exhausted": ("STREAM_ERROR_KIND_USAGE_POOL_EXHAUSTED", "Your usage pool is exhausted."),
    "usage_limit_reached": ("STREAM_ERROR_KIND_USAGE_LIMIT_REACHED", "You've reached your usage limit."),
    "concurrency_limit": ("STREAM_ERROR_KIND_CONCURRENCY_LIMIT", "Too many concurrent requests."),
    "global_rate_limit": ("STREAM_ERROR_KIND_GLOBAL_RATE_LIMIT", "Grok is experiencing high demand."),
    "content_moderated": ("STREAM_ERROR_KIND_CONTENT_MODERATED", "This content was moderated."),
    "model_not_available": ("STREAM_ERROR_KIND_MODEL_NOT_AVAILABLE", "This model is not available right now."),
}
_STREAM_ERROR = re.compile(r"\[\[stream_error:([a-z_]+)\]\]")
_NOTETAKER = "[[notetaker]]"


@dataclass(frozen=True, slots=True)
class Markers:
    text: str  # the prompt without the markers
    stream_error: str = ""  # a KIND of STREAM_ERRORS, "" = none
    notetaker: bool = False


def take_markers(text: str) -> Markers:
    """Split the second-edition markers off a prompt; an unknown KIND is left in the text."""
    kind = ""
    match = _STREAM_ERROR.search(text)
    if match and match.group(1) in STREAM_ERRORS:
        kind = match.group(1)
        text = text[:match.start()] + text[match.end():]
    notetaker = _NOTETAKER in text
    return Markers(text.replace(_NOTETAKER, ""), kind, notetaker)


def stream_error(kind: str) -> dict[str, Any]:
    """The typed StreamError object of one KIND."""
    name, message = STREAM_ERRORS[kind]
    return {"kind": name, "severity": "STREAM_ERROR_SEVERITY_ERROR", "message": message}
