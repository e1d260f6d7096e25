"""Every field a person fills in says what to enter and why it matters (issue 16: "help for each field").

Every FlaskForm subclass defined under disclosure/ is found by importing every module, and built as its view builds
it. Each visible field (not a hidden field, the CSRF token or a button), the fields of repeated rows included, must
carry a `description`: one or two plain sentences, never an internal id. templates/_form.html shows it under the
field and points the field's aria-describedby at it. A few fields need no help, because their label says it all;
EXEMPT and EXEMPT_FORMS name each one and say why.

A template that draws fields by hand could still hide the help. So the pages are also read as served: every field
drawn on a page shows its help there, and a text box, list or file field points its aria-describedby at it.
"""

from __future__ import annotations

import html
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from wtforms import Field, FieldList, FormField

import disclosure
from tests.test_labels_everywhere import RAW

#: Fields no person fills in: row keys, the CSRF token, buttons.
NOT_FILLED_IN = {"HiddenField", "CSRFTokenField", "SubmitField"}

#: Fields that need no help, each with why (the form's module, class and the field's name; rows add the row's).
EXEMPT: dict[str, str] = {
    "disclosure.auth.forms.SignInForm.email": "signing in: everyone knows the address they sign in with",
    "disclosure.auth.forms.SignInForm.password": "signing in: the label says it all",
    "disclosure.auth.forms.SecondFactorForm.code": "its label says where the six digits come from",
    "disclosure.auth.forms.ChangePasswordForm.confirm": "the new password again: the field above it has the help",
}
#: Forms none of whose fields need help, each with why.
EXEMPT_FORMS: dict[str, str] = {
    "disclosure.cases.forms.CaseFilterForm": "the case list's filters: their labels are the help",
    "disclosure.audit.forms.AuditFilterForm": "the audit log's filters: their labels are the help",
    "disclosure.notifications.forms.preferences_form": "one choice per kind of notification: each legend names "
    "the event, and the page's opening paragraph says what the two choices mean",
}


def _preferences_form() -> FlaskForm:
    from disclosure.notifications.forms import preferences_form
    from disclosure.notifications.models import Delivery, NotificationKind

    return preferences_form(dict.fromkeys(NotificationKind, Delivery.IMMEDIATE))


#: Forms whose class is made when the page is drawn (not defined at a module's top level), and how the view makes it.
FACTORIES: dict[str, Callable[[], FlaskForm]] = {
    "disclosure.notifications.forms.preferences_form": _preferences_form,
}


def form_classes() -> dict[str, type[FlaskForm]]:
    """Every FlaskForm subclass defined at the top level of a module under disclosure/, by its dotted name."""
    found: dict[str, type[FlaskForm]] = {}
    for module_info in pkgutil.walk_packages(disclosure.__path__, "disclosure."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, FlaskForm) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def forms_to_check() -> dict[str, Callable[[], FlaskForm]]:
    """How to build each form, as its view does (none of the classes takes a constructor argument)."""
    return {**form_classes(), **FACTORIES}


def with_rows(form: FlaskForm) -> FlaskForm:
    """The form with at least one row in each list of rows (the review form's lists start empty)."""
    for field in form:
        if isinstance(field, FieldList) and not field.entries:
            field.append_entry()
    return form


def visible_fields(form: Any, prefix: str) -> Iterator[tuple[str, Field]]:
    """(name, field) for every field a person fills in: a list of rows itself and its first row's fields."""
    for field in form:
        if field.type in NOT_FILLED_IN:
            continue
        name = f"{prefix}.{field.short_name}"
        if isinstance(field, FormField):
            yield from visible_fields(field.form, name)
            continue
        yield name, field
        if isinstance(field, FieldList) and field.entries and isinstance(field.entries[0], FormField):
            yield from visible_fields(field.entries[0].form, name)


