"""Case pages: log a request, the list and search, the case page, edit, workflow actions, documents, gag orders."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.audit.service import record
from disclosure.auth.access import client_ip, requires
from disclosure.auth.models import User
from disclosure.cases import comments, fact_pages, queries, search, service
from disclosure.cases.documents import type_note
from disclosure.cases.downloads import attachment_response
from disclosure.cases.fact_pages import posted_version
from disclosure.cases.forms import (
    ActionForm,
    AssignForm,
    BulkForm,
    CaseFilterForm,
    CommentForm,
    GagOrderForm,
    RenewGagOrderForm,
    UploadForm,
)
from disclosure.cases.lifecycle import actions_for
from disclosure.cases.models import Case, Document
from disclosure.clock import utcnow
from disclosure.csv_export import csv_bytes
from disclosure.extensions import db
from disclosure.permissions import Permission, may_review
from disclosure.presentation import category_label, document_kind, event_sentence, process_label, target_kind_label
from disclosure.review.summary import decision_summary
from disclosure.storage.store import StorageError, store_for_app
from disclosure.unit_of_work import REFUSALS, attempt, message_for, status_for
from disclosure.workflow import DECISION_ACTIONS, Action

bp = Blueprint("cases", __name__, url_prefix="/cases")
bp.add_app_template_global(event_sentence, "event_sentence")
bp.add_app_template_global(document_kind, "document_kind")
bp.add_app_template_global(category_label, "category_label")
bp.add_app_template_global(target_kind_label, "target_kind_label")
bp.add_app_template_global(process_label, "process_label")


def case_or_404(reference: str) -> Case:
    """The case a page is about, by its reference; 404 when there is none."""
    return db.session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none() or abort(404)


def _listing() -> tuple[CaseFilterForm, queries.CaseFilter | None, Any, str]:
    """The case list's filters from the query string: the form, the criteria and the statement (None when a filter is
    refused, its message on the form), and the dashboard queue it is limited to, if any."""
    form = CaseFilterForm(request.args, meta={"csrf": False})
    form.agency.choices = [("", "Any agency")] + [(str(a.id), f"{a.name} ({a.country})") for a in queries.agencies()]
    queue = request.args.get("queue", "")
    if not form.validate():
        return form, None, None, queue
    criteria = queries.CaseFilter(
        state=form.state.data or None,
        process_type=form.process_type.data or None,
        agency_id=int(form.agency.data) if (form.agency.data or "").isdigit() else None,
        regime=form.regime.data or None,
        due_from=form.due_from.data,
        due_to=form.due_to.data,
        q=form.q.data or None,
        sort=form.sort.data or queries.DEFAULT_SORT,
    )
    within = queries.queue_statement(queue, current_user.id, utcnow()) if queue else None
    if queue and within is None:
        abort(404)
    return form, criteria, queries.filtered(criteria, within), queue


def _list_page(form: CaseFilterForm, status: int = 200, **shown: Any) -> Any:
    # The export and the bulk form carry the list's own filters only (never request.args as a whole).
    kept: dict[str, Any] = {
        name: request.args[name] for name in [*form._fields, "queue"] if name != "page" and request.args.get(name)
    }
    bulk_form = BulkForm(back=url_for("cases.index", **kept))
    bulk_form.assignee.choices = [("", "Choose…")] + [(str(u.id), u.name) for u in _reviewers()]
    return render_template(
        "cases/index.html",
        form=form,
        now=utcnow(),
        bulk_form=bulk_form,
        export_url=url_for("cases.export_csv", **kept),
        **{"cases": [], "total": 0, "page": 1, "pages": 1, "queue": "", "highlights": {}, **shown},
    ), status


@bp.route("/")
@requires(Permission.CASE_VIEW)
def index() -> Any:
    form, criteria, statement, queue = _listing()
    if criteria is None:
        return _list_page(form, 400)
    cases, total, pages = queries.page_of(statement, form.page.data or 1, criteria.sort, first=criteria.extra_order)
    highlights = {case.id: search.highlight(case, criteria.q) for case in cases} if criteria.q else {}
    return _list_page(
        form,
        cases=cases,
        total=total,
        page=min(max(1, form.page.data or 1), pages),
        pages=pages,
        queue=queue,
        queue_title=queries.QUEUE_TITLES.get(queue),
        highlights=highlights,
    )


@bp.route("/export.csv")
@requires(Permission.CASE_VIEW)
def export_csv() -> Any:
    """The cases the list's filters select, every one of them (not one page), as CSV; the export is audit-logged."""
    form, criteria, statement, _queue = _listing()
    if criteria is None:
        return _list_page(form, 400)
    try:
        with attempt():
            cases = queries.export_rows(statement, criteria)
            record(
                current_user,
                AuditAction.CASES_EXPORTED,
                subject="cases",
                ip=client_ip(),
                data={
                    "filters": {k: v for k, v in request.args.items() if k in form or k == "queue"},
                    "count": len(cases),
                },
            )
    except REFUSALS as error:
        form.form_errors.append(message_for(error))
        return _list_page(form, 400)
    header = [
        "Reference",
        "Process",
        "Agency",
        "Jurisdiction",
        "State",
        "Received (UTC)",
        "Due (UTC)",
        "Emergency",
        "Assigned to",
        "Docket",
    ]
    rows = (
        [
            case.reference,
            case.process.label,
            case.agency.name,
            case.labels["regime"],
            case.status.label,
            f"{case.received_at:%Y-%m-%d %H:%M}",
            f"{case.due_at:%Y-%m-%d %H:%M}",
            "yes" if case.emergency else "no",
            case.assigned_to.name if case.assigned_to else "",
            case.docket or "",
        ]
        for case in cases
    )
    data = csv_bytes(header, rows)
    response = attachment_response([data], f"cases-{utcnow():%Y-%m-%d}.csv", len(data))
    response.mimetype = "text/csv"
    return response


