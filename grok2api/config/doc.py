"""Renders the configuration reference (README) from the commented defaults file, so they cannot drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import paths

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
_KEY = re.compile(r"^([a-z_]+)\s*=\s*(.+)$")
_SECTION = re.compile(r"^\[([a-z]+)\]$")


def parse_commented_defaults(text: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """[(section, [(key, default as written, description)])] in file order."""
    sections: list[tuple[str, list[tuple[str, str, str]]]] = []
    comment: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if m := _SECTION.match(line):
            sections.append((m.group(1), []))
            comment = []
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        elif (m := _KEY.match(line)) and sections:
            sections[-1][1].append((m.group(1), m.group(2), " ".join(comment)))
            comment = []
        elif not line:
            comment = []
    return sections


def render_reference(text: str | None = None) -> str:
    text = paths.defaults_config().read_text(encoding="utf-8") if text is None else text
    out = [START, ""]
    for section, keys in parse_commented_defaults(text):
        out.append(f"#### `[{section}]`")
        out.append("")
        out.append("| Key | Default | Meaning |")
        out.append("| :-- | :-- | :-- |")
        for key, default, doc in keys:
            shown, meaning = default.replace("|", r"\|"), doc.replace("|", r"\|")
            out.append(f"| `{key}` | `{shown}` | {meaning} |")
        out.append("")
    out.append(END)
    return "\n".join(out)


def update_readme(readme: Path) -> bool:
    """Rewrite the block between the markers; True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(START), text.index(END) + len(END)
    new = text[:start] + render_reference() + text[end:]
    if new != text:
        readme.write_text(new, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":  # python -m grok2api.config.doc README.md
    import sys

    changed = update_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
    print(json.dumps({"changed": changed}))
