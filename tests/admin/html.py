"""Reading admin pages as parsed HTML (BeautifulSoup over the standard html.parser), not as text."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def one(root: BeautifulSoup | Tag, selector: str) -> Tag:
    """The single element matching a CSS selector; fails the test when there is none or several."""
    found = root.select(selector)
    assert len(found) == 1, f"{selector!r} matched {len(found)} elements"
    return found[0]


def text(el: BeautifulSoup | Tag) -> str:
    """The element's text with whitespace collapsed, as a reader sees it."""
    return " ".join(el.get_text(" ").split())


def attr(el: Tag, name: str) -> str:
    value = el.get(name)
    assert isinstance(value, str), f"<{el.name}> has no single {name!r} attribute"
    return value


def form_values(root: Tag) -> dict[str, str]:
    """What a browser submits for the fields under `root`: inputs (checkboxes only when checked),
    the selected option of each select, textareas; disabled fields are left out."""
    values: dict[str, str] = {}
    for field in root.select("input[name], select[name], textarea[name]"):
        if field.has_attr("disabled"):
            continue
        name = attr(field, "name")
        if field.name == "select":
            chosen = field.select_one("option[selected]") or field.select_one("option")
            values[name] = attr(chosen, "value") if chosen is not None else ""
        elif field.name == "textarea":
            values[name] = field.get_text()
        elif field.get("type") in ("checkbox", "radio"):
            if field.has_attr("checked"):
                values[name] = str(field.get("value", "on"))
        else:
            values[name] = str(field.get("value", ""))
    return values