@bp.route("/bulk", methods=["POST"])
@requires(Permission.CASE_VIEW)
def bulk() -> Any:
    """Claim, assign or close the ticked cases, all or none: each case its own audit event; if any one is refused,
    nothing is changed and the page says, for each refused case, why."""
    form = BulkForm()
    assignees = {str(u.id): u for u in _reviewers()}
    form.assignee.choices = [("", "Choose…")] + [(key, user.name) for key, user in assignees.items()]
    back = form.back.data if _local(form.back.data) else url_for("cases.index")
    references = [r for r in dict.fromkeys(request.form.getlist("case")) if REFERENCE.fullmatch(r)]
    if not form.validate_on_submit() or not references:
        for message in [*form.action.errors, *form.assignee.errors] or ["Tick the cases to act on first."]:
            flash(message, "error")
        return redirect(back)
    refused: list[str] = []
    try:
        with attempt():
            for reference in references:
                case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
                try:
                    if case is None:
                        raise service.CaseError("there is no such case")
                    if form.action.data == "claim":
                        service.assign(current_user, case, current_user, None, client_ip())
                    elif form.action.data == "assign":
                        service.assign(current_user, case, assignees[form.assignee.data], None, client_ip())
                    else:
                        service.apply_action(current_user, case, Action.CLOSE, None, client_ip(), note="Closed in bulk")
                except REFUSALS as error:
                    refused.append(f"{reference}: {message_for(error)}")
            if refused:
                raise service.CaseError("refused")
    except REFUSALS:
        flash(
            f"Nothing was changed: {len(refused)} of the {len(references)} ticked cases could not be "
            f"{PAST[form.action.data].lower()}. Untick them, or deal with them first:",
            "error",
        )
        for line in refused:
            flash(line, "error")
        return redirect(back)
    count = len(references)
    flash(f"{PAST[form.action.data]} {count} case{'s' if count != 1 else ''}: {', '.join(references)}.", "success")
    return redirect(back)


PAST = {"claim": "Claimed", "assign": "Assigned", "close": "Closed"}


#: A case reference as the list's checkboxes send it.
REFERENCE = re.compile(r"[A-Z]{2,4}-\d{4}-\d{5,}")


def _local(path: str | None) -> bool:
    """A path on this site's case list (where the person came from), never another origin."""
    return bool(path) and str(path).startswith("/cases/") and "//" not in str(path) and "\\" not in str(path)


def _reviewers() -> list[User]:
    users = db.session.execute(select(User).where(User.active.is_(True)).order_by(User.name)).scalars()
    return [user for user in users if user.can(Permission.REVIEW_DECIDE)]


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.CASE_CREATE)
def create() -> Any:
    return fact_pages.intake_page()


def _timeline(case: Case) -> list[dict[str, Any]]:
    """The case's events, oldest first, each with who did it by name."""
    rows = db.session.execute(
        select(AuditEvent).where(AuditEvent.subject == case.subject).order_by(AuditEvent.seq)
    ).scalars()
    events = [{"row": row, "body": json.loads(row.body)} for row in rows]
    ids = {event["row"].actor_id for event in events if event["row"].actor_id is not None}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    for event in events:
        actor = event["body"].get("actor") or {}
        event["who"] = names.get(event["row"].actor_id) or actor.get("name") or actor.get("email") or "The system"
    return events