def helpless_fields(app: Flask) -> tuple[list[str], list[str]]:
    """(fields without help, help that shows an internal id or is no sentence), over every form checked."""
    missing: list[str] = []
    unfit: list[str] = []
    with app.test_request_context():
        for form_name, build in sorted(forms_to_check().items()):
            if form_name in EXEMPT_FORMS:
                continue
            for name, field in visible_fields(with_rows(build()), form_name):
                help_text = str(field.description or "").strip()
                if name in EXEMPT:
                    continue
                if not help_text:
                    missing.append(name)
                elif RAW.search(help_text) or not help_text.endswith("."):
                    unfit.append(f"{name}: {help_text}")
    return missing, unfit


def test_the_walk_finds_the_forms_people_fill_in() -> None:
    found = form_classes()
    for expected in (
        "disclosure.cases.forms.IntakeForm",
        "disclosure.cases.forms.EditCaseForm",
        "disclosure.review.forms.ReviewForm",
        "disclosure.production.views.DeliveryForm",
        "disclosure.cases.agency_views.ContactForm",
        "disclosure.auth.forms.UserCreateForm",
    ):
        assert expected in found
    assert len(found) >= 40, sorted(found)


def test_every_exemption_names_a_form_or_field_that_exists(app: Flask) -> None:
    known_forms = forms_to_check()
    assert set(EXEMPT_FORMS) <= set(known_forms), set(EXEMPT_FORMS) - set(known_forms)
    with app.test_request_context():
        known_fields = {
            name
            for form_name, build in known_forms.items()
            for name, _ in visible_fields(with_rows(build()), form_name)
        }
    assert set(EXEMPT) <= known_fields, set(EXEMPT) - known_fields
    assert all(reason.strip() for reason in [*EXEMPT.values(), *EXEMPT_FORMS.values()])


def test_every_visible_field_says_what_to_enter_and_why(app: Flask) -> None:
    missing, unfit = helpless_fields(app)
    assert not missing, f"{len(missing)} fields have no help (a `description`):\n  " + "\n  ".join(missing)
    assert not unfit, "help must be plain sentences, without internal ids:\n  " + "\n  ".join(unfit)


# --- the help as the pages show it ---------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
#: Controls whose help is read through aria-describedby (a radio or check box group is read by its legend).
DESCRIBED = {"select", "textarea", "text", "email", "password", "date", "datetime-local", "number", "file", "search"}


class Page(HTMLParser):
    """A page's controls by id (their tag, type and aria-describedby) and the text of every element with an id."""

    def __init__(self, body: str) -> None:
        super().__init__(convert_charrefs=True)
        self.controls: dict[str, dict[str, str]] = {}
        self.texts: dict[str, list[str]] = {}
        self.words: list[str] = []
        self.open: list[tuple[str, str | None]] = []
        self.feed(body)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        element_id = found.get("id")
        if tag in {"input", "select", "textarea"} and element_id:
            self.controls[element_id] = {"tag": tag, **found}
        if tag in VOID:
            return
        self.open.append((tag, element_id))
        if element_id:
            self.texts.setdefault(element_id, [])

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            opened, _ = self.open.pop()
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        self.words.append(data)
        for _, element_id in self.open:
            if element_id:
                self.texts[element_id].append(data)

    def text_of(self, element_id: str) -> str:
        return squeeze(" ".join(self.texts.get(element_id, [])))

    @property
    def text(self) -> str:
        return squeeze(" ".join(self.words))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def help_problems(
    body: str, form: FlaskForm, form_name: str, ids: dict[str, str] | None = None, seen: list[str] | None = None
) -> list[str]:
    """What is wrong with the help of `form`'s fields drawn on this page (`ids` names hand-drawn fields' ids); the
    fields found on the page are added to `seen`."""
    page, problems = Page(body), []
    for name, field in visible_fields(with_rows(form), form_name):
        help_text = squeeze(str(field.description or ""))
        if name in EXEMPT or form_name in EXEMPT_FORMS or not help_text or isinstance(field, FieldList):
            continue
        field_id = (ids or {}).get(field.id, field.id)
        drawn = [i for i in page.controls if i == field_id or re.fullmatch(rf"{re.escape(field_id)}-\d+", i)]
        if not drawn:
            continue  # not on this page (a tick asked for only after a mistake, counsel's note, …)
        if seen is not None:
            seen.append(name)
        if help_text not in page.text:
            problems.append(f"{name}: its help is not on the page")
            continue
        control = page.controls[drawn[0]]
        if control["tag"] != "input" or control.get("type", "text") in DESCRIBED:
            described = " ".join(page.text_of(i) for i in control.get("aria-describedby", "").split())
            if help_text not in described:
                problems.append(f"{name}: #{drawn[0]} is not described by its help")
    lists = [f for f in with_rows(form) if isinstance(f, FieldList) and f.description and f.entries]
    for field in lists:
        row_ids = [sub.id for sub in field.entries[0].form] if isinstance(field.entries[0], FormField) else []
        if any(i in page.controls for i in row_ids) and squeeze(field.description) not in page.text:
            problems.append(f"{form_name}.{field.short_name}: the rows' help is not on the page")
    return problems


