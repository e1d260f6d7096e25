"""Any number of target rows, without script (issue 16, targets): "Add another target" posts the form back with one
more blank row, never in place of the main button when Enter is pressed; a case takes seven targets at intake and on
Edit facts; past the form's bound the page says so beside the button. The script that adds rows in the page is a
file, as the CSP requires.

On main before this change the intake form had four rows and no way to add one, and Edit facts had no target rows.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import select

from disclosure.cases.models import Case
from disclosure.extensions import db
from tests.cases.page_forms import edit_form, form_values
from tests.cases.test_edit_all_facts import REASON, updates
from tests.cases.test_intake import intake_form
from tests.cases.test_intake_particulars import field_errors
from tests.conftest import csrf_from
from tests.documents import pdf
from tests.factories import make_case

#: The most targets a form takes where the server does not count the post's parts (Edit facts).
MAX_TARGETS = 200
SEVEN = [("email", f"person{n}@example.net") for n in range(1, 5)] + [
    ("ip", "203.0.113.7"),
    ("username", "alice"),
    ("domain", "example.org"),
]


def rows_on(html: str) -> list[int]:
    """The target row numbers a page shows (from its controls' names)."""
    return sorted({int(n) for n in re.findall(r'name="targets-(\d+)-kind"', html)})


def with_targets(data: dict[str, Any], targets: list[tuple[str, str]]) -> dict[str, Any]:
    out = {name: value for name, value in data.items() if not name.startswith("targets-")}
    for row, (kind, value) in enumerate(targets):
        out.update({f"targets-{row}-kind": kind, f"targets-{row}-value": value})
        out.update({f"targets-{row}-date_from": "2026-01-01", f"targets-{row}-date_to": "2026-06-30"})
    return out


def post_intake(client, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    """As a browser sends the intake form: multipart, with the document attached."""
    return client.post(
        "/cases/new",
        data={**data, "legal_process": (io.BytesIO(pdf()), "warrant.pdf")},
        content_type="multipart/form-data",
    )


def test_intake_takes_seven_targets_without_script(app, client, login_as):
    login_as("intake")
    page = client.get("/cases/new").get_data(as_text=True)
    assert rows_on(page) == [0, 1, 2, 3]
    data = intake_form(csrf_from(page), received_at="2026-11-02T09:05")
    for shown in (5, 6, 7):
        again = post_intake(client, {**form_values(page, "/cases/new"), **data, "add_target": "Add another target"})
        assert again.status_code == 200
        page = again.get_data(as_text=True)
        assert rows_on(page) == list(range(shown)), "each press adds one blank row and keeps the others"
        assert f"Row {shown} added." in page
        assert "The request was not logged" not in page  # adding a row is not a failed submit
        data = {name: value for name, value in data.items() if not name.startswith("targets-")}
    logged = post_intake(client, with_targets(data, SEVEN))
    assert logged.status_code == 302, logged.get_data(as_text=True)
    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        assert sorted((t.kind, t.value) for t in case.targets) == sorted(SEVEN)


def test_adding_a_row_says_the_chosen_file_must_be_chosen_again(app, client, login_as):
    login_as("intake")
    page = client.get("/cases/new").get_data(as_text=True)
    again = post_intake(client, {**intake_form(csrf_from(page)), "add_target": "Add another target"})
    assert again.status_code == 200
    assert (
        '<p class="help" id="legal_process-help">The file you chose (warrant.pdf) was not kept when the row was '
        "added: choose it again before you log the request.</p>"
    ) in again.get_data(as_text=True)


class SubmitButtons(HTMLParser):
    """The names of the submit buttons of the page's main form, in document order."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.names = action, False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = (a.get("action") or "").endswith(self.action)
        elif self.inside and tag in {"input", "button"} and (a.get("type") or "submit") == "submit":
            self.names.append(a.get("name") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def test_enter_presses_the_main_button_not_add_another_target(app, client, login_as):
    """A browser's implicit submission (Enter in a text box) presses the form's first submit button."""
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    for path in ("/cases/new", f"/cases/{reference}/edit"):
        buttons = SubmitButtons(path)
        buttons.feed(client.get(path).get_data(as_text=True))
        assert buttons.names[0] == "submit", (path, buttons.names)
        assert "add_target" in buttons.names


def test_edit_facts_takes_seven_targets_without_script(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    page = client.get(f"/cases/{reference}/edit").get_data(as_text=True)
    assert rows_on(page) == [0, 1, 2], "the case's one target and two blank rows"
    data = edit_form(client, reference, add_target="Add another target")
    again = client.post(f"/cases/{reference}/edit", data=data)
    assert again.status_code == 200 and rows_on(again.get_data(as_text=True)) == [0, 1, 2, 3]
    saved = client.post(
        f"/cases/{reference}/edit", data=with_targets(edit_form(client, reference, reason=REASON), SEVEN)
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        assert sorted((t.kind, t.value) for t in case.targets) == sorted(SEVEN)
    assert len(updates(app, reference)[-1]["diff"]["targets"]["to"]) == 7
    assert rows_on(client.get(f"/cases/{reference}/edit").get_data(as_text=True)) == list(range(9))


def test_more_targets_than_the_form_takes_are_refused_beside_the_button(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    many = [("email", f"person{n}@example.net") for n in range(MAX_TARGETS + 1)]
    response = client.post(
        f"/cases/{reference}/edit", data=with_targets(edit_form(client, reference, reason=REASON), many)
    )
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))["add_target"] == [
        f"This form takes at most {MAX_TARGETS} targets (there are {MAX_TARGETS + 1}). A longer list is imported "
        "from a file (`flask cases import` takes any number): attach the list to the case and ask an administrator."
    ]
    assert updates(app, reference) == []


def test_intake_stops_adding_rows_at_its_bound_and_says_why(app, client, login_as):
    """The intake form is a multipart post, whose parts the server counts: its bound keeps it under that count."""
    login_as("intake")
    page = client.get("/cases/new").get_data(as_text=True)
    bound = int(re.search(r'data-max-rows="(\d+)"', page).group(1))  # type: ignore[union-attr]
    assert 7 <= bound <= MAX_TARGETS
    full = with_targets(intake_form(csrf_from(page)), [("username", f"user{n}") for n in range(bound)])
    response = post_intake(client, {**full, "add_target": "Add another target"})
    assert response.status_code == 200, "the form at its bound is still accepted by the server"
    body = response.get_data(as_text=True)
    assert rows_on(body) == list(range(bound))
    message = field_errors(body)["add_target"][0]
    assert message.startswith(f"This form takes at most {bound} targets.")
    if bound < MAX_TARGETS:
        assert f"add the rest on its Edit facts page (up to {MAX_TARGETS})" in message


def test_the_row_script_is_a_file_the_csp_allows(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    for path in ("/cases/new", f"/cases/{reference}/edit"):
        page = client.get(path).get_data(as_text=True)
        assert '<script src="/static/js/targets.js" defer></script>' in page
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), "no inline script"
    script = client.get("/static/js/targets.js")
    assert script.status_code == 200 and b"add_target" in script.data


def test_a_half_filled_row_is_refused_in_words_not_in_the_parsers(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    half = {
        "targets-1-kind": "",
        "targets-1-value": "203.0.113.9",
        "targets-2-kind": "username",
        "targets-2-value": "",
    }
    for response in (
        post_intake(client, {**intake_form(csrf_from(client.get("/cases/new").get_data(as_text=True))), **half}),
        client.post(f"/cases/{reference}/edit", data=edit_form(client, reference, reason=REASON, **half)),
    ):
        assert response.status_code == 400
        summary = dict(re.findall(r'<li><a href="#([\w-]+)">[^<]*</a>: ([^<]*)</li>', response.get_data(as_text=True)))
        assert summary["targets-1-kind"] == "Choose what kind of identifier this is (email address, IP address, …)."
        assert summary["targets-2-value"] == "Give the identifier, or set the row&#39;s kind back to “—”."
