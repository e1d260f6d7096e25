"""What a browser sends for a form on a page: every named control's current value, as the page shows it."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from tests.conftest import csrf_from


class _FormReader(HTMLParser):
    """Reads the form whose action ends with `action`: text boxes, ticked boxes, chosen options, text areas."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("action", "").endswith(self.action)
        if not self.inside or (tag != "form" and "name" not in a and tag != "option"):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in {"submit", "button", "file", "reset", "image"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            self.values.append((a["name"], a.get("value", "on" if kind in {"checkbox", "radio"} else "")))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected] or [v for v, _ in self._options[:1]]
            self.values.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.values.append((self._textarea, self._text.replace("\r\n", "\n").removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data


def form_values(html: str, action: str) -> dict[str, Any]:
    """The form's values as a test client posts them (a list where a name repeats, e.g. ticked categories)."""
    reader = _FormReader(action)
    reader.feed(html)
    out: dict[str, Any] = {}
    for name, value in reader.values:
        if name in out:
            out[name] = [*out[name], value] if isinstance(out[name], list) else [out[name], value]
        else:
            out[name] = value
    out["csrf_token"] = csrf_from(html)
    return out


def edit_form(client: Any, reference: str, **overrides: Any) -> dict[str, Any]:
    """The Edit facts form as the page shows it, with `overrides` typed in (None: leave the box empty, unticked)."""
    page = client.get(f"/cases/{reference}/edit").get_data(as_text=True)
    values = form_values(page, f"/cases/{reference}/edit")
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}
