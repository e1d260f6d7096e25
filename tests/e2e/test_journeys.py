"""Journeys through the real pages in Chromium, asserting what a person would notice.

Issue 8 (journeys in a real browser) and issue 4's "done when" (an intake user logs a search warrant with
two targets, three categories, the warrant PDF and a 180-day non-disclosure order). The page fixture fails any
test whose pages log a console error (CSP violations included), throw, or get a 5xx.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import expect

from disclosure.policy.vocabulary import AuthorityKind, Category, ProcessType, ReceivedVia, Regime, TargetKind
from tests.browser_fixtures import CHROMIUM, FRAMER_PATH, LAUNCH_ARGS, BrowserProblems, LiveServer, watch
from tests.documents import pdf
from tests.e2e.pages import active_id, enter_code, expect_dashboard, sign_in, sign_out, tab_to_next
from tests.factories import make_case, make_user

pytestmark = pytest.mark.e2e

# Labels come from the vocabulary, so that renaming one for people does not break a journey.
CATEGORIES = (Category.SUBSCRIBER_BASIC, Category.ACCOUNT_RECORDS, Category.STORED_CONTENT)
RECEIVED_ON = date(2026, 11, 2)  # a Monday; DESIGN's example request
ORDER_DAYS = 180
# 10 business days on the US federal calendar from Monday 2 November 2026, skipping Veterans Day (11th).
DUE = "2026-11-17 23:59"
DUE_EXPLANATION = "10 business days after receipt on 2026-11-02 (US federal holidays skipped: 2026-11-11 Veterans Day)"


def heading(page: Any) -> Any:
    return page.get_by_role("heading", level=1)


def section(page: Any, title: str) -> Any:
    return page.locator("section.card").filter(has=page.get_by_role("heading", name=title, exact=True))


def confirm_the_example_date_once_it_is_old(page: Any, document: Path) -> None:
    """DESIGN's example request arrived on 2 November 2026. From February 2027 that is more than 90 days ago, and
    the form asks, as it would a person entering a backlog, to confirm the date and to choose the file again."""
    page.wait_for_load_state()
    confirm = page.get_by_label("Yes, it arrived more than 90 days ago")
    if date.today() - RECEIVED_ON < timedelta(days=89):
        expect(confirm).to_have_count(0)
        return
    if not confirm.count():  # the day it turns 90 days old, in some time zone
        return
    confirm.check()
    page.get_by_label("The legal process (PDF or scan)").set_input_files(document)
    page.get_by_role("button", name="Log request").click()


def test_intake_logs_a_search_warrant_with_two_targets_its_pdf_and_a_gag_order(
    page: Any, live_app: Flask, screenshots: Path, tmp_path: Path
) -> None:
    with live_app.app_context():
        clerk = make_user("intake")
    warrant = tmp_path / "warrant.pdf"
    warrant.write_bytes(pdf(pages=2))
    digest = hashlib.sha256(warrant.read_bytes()).hexdigest()
    order_expires = RECEIVED_ON + timedelta(days=ORDER_DAYS)

    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    page.get_by_role("link", name="Log a request").click()
    expect(heading(page)).to_have_text("Log a request")

    page.get_by_label("Kind of legal process").select_option(ProcessType.SEARCH_WARRANT.value)
    page.get_by_label("Issued by").select_option(AuthorityKind.JUDGE.value)
    page.get_by_label("Issuer's name").fill("Hon. A. Example, N.D. Cal.")
    page.get_by_label("Docket or case number").fill("5:26-mj-01234")
    page.get_by_label("Jurisdiction").select_option(Regime.US_FEDERAL.value)
    page.get_by_label("Country (two letters)", exact=True).fill("US")
    page.get_by_label("Requesting agency").fill("Federal Bureau of Investigation")
    page.get_by_label("Agency country (two letters)").fill("US")
    page.get_by_label("Officer", exact=True).fill("SA J. Doe")
    page.get_by_label("Badge").fill("1234")
    page.get_by_label("Officer email").fill("jdoe@example.gov")
    page.get_by_label("Received", exact=True).fill(f"{RECEIVED_ON.isoformat()}T14:05")
    page.get_by_label("Received by").select_option(ReceivedVia.EMAIL.value)
    # Target rows are addressed by their ids.
    page.locator("#targets-0-kind").select_option(TargetKind.EMAIL.value)
    page.locator("#targets-0-value").fill("user@example.net")
    page.locator("#targets-0-date_from").fill("2026-01-01")
    page.locator("#targets-0-date_to").fill("2026-06-30")
    page.locator("#targets-1-kind").select_option(TargetKind.IP.value)
    page.locator("#targets-1-value").fill("203.0.113.7")
    page.locator("#targets-1-date_from").fill("2026-03-01T10:15:00Z")
    for category in CATEGORIES:
        page.get_by_label(category.label, exact=True).check()
    page.get_by_label("Non-disclosure order: basis").fill("18 USC 2705(b)")
    page.get_by_label("Order starts").fill(RECEIVED_ON.isoformat())
    page.get_by_label("Order expires").fill(order_expires.isoformat())
    page.get_by_label("The legal process (PDF or scan)").set_input_files(warrant)
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(screenshots / "intake.png"), full_page=True)
    page.get_by_role("button", name="Log request").click()
    confirm_the_example_date_once_it_is_old(page, warrant)

    expect(page).to_have_url(re.compile(r"/cases/DR-2026-00001$"))
    expect(heading(page)).to_contain_text("DR-2026-00001")
    expect(page.get_by_role("status")).to_contain_text(f"Logged DR-2026-00001. Due {DUE} UTC.")
    facts = section(page, "The request")
    expect(facts).to_contain_text(ProcessType.SEARCH_WARRANT.label)
    expect(facts).to_contain_text("5:26-mj-01234")
    expect(facts).to_contain_text("Federal Bureau of Investigation (US)")
    expect(facts).to_contain_text(re.compile(r"2026-11-02 14:05 UTC by email", re.IGNORECASE))

    deadline = section(page, "Deadline")
    expect(deadline).to_contain_text(f"Due {DUE} UTC")
    expect(deadline).to_contain_text(f"How it was computed: {DUE_EXPLANATION}")

    targets = section(page, "Targets and requested data")
    email_row = targets.get_by_role("row").filter(has_text="user@example.net")
    expect(email_row).to_contain_text(TargetKind.EMAIL.label)
    expect(email_row).to_contain_text("2026-01-01")
    expect(email_row).to_contain_text("2026-06-30")
    ip_row = targets.get_by_role("row").filter(has_text="203.0.113.7")
    expect(ip_row).to_contain_text(TargetKind.IP.label)
    expect(ip_row).to_contain_text("2026-03-01T10:15:00Z")
    for category in CATEGORIES:
        expect(targets).to_contain_text(category.label)

    documents = section(page, "Documents")
    document_row = documents.get_by_role("row").filter(has_text="warrant.pdf")
    expect(document_row).to_contain_text("Legal process")
    expect(document_row).to_contain_text(digest)
    expect(document_row).to_contain_text(f"{len(warrant.read_bytes()):,} B")

    order = section(page, "Non-disclosure order")
    expect(order).to_contain_text("18 USC 2705(b)")
    expect(order.locator("dt:has-text('From') + dd")).to_have_text(RECEIVED_ON.isoformat())
    expect(order.locator("dt:has-text('Until') + dd")).to_have_text(order_expires.isoformat())
    assert order_expires == date(2027, 5, 1)

    timeline = section(page, "Timeline")
    expect(timeline).to_contain_text("Logged the request")  # who did what, by name, in words
    expect(timeline).to_contain_text("Attached warrant.pdf")
    page.screenshot(path=str(screenshots / "case.png"), full_page=True)

    # The document comes back as a download, byte for byte.
    with page.expect_download() as download_info:
        documents.get_by_role("link", name="warrant.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "warrant.pdf"
    assert hashlib.sha256(Path(download.path()).read_bytes()).hexdigest() == digest

    page.get_by_role("link", name="Dashboard").click()
    expect_dashboard(page)
    expect(page.get_by_role("link", name="DR-2026-00001").first).to_be_visible()
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)


FORM_FIELDS_IN_ORDER = """
    form => [...form.elements]
        .filter(e => e.tagName !== "FIELDSET" && e.type !== "hidden" && !e.disabled && e.tabIndex >= 0
                     && e.getClientRects().length > 0)
        .map(e => e.id)
