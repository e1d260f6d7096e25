"""The dashboard's queues say how many cases they hold and lead to all of them; producers see what is ready to
produce (issue 16: the queues stopped at "10+" with no way to see all, and there was no ready-to-produce queue)."""

from __future__ import annotations

import re

from disclosure.extensions import db
from tests.factories import make_case, make_user
from tests.production.helpers import approved_case


def queue_section(page: str, title: str) -> str:
    start = page.index(f">{title} <span")
    return page[start : page.find("</section>", start)]


def test_a_queue_of_twelve_says_twelve_and_see_all_lists_every_one(app, client, login_as):
    with app.app_context():
        clerk = make_user("intake")
        references = [make_case(logged_by=clerk).reference for _ in range(12)]  # all past due: overdue
    login_as("intake")
    dashboard = client.get("/").get_data(as_text=True)
    overdue = queue_section(dashboard, "Overdue")
    assert '<span class="badge badge-muted">12</span>' in overdue
    assert "10+" not in dashboard
    assert len(re.findall(r'href="/cases/DR-', overdue)) == 10
    link = re.search(r'<a href="(/cases/\?queue=overdue)">See all 12', overdue)
    assert link is not None
    listed = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "<h1>Overdue</h1>" in listed and "12 matching" in listed
    assert all(reference in listed for reference in references)


def test_a_short_queue_has_no_see_all_link(app, client, login_as):
    with app.app_context():
        make_case()
    login_as("intake")
    overdue = queue_section(client.get("/").get_data(as_text=True), "Overdue")
    assert '<span class="badge badge-muted">1</span>' in overdue and "See all" not in overdue


def test_an_unknown_queue_is_not_found(client, login_as):
    login_as("intake")
    assert client.get("/cases/?queue=everything").status_code == 404


def test_producers_see_approved_cases_ready_to_produce(app, client, login_as):
    with app.app_context():
        reference = approved_case()
        db.session.commit()
    login_as("producer")
    ready = queue_section(client.get("/").get_data(as_text=True), "Approved, ready to produce")
    assert reference in ready and '<span class="badge badge-muted">1</span>' in ready
