"""The streaming tag filter, split at every position."""

from __future__ import annotations

import pytest

from grok2api.api.tagfilter import MAX_TAG, TagFilter

TAGS = ["xaiartifact", "xai:tool_usage_card", "grok:render"]


def run(chunks: list[str], tags: list[str] = TAGS) -> str:
    f = TagFilter(tags)
    return "".join(f.feed(c) for c in chunks) + f.flush()


CASES = [
    ('Slow start.<grok:render card_id="k9" card_type="citation_card" type="render_inline_citation">'
     '<argument name="citation_id">0</argument></grok:render> Done.', "Slow start. Done."),
    ("<GROK:RENDER type='x'>gone</Grok:Render>kept", "kept"),
    ('a<grok:render card_id="x"/>b', "ab"),
    ('a<grok:render card_id="x" />b', "ab"),
    ("<grok:render>a<grok:render>b</grok:render>c</grok:render>d", "d"),
    ("<grok:render>a<grok:render/>c</grok:render>d", "d"),
    ('<grok:render title="a>b" alt=\'c>d\'>x</grok:render>y', "y"),
    ("<grok:renderer>keep</grok:renderer>", "<grok:renderer>keep</grok:renderer>"),
    ("<b>bold</b> a < b and c<d", "<b>bold</b> a < b and c<d"),
    ('<xaiArtifact artifact_id="1" title="a.py" contentType="text/python">print(1)</xaiArtifact>!',
     "print(1)!"),
    ("x<xai:tool_usage_card><xai:tool_usage_card_id>tc1</xai:tool_usage_card_id>"
     "<xai:tool_name>web_search</xai:tool_name><xai:tool_args><![CDATA[{\"q\":\"a<b\"}]]>"
     "</xai:tool_args></xai:tool_usage_card>y", "xy"),
    ("stray </grok:render>close", "stray close"),
    ("ends with <", "ends with <"),
    ("ends with <gro", "ends with <gro"),
    ("cut <grok:render card", "cut "),
    ("cut <grok:render", "cut "),
    ("open <grok:render>never closed", "open "),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_whole_and_every_split(text: str, expected: str) -> None:
    assert run([text]) == expected
    assert run(list(text)) == expected  # one character at a time
    for i in range(len(text) + 1):
        assert run([text[:i], text[i:]]) == expected, f"split at {i}"


def test_every_pair_of_split_points() -> None:
    text, expected = CASES[0]
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            assert run([text[:i], text[i:j], text[j:]]) == expected, (i, j)


def test_plain_text_is_not_held_back() -> None:
    f = TagFilter(TAGS)
    assert f.feed("hello ") == "hello "
    assert f.feed("a<b") == "a<b"  # "<b" cannot start a filtered tag
    assert f.feed("x <") == "x "  # "<" alone might
    assert f.feed("p>") == "<p>"


def test_no_tags_configured_passes_everything() -> None:
    assert run(["<grok:render>x</grok:render>"], tags=[]) == "<grok:render>x</grok:render>"


def test_an_endless_tag_is_bounded() -> None:
    f = TagFilter(TAGS)
    out = f.feed("<grok:render " + "a" * 100)
    for _ in range(MAX_TAG // 100 + 5):
        out += f.feed("a" * 100)
    assert len(f._buf) <= MAX_TAG + 100
    assert out.startswith("<grok:render ")  # given up on: it was never a tag


def test_skipped_content_is_not_buffered() -> None:
    f = TagFilter(TAGS)
    f.feed("<grok:render>")
    for _ in range(1000):
        assert f.feed("x" * 100) == ""
    assert len(f._buf) == 0
    assert f.feed("</grok:render>after") == "after"