def signed_in(app: Flask, login_as: Any, *roles: str) -> FlaskClient:
    client = app.test_client()
    login_as(*roles, client_=client)
    return client


def page_of(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


Check = tuple[str, str, Callable[[], FlaskForm], dict[str, str]]


def check_pages(app: Flask, checks: list[Check]) -> None:
    """Each (page, form name, how to build the form, hand-drawn ids) check, the pages fetched beforehand (a
    request made inside a request context would share its `g`, and with it the signed-in user)."""
    problems: list[str] = []
    seen: list[str] = []
    with app.test_request_context():
        for body, form_name, build, ids in checks:
            found = len(seen)
            problems += help_problems(body, build(), form_name, ids, seen)
            if len(seen) == found:
                problems.append(f"{form_name}: none of its fields is on the page")
    assert not problems, "\n".join(problems)


@pytest.mark.backends("sqlite")
def test_the_case_and_agency_pages_show_each_fields_help(app: Flask, login_as: Any) -> None:
    from sqlalchemy import select

    from disclosure.cases import agency_views as agencies
    from disclosure.cases import forms
    from disclosure.cases.models import Agency
    from disclosure.extensions import db
    from tests.agencies.helpers import actor, make_agency, verified_agency
    from tests.factories import make_case, make_user
    from tests.review.helpers import case_in_review

    with app.app_context():
        reference = case_in_review()  # with a non-disclosure order: the page offers to renew it
        without_order = make_case(non_disclosure_order=None).reference
        verified = verified_agency("Drug Enforcement Administration")
        duplicate = make_agency("Drug Enforcement Admin.")
        agencies.service.add_contact(actor(make_user("intake")), duplicate, "phone", "+1 202 307 1000", None)
        db.session.commit()
        agency_ids = (verified.id, duplicate.id)
        contacts = {a.id: [c.id for c in a.contacts] for a in db.session.execute(select(Agency)).scalars()}
    intake = signed_in(app, login_as, "intake")
    admin = signed_in(app, login_as, "admin")
    case_page = page_of(intake, f"/cases/{reference}")
    new_order = page_of(intake, f"/cases/{without_order}")
    checks: list[Check] = [
        (page_of(intake, "/cases/new"), "IntakeForm", forms.IntakeForm, {}),
        (page_of(intake, f"/cases/{reference}/edit"), "EditCaseForm", forms.EditCaseForm, {}),
        (case_page, "UploadForm", forms.UploadForm, {}),
        (case_page, "RenewGagOrderForm", forms.RenewGagOrderForm, {}),
        (new_order, "GagOrderForm", forms.GagOrderForm, {}),
        (case_page, "AssignForm", forms.AssignForm, {}),
        (case_page, "CommentForm", forms.CommentForm, {}),
        (page_of(intake, "/agencies/new"), "NewAgencyForm", agencies.NewAgencyForm, {}),
        (page_of(intake, f"/agencies/{agency_ids[0]}/edit"), "AgencyForm", agencies.AgencyForm, {}),
    ]
    merge = page_of(admin, f"/agencies/{agency_ids[1]}/merge?into={agency_ids[0]}")
    assert 'name="confirm"' in merge
    checks.append((merge, "MergeForm", agencies.MergeForm, {}))
    # Intake on an unverified agency with a channel to verify; an administrator on a verified one.
    pages = ((intake, agency_ids[1], [agencies.VerifyForm]), (admin, agency_ids[0], [agencies.WithdrawForm]))
    for client, agency_id, own in pages:
        agency_page = page_of(client, f"/agencies/{agency_id}")
        for form in (agencies.ContactForm, agencies.AliasForm, agencies.DomainForm, agencies.RetireForm, *own):
            prefixed = form in (agencies.VerifyForm, agencies.RetireForm)
            for contact in contacts[agency_id] if prefixed else [None]:
                prefix = f"{'verify' if form is agencies.VerifyForm else 'retire'}-{contact}" if prefixed else ""
                checks.append((agency_page, form.__name__, lambda f=form, p=prefix: f(prefix=p), {}))
    check_pages(app, checks)


@pytest.mark.backends("sqlite")
def test_the_review_production_and_administration_pages_show_each_fields_help(app: Flask, login_as: Any) -> None:
    from disclosure.audit.views import AuditorBundleForm
    from disclosure.auth import forms as auth_forms
    from disclosure.auth import pending
    from disclosure.auth.models import User
    from disclosure.auth.pending_forms import DecideChangeForm
    from disclosure.extensions import db
    from disclosure.production import views as production
    from disclosure.review.forms import PolicyUploadForm, ReviewForm
    from tests.conftest import sign_in
    from tests.factories import PASSWORD, make_user
    from tests.production.helpers import approved_case, build_through_the_page
    from tests.production.test_records import add
    from tests.review.helpers import case_in_review

    with app.app_context():
        reviewer = make_user("reviewer")
        in_review = case_in_review(reviewer)
        approved = approved_case(("stored_content",))
        someone = make_user("intake")
        # Another administrator asks for a reviewer: the change waits for this one's approval.
        other = db.session.get(User, make_user("admin").id)
        _, change = pending.create_user(other, "new.reviewer@example.org", "New Reviewer", ["reviewer"], PASSWORD, None)
        db.session.commit()
        assert change is not None
        approve_id = f"approve-password-{change.id}"
    reviewing = app.test_client()
    sign_in(reviewing, reviewer.email, reviewer.password, reviewer.totp_secret)
    checks: list[Check] = [(page_of(reviewing, f"/cases/{in_review}/review"), "ReviewForm", ReviewForm, {})]

    producer = signed_in(app, login_as, "producer")
    checks.append((page_of(producer, f"/cases/{approved}/production"), "RecordForm", production.RecordForm, {}))
    assert add(producer, approved, "user@example.net", "stored_content").status_code == 302
    build_through_the_page(app, producer, approved, passphrase_only="y")
    producing = page_of(producer, f"/cases/{approved}/production")
    assert "Mark delivered" in producing and 'name="passphrase_only"' in producing
    checks += [(producing, form.__name__, form, {}) for form in (production.BuildForm, production.DeliveryForm)]

    admin = signed_in(app, login_as, "admin")
    user_page = page_of(admin, f"/admin/users/{someone.id}")
    checks += [
        (page_of(admin, "/admin/users/new"), "UserCreateForm", auth_forms.UserCreateForm, {}),
        (user_page, "UserRolesForm", auth_forms.UserRolesForm, {}),
        (user_page, "TemporaryPasswordForm", auth_forms.TemporaryPasswordForm, {}),
        (page_of(admin, "/policy"), "PolicyUploadForm", PolicyUploadForm, {}),
        (page_of(admin, "/agencies/1/certificates"), "CertificateForm", production.CertificateForm, {}),
        (page_of(admin, "/admin/changes"), "DecideChangeForm", DecideChangeForm, {"password": approve_id}),
        (page_of(admin, "/account"), "AccountSettingsForm", auth_forms.AccountSettingsForm, {}),
        (page_of(admin, "/account/password"), "ChangePasswordForm", auth_forms.ChangePasswordForm, {}),
    ]
    auditor = signed_in(app, login_as, "auditor")
    bundle_ids = {"start": "bundle-start", "end": "bundle-end"}
    checks.append((page_of(auditor, "/audit/"), "AuditorBundleForm", AuditorBundleForm, bundle_ids))
    check_pages(app, checks)