def _render_case(case: Case, **forms: Any) -> str:
    reviewers = db.session.execute(select(User).where(User.active.is_(True)).order_by(User.name)).scalars()
    assign_form = forms.pop("assign_form", None) or AssignForm(version=case.version_id)
    assign_form.assignee.choices = [("", "Nobody")] + [
        (str(u.id), u.name)
        for u in reviewers
        if u.can(Permission.REVIEW_DECIDE) and may_review(u.id, case.created_by_id)
    ]
    if not forms.get("_keep_assignee"):
        assign_form.assignee.data = str(case.assigned_to_id or "")
    forms.pop("_keep_assignee", None)
    return render_template(
        "cases/show.html",
        case=case,
        particulars=case.further_particulars,
        actions=actions_for(current_user, case),
        action_form=forms.pop("action_form", None) or ActionForm(version=case.version_id),
        assign_form=assign_form,
        upload_form=forms.pop("upload_form", None) or UploadForm(),
        gag_form=forms.pop("gag_form", None) or GagOrderForm(),
        renew_form=forms.pop("renew_form", None) or RenewGagOrderForm(),
        related=queries.related_cases(case),
        decision=decision_summary(case),
        threads=comments.threads_of(case),
        comment_form=forms.pop("comment_form", None) or CommentForm(),
        timeline=_timeline(case),
        today=utcnow().date(),
        now=utcnow(),
        Action=Action,
        DECISION_ACTIONS=DECISION_ACTIONS,
    )


@bp.route("/<reference>")
@requires(Permission.CASE_VIEW)
def show(reference: str) -> Any:
    return _render_case(case_or_404(reference))


@bp.route("/<reference>/edit", methods=["GET", "POST"])
@requires(Permission.CASE_EDIT)
def edit(reference: str) -> Any:
    return fact_pages.edit_page(case_or_404(reference))


@bp.route("/<reference>/action", methods=["POST"])
@requires(Permission.CASE_VIEW)
def act(reference: str) -> Any:
    """Workflow moves; the service checks the permission each action needs."""
    case = case_or_404(reference)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if form.action.data not in Action._value2member_map_:
        abort(400)
    try:
        with attempt():
            action, version = Action(form.action.data), posted_version(form.version.data)
            after = service.apply_action(current_user, case, action, version, client_ip(), form.note.data or "")
    except REFUSALS as error:
        flash(message_for(error), "error")
        status = status_for(error)
        return _render_case(case_or_404(reference)), 409 if status == 400 else status
    flash(f"{case.reference} is now {after.label.lower()}.", "success")
    return redirect(url_for("cases.show", reference=reference))


@bp.route("/<reference>/assign", methods=["POST"])
@requires(Permission.CASE_ASSIGN)
def assign(reference: str) -> Any:
    case = case_or_404(reference)
    form = AssignForm()
    form.assignee.choices = None  # validated by the service, not by a choice list
    form.assignee.validate_choice = False
    if not form.validate_on_submit():
        abort(400)
    raw = form.assignee.data or ""
    assignee = db.session.get(User, int(raw)) if raw.isdigit() else None
    if raw and assignee is None:
        abort(404)
    try:
        with attempt():
            service.assign(current_user, case, assignee, posted_version(form.version.data), client_ip())
    except REFUSALS as error:
        flash(message_for(error), "error")
        status = status_for(error)
        return _render_case(case_or_404(reference), assign_form=form, _keep_assignee=True), (
            409 if status == 400 else status
        )
    flash(f"Assigned to {assignee.name}." if assignee else "Unassigned.", "success")
    return redirect(url_for("cases.show", reference=reference))


@bp.route("/<reference>/claim", methods=["POST"])
@requires(Permission.REVIEW_DECIDE)
def claim(reference: str) -> Any:
    case = case_or_404(reference)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with attempt():
            service.assign(current_user, case, current_user, posted_version(form.version.data), client_ip())
    except REFUSALS as error:
        flash(message_for(error), "error")
        status = status_for(error)
        return _render_case(case_or_404(reference)), 409 if status == 400 else status
    flash(f"You have claimed {case.reference}.", "success")
    return redirect(url_for("cases.show", reference=reference))


