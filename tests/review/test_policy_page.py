"""The policy in force is readable in the app, each ground with the policy's own words, and the review page links
each finding's grounds to it (issue 16: the policy text could not be read in the app)."""

from __future__ import annotations

from disclosure.policy.loader import default_policy
from tests.review.helpers import case_in_review


def test_the_policy_page_quotes_every_ground_in_the_policys_words(app, client, login_as):
    login_as("reviewer")
    page = client.get("/policy").get_data(as_text=True)
    policy = default_policy()
    assert f"In force: {policy.info.name}, {policy.info.version}" in page
    for ground in policy.grounds.values():
        assert f'id="ground-{ground.id.value}"' in page
        assert ground.clause.replace("’", "&#39;") in page or ground.clause in page
    assert "it is required to cooperate with interception orders, warrants, or other legal process" in page


def test_each_finding_links_its_grounds_to_the_policy(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert 'href="/policy#ground-legal_process">Read the ground in the policy:' in page


def test_an_upload_without_a_file_shows_the_page_with_the_error(app, client, login_as):
    from tests.conftest import csrf_from

    login_as("admin")
    token = csrf_from(client.get("/policy").get_data(as_text=True))
    response = client.post("/policy", data={"csrf_token": token})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Choose the policy file to upload." in body and "In force:" in body
