"""Structured output asked for in the prompt: the web app has no JSON mode or schema enforcement."""

from __future__ import annotations

import json
from typing import Any


def json_format_prompt(fmt: dict[str, Any]) -> str:
    """The system text that asks for a JSON answer: `{"type": "json_schema", "schema": {…}}` or
    `{"type": "json_object"}`. One line, so it stays one paragraph of the flattened prompt."""
    if fmt["type"] == "json_schema":
        schema = json.dumps(fmt["schema"], ensure_ascii=False, separators=(",", ":"))
        return ("Answer with only a JSON value that matches this JSON schema, with no code fence and "
                f"no other text: {schema}")
    return "Answer with only a JSON object, with no code fence and no other text."