@bp.route("/<reference>/comments", methods=["POST"])
@requires(Permission.CASE_COMMENT)
def comment(reference: str) -> Any:
    case = case_or_404(reference)
    form = CommentForm()
    if form.validate_on_submit():
        reply_to = form.reply_to.data or ""
        try:
            with attempt():
                comments.add_comment(
                    current_user, case, form.body.data or "", int(reply_to) if reply_to.isdigit() else None, client_ip()
                )
        except REFUSALS as error:
            form.body.errors = [message_for(error)]
        else:
            flash("Comment added.", "success")
            return redirect(url_for("cases.show", reference=reference, _anchor="comments"))
    return _render_case(case, comment_form=form), 400


@bp.route("/<reference>/documents", methods=["POST"])
@requires(Permission.DOCUMENT_UPLOAD)
def upload(reference: str) -> Any:
    case = case_or_404(reference)
    form = UploadForm()
    upload = form.file.data
    if form.validate_on_submit() and upload and upload.filename:
        try:
            with attempt():
                document = service.add_document(
                    current_user, case, form.kind.data, upload.read(), upload.filename, client_ip()
                )
        except REFUSALS as error:
            form.file.errors = [message_for(error)]
        else:
            flash(f"Uploaded {document.filename} (SHA-256 {document.sha256[:16]}…).", "success")
            if note := type_note(upload.filename, document.content_type, document.filename):
                flash(note, "info")
            return redirect(url_for("cases.show", reference=reference))
    elif form.validate_on_submit():
        form.file.errors = ["Choose a file to upload."]
    return _render_case(case, upload_form=form), 400


@bp.route("/<reference>/documents/<int:document_id>")
@requires(Permission.DOCUMENT_DOWNLOAD)
def download(reference: str, document_id: int) -> Response:
    case = case_or_404(reference)
    document = db.session.get(Document, document_id)
    if document is None or document.case_id != case.id:
        abort(404)
    store = store_for_app(current_app.config, current_app.instance_path)
    try:
        # open() authenticates the whole blob before handing out a byte, so only a sound file is logged as sent.
        chunks = store.open(document.blob_name)
    except StorageError:
        current_app.logger.error("document %s of %s failed its integrity check", document.id, case.reference)
        abort(500)
    service.record_download(current_user, document, client_ip())
    return attachment_response(chunks, document.filename, document.size)


@bp.route("/<reference>/gag-order", methods=["POST"])
@requires(Permission.CASE_EDIT)
def set_gag_order(reference: str) -> Any:
    case = case_or_404(reference)
    form = GagOrderForm()
    if form.validate_on_submit():
        try:
            with attempt():
                service.set_gag_order(
                    current_user,
                    case,
                    form.basis.data or "",
                    form.starts_on.data,
                    None if form.indefinite.data else form.expires_on.data,
                    client_ip(),
                )
        except REFUSALS as error:
            form.basis.errors = [message_for(error)]
        else:
            flash("Non-disclosure order recorded.", "success")
            return redirect(url_for("cases.show", reference=reference))
    return _render_case(case, gag_form=form), 400


@bp.route("/<reference>/gag-order/renew", methods=["POST"])
@requires(Permission.CASE_EDIT)
def renew_gag_order(reference: str) -> Any:
    case = case_or_404(reference)
    if case.gag_order is None:
        abort(404)
    form = RenewGagOrderForm()
    if form.validate_on_submit() and (form.indefinite.data or form.expires_on.data):
        try:
            with attempt():
                service.renew_gag_order(
                    current_user, case.gag_order, None if form.indefinite.data else form.expires_on.data, client_ip()
                )
        except REFUSALS as error:
            form.expires_on.errors = [message_for(error)]
        else:
            flash("Renewal recorded.", "success")
            return redirect(url_for("cases.show", reference=reference))
    elif request.method == "POST" and not form.errors:
        form.expires_on.errors = ["Give the new expiry date, or tick “Now indefinite”."]
    return _render_case(case, renew_form=form), 400


@bp.route("/<reference>/gag-order/customer-notified", methods=["POST"])
@requires(Permission.CASE_EDIT)
def customer_notified(reference: str) -> Any:
    case = case_or_404(reference)
    if case.gag_order is None or not ActionForm().validate_on_submit():
        abort(404 if case.gag_order is None else 400)
    try:
        with attempt():
            service.record_customer_notified(current_user, case.gag_order, utcnow().date(), client_ip())
    except REFUSALS as error:
        flash(message_for(error), "error")
        return _render_case(case_or_404(reference)), 409
    flash("Recorded that the customer was notified.", "success")
    return redirect(url_for("cases.show", reference=reference))