"""


def _choose_by_keyboard(page: Any, value: str) -> None:
    """On the focused <select>, press ArrowDown/ArrowUp until the option with `value` is chosen."""
    index, current = page.evaluate(
        "v => [[...document.activeElement.options].findIndex(o => o.value === v),"
        " document.activeElement.selectedIndex]",
        value,
    )
    assert index >= 0, f"no option {value!r} in #{active_id(page)}"
    key = "ArrowDown" if index > current else "ArrowUp"
    for _ in range(abs(index - current)):
        page.keyboard.press(key)
    assert page.evaluate("document.activeElement.value") == value


def test_the_intake_form_can_be_completed_with_the_keyboard_alone(page: Any, live_app: Flask, tmp_path: Path) -> None:
    with live_app.app_context():
        clerk = make_user("intake")
    subpoena = tmp_path / "subpoena.pdf"
    subpoena.write_bytes(pdf())
    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    page.goto("/cases/new")
    expect(heading(page)).to_have_text("Log a request")
    assert active_id(page) == "process_type", "the first field should have focus when the form opens"

    def typed(text: str) -> Any:
        return lambda: page.keyboard.type(text)

    def chosen(value: str) -> Any:
        return lambda: _choose_by_keyboard(page, value)

    def pressed(key: str) -> Any:
        return lambda: page.keyboard.press(key)

    def date_and_time(date_digits: str, time_digits: str) -> Any:
        # en-US: month, day, year; ArrowRight moves on to the time, typed as 12-hour time with A or P.
        return lambda: (
            page.keyboard.type(date_digits),
            page.keyboard.press("ArrowRight"),
            page.keyboard.type(time_digits),
        )

    def attached() -> None:
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")  # a file input opens its chooser from the keyboard
        chooser.value.set_files(subpoena)

    # What the keyboard does in each field; every other field is passed over with Tab.
    actions: dict[str, Any] = {
        "process_type": chosen(ProcessType.SUBPOENA.value),
        "authority_kind": chosen(AuthorityKind.PROSECUTOR.value),
        "authority_name": typed("AUSA R. Roe, S.D.N.Y."),
        "docket": typed("GJ-2026-77"),
        "regime": chosen(Regime.US_FEDERAL.value),
        "country": typed("US"),
        "agency_name": typed("Drug Enforcement Administration"),
        "agency_country": typed("US"),
        "officer_name": typed("SA K. Poe"),
        "received_at": date_and_time("11022026", "0905A"),
        "received_via": chosen(ReceivedVia.FAX.value),
        "due_on": typed("11302026"),
        "targets-0-kind": chosen(TargetKind.EMAIL.value),
        "targets-0-value": typed("someone@example.net"),
        "categories-0": pressed("Space"),
        "legal_process": attached,
        "summary": typed("Faxed in; original to follow by post."),
        "submit": pressed("Enter"),
    }
    # Tab must visit every field in the order the form shows them (no trap, no jump), ending at the button.
    order = page.locator("form[action$='/cases/new']").evaluate(FORM_FIELDS_IN_ORDER)
    assert order[0] == "process_type" and order[-1] == "submit", order
    assert set(actions) <= set(order), set(actions) - set(order)
    for number, field_id in enumerate(order):
        if number:
            assert tab_to_next(page) == field_id, f"Tab should move on to #{field_id}"
        if field_id in actions:
            actions[field_id]()
    confirm_the_example_date_once_it_is_old(page, subpoena)

    expect(page).to_have_url(re.compile(r"/cases/DR-2026-00001$"))
    expect(heading(page)).to_contain_text("DR-2026-00001")
    expect(page.get_by_role("status")).to_contain_text("Logged DR-2026-00001. Due 2026-11-30 23:59 UTC.")
    facts = section(page, "The request")
    expect(facts).to_contain_text(ProcessType.SUBPOENA.label)
    expect(facts).to_contain_text("AUSA R. Roe, S.D.N.Y.")
    expect(facts).to_contain_text(re.compile(r"2026-11-02 09:05 UTC by fax", re.IGNORECASE))
    expect(section(page, "Deadline")).to_contain_text("due date stated on the document: 2026-11-30")
    expect(section(page, "Targets and requested data")).to_contain_text("someone@example.net")
    expect(section(page, "Targets and requested data")).to_contain_text(Category.SUBSCRIBER_BASIC.label)
    expect(section(page, "Documents")).to_contain_text("subpoena.pdf")


def test_sign_in_with_a_second_factor_from_enrolment_to_a_second_sign_in(page: Any, live_app: Flask) -> None:
    with live_app.app_context():
        reviewer = make_user("reviewer", second_factor=False)

    sign_in(page, reviewer.email, reviewer.password)
    expect(page).to_have_url(re.compile(r"/sign-in/code$"))
    expect(heading(page)).to_have_text("Set up your second factor")
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code image did not load"
    secret = page.get_by_text("Cannot scan?").locator(".mono").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    first_code = pyotp.TOTP(secret).now()
    enter_code(page, first_code)
    expect_dashboard(page)
    expect(page.locator("dt:has-text('Second factor') + dd")).to_have_text("set up")
    sign_out(page)

    sign_in(page, reviewer.email, reviewer.password)
    expect(heading(page)).to_have_text("Enter your code")
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_have_count(0)
    enter_code(page, first_code)  # a code works once
    expect(page.get_by_text("That code is not valid.")).to_be_visible()
    code_field = page.get_by_label("Six-digit code from your authenticator app")
    expect(code_field).to_have_attribute("aria-invalid", "true")
    enter_code(page, pyotp.TOTP(secret).at(time.time() + 30))
    expect_dashboard(page)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_the_back_button_after_sign_out_shows_no_case_data(page_with_back_forward_cache: Any, live_app: Flask) -> None:
    # The back/forward cache is on here, as in people's browsers: without `Cache-Control: no-store` Chromium
    # would show the case again from it, with no request to the server.
    page = page_with_back_forward_cache
    with live_app.app_context():
        clerk = make_user("intake")
        reference = make_case(logged_by=clerk).reference
    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    response = page.goto(f"/cases/{reference}")
    assert response is not None and response.status == 200
    assert response.headers["cache-control"] == "no-store"
    expect(heading(page)).to_contain_text(reference)
    expect(page.get_by_text("user@example.net")).to_be_visible()

    sign_out(page)
    page.go_back(wait_until="commit")  # a page restored from the cache fires no load event
    # The server was asked again, and sent the signed-out person to sign in (not the page left a moment ago).
    expect(page).to_have_url(re.compile(rf"/sign-in\?next=(/|%2F)cases(/|%2F){reference}$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    body = page.locator("body").inner_text()
    assert reference not in body and "user@example.net" not in body and "5:26-mj-01234" not in body


@pytest.mark.parametrize("framer", ["same origin", "another site"])
def test_pages_refuse_to_be_framed(
    page: Any, live_server: LiveServer, browser_problems: BrowserProblems, framer: str
) -> None:
    response = page.goto("/sign-in")
    assert response is not None
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    target = f"{live_server.url}/sign-in"
    if framer == "same origin":
        # A page of the app's own origin, made up by the browser (the app serves no such page).
        framer_url = f"{live_server.url}/e2e-framer"
        framer_html = f'<!doctype html><title>framer</title><iframe src="{target}"></iframe>'
        page.route(framer_url, lambda route: route.fulfill(content_type="text/html", body=framer_html))
    else:
        # Another site, on the loopback address too (http://localhost, answered by the test server, never the
        # app), so that the app's headers, not the browser's private-network rules, are what refuse the frame.
        port = live_server.url.rsplit(":", 1)[1]
        framer_url = f"http://localhost:{port}{FRAMER_PATH}?{urlencode({'src': target})}"
    browser_problems.expect(
        r"violates the following Content Security Policy directive: "
        r"\"frame-ancestors 'none'\""
    )
    with page.expect_response(target) as framed:
        page.goto(framer_url)
    assert framed.value.status == 200, "the app answers; it is the browser that must refuse to show the page"
    assert framed.value.headers["x-frame-options"] == "DENY"
    expect(page.locator("iframe")).to_have_count(1)
    inside = page.frame_locator("iframe")
    expect(inside.get_by_role("heading", name="Sign in")).to_have_count(0)
    expect(inside.locator("form")).to_have_count(0)
    frame = page.frames[1]
    assert not frame.url.startswith(live_server.url), f"the frame shows the app: {frame.url}"


def test_target_rows_have_distinct_accessible_names(page: Any, live_app: Flask) -> None:
    with live_app.app_context():
        clerk = make_user("intake")
    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    page.goto("/cases/new")
    expect(heading(page)).to_have_text("Log a request")
    names = {
        part: [page.locator(f"#targets-{row}-{part}").get_attribute("aria-label") for row in range(4)]
        for part in ("kind", "value", "date_from", "date_to")
    }
    assert names == {
        part: [f"{label} (row {row})" for row in range(1, 5)]
        for part, label in (("kind", "Kind"), ("value", "Identifier"), ("date_from", "From"), ("date_to", "To"))
    }


def test_pages_name_an_icon_so_the_browser_asks_for_no_missing_favicon(
    browser: Any, live_server: LiveServer, live_app: Flask
) -> None:
    # A browser of its own: Chromium asks for a missing icon once per browser, not once per context.
    fresh = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
    try:
        problems = BrowserProblems()
        page = watch(fresh.new_page(base_url=live_server.url), problems, tolerate=[])
        page.goto("/sign-in")
        page.wait_for_load_state("networkidle")
        assert not problems.seen, problems.seen
    finally:
        fresh.close()


def test_the_dashboard_shows_each_queued_case_due_date_without_scrolling_sideways(page: Any, live_app: Flask) -> None:
    with live_app.app_context():
        clerk = make_user("intake")
        make_case(logged_by=clerk)
    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    queue = page.locator("section.card").filter(has=page.get_by_role("heading", name=re.compile("^Overdue")))
    due = queue.get_by_role("row").filter(has_text="DR-2026-00001").get_by_role("cell").nth(4)
    expect(due).to_contain_text(DUE)
    frame, cell = queue.locator(".table-wrap").bounding_box(), due.bounding_box()
    assert frame is not None and cell is not None
    assert cell["x"] + cell["width"] <= frame["x"] + frame["width"], "the due date is cut off"


def test_overdue_and_emergency_rows_keep_their_colour_on_striped_rows(page: Any, live_app: Flask) -> None:
    """The striping painted every second row over, hiding whether it was overdue or an emergency."""
    with live_app.app_context():
        clerk = make_user("intake")
        for _ in range(2):
            make_case(logged_by=clerk, emergency=True)
    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    queue = page.locator("section.card").filter(has=page.get_by_role("heading", name=re.compile("^Emergencies")))
    rows = queue.locator("tbody tr")
    expect(rows).to_have_count(2)
    colours = [row.evaluate("row => getComputedStyle(row).backgroundColor") for row in rows.all()]
    striped = page.evaluate(
        "() => { const t = document.createElement('table'); t.className = 'data';"
        " t.innerHTML = '<tbody><tr><td>a</td></tr><tr><td>b</td></tr></tbody>'; document.body.append(t);"
        " const c = getComputedStyle(t.rows[1]).backgroundColor; t.remove(); return c; }"
    )
    assert colours[0] == colours[1], colours
    assert colours[1] != striped, "the second emergency row shows the plain stripe"
