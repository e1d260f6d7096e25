"""Search over cases with the database's own full-text index: "alice" finds alice@example.net, "bureau" finds the
Federal Bureau of Investigation's cases, a docket fragment finds its case.

Each case has one row in `case_search`: its searchable text (reference, docket, every target as written and in its
canonical form, the agency, the officer, the notes), lower-cased. PostgreSQL indexes it with a pg_trgm GIN index and
answers `doc LIKE '%term%'`, ranked by where the term first appears. SQLite keeps an FTS5 index with the trigram
tokenizer beside it (`case_search_fts`, external content: it reads the text from case_search) and answers a phrase
MATCH, ranked by bm25. Both find any substring of three characters or more; shorter terms match a reference, docket or
target exactly.

The rows follow the cases through one hook: whatever a flush changes in a case, its targets or its agency marks the
case, and `reindex()` rewrites its row (and, on SQLite, its FTS entry) in the same transaction before the commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    DDL,
    ForeignKey,
    Select,
    Text,
    delete,
    event,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from disclosure.cases.models import Agency, Case, CaseTarget
from disclosure.extensions import db

#: The shortest term the trigram indexes can find as a substring.
MIN_SUBSTRING = 3
#: How many matches a search ranks at most (the list pages through them).
MAX_MATCHES = 1000
FTS_TABLE = "case_search_fts"
#: FTS5's commands on its external-content index (the table name is a constant, never input).
FTS_FORGET = "INSERT INTO case_search_fts(case_search_fts, rowid, doc) VALUES ('delete', :id, :doc)"
FTS_ADD = "INSERT INTO case_search_fts(rowid, doc) VALUES (:case_id, :doc)"
FTS_FORGET_ALL = "INSERT INTO case_search_fts(case_search_fts) VALUES ('delete-all')"
FTS_MATCH = "case_search_fts MATCH :phrase"


class CaseSearch(db.Model):  # type: ignore[name-defined]
    """One row per case: the text a search looks in (derived data, rebuilt by `flask cases reindex`)."""

    __tablename__ = "case_search"

    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True)
    doc: Mapped[str] = mapped_column(Text)


#: The index beside case_search on each database (also created by migration 0018).
SQLITE_INDEX = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "doc, content='case_search', content_rowid='case_id', tokenize='trigram')"
)
POSTGRES_INDEX = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_case_search_doc_trgm ON case_search USING gin (doc gin_trgm_ops)",
)
event.listen(CaseSearch.__table__, "after_create", DDL(SQLITE_INDEX).execute_if(dialect="sqlite"))
for _statement in POSTGRES_INDEX:
    event.listen(CaseSearch.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
event.listen(CaseSearch.__table__, "before_drop", DDL(f"DROP TABLE IF EXISTS {FTS_TABLE}").execute_if(dialect="sqlite"))


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """For Alembic's schema comparison: the FTS5 index's own tables and the trigram index are created by DDL
    (above, and in migration 0018), not declared as models, so a comparison leaves them out."""
    if type_ == "table":
        return not (name or "").startswith(FTS_TABLE)
    if type_ == "index":
        return name != "ix_case_search_doc_trgm"
    return True


def document_of(case: Case) -> str:
    """The searchable text of a case, lower-cased, one field per line."""
    parts = [case.reference, case.docket or ""]
    for target in case.targets:
        parts.extend((target.value, target.normalized))
    if case.agency is not None:
        parts.append(case.agency.name)
    parts.extend((case.officer_name or "", case.officer_email or "", case.authority_name or "", case.summary or ""))
    return "\n".join(part for part in parts if part).lower()


def reindex(session: Session, case_ids: set[int]) -> None:
    """Rewrite the search rows (and on SQLite the FTS entries) of these cases from what the session holds now."""
    if not case_ids:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    old = dict(
        session.execute(select(CaseSearch.case_id, CaseSearch.doc).where(CaseSearch.case_id.in_(case_ids))).all()
    )
    if sqlite and old:
        for case_id, doc in old.items():  # an external-content FTS5 index forgets a row only when told its old text
            session.execute(
                text(FTS_FORGET),
                {"id": case_id, "doc": doc},
            )
    session.execute(delete(CaseSearch).where(CaseSearch.case_id.in_(case_ids)))
    cases = session.execute(select(Case).where(Case.id.in_(case_ids))).scalars().all()
    rows = [{"case_id": case.id, "doc": document_of(case)} for case in cases]
    if rows:
        session.execute(insert(CaseSearch), rows)
        if sqlite:
            session.execute(text(FTS_ADD), rows)


_DIRTY = "disclosure_search_dirty"


@event.listens_for(Session, "before_flush")
def _mark_changed_cases(session: Session, _context: Any, _instances: Any) -> None:
    dirty: set[int | Case] = session.info.setdefault(_DIRTY, set())
    for item in (*session.new, *session.dirty, *session.deleted):
        if isinstance(item, Case):
            dirty.add(item)
        elif isinstance(item, CaseTarget):
            dirty.add(item.case if item.case is not None else item.case_id)
        elif isinstance(item, Agency) and item.id is not None:
            dirty.update(session.execute(select(Case.id).where(Case.agency_id == item.id)).scalars())


@event.listens_for(Session, "after_flush_postexec")
def _reindex_changed_cases(session: Session, _context: Any) -> None:
    marked = session.info.pop(_DIRTY, set())
    ids = {item.id if isinstance(item, Case) else item for item in marked}
    ids.discard(None)
    if ids:
        with session.no_autoflush:
            reindex(session, {int(i) for i in ids if i is not None})


@event.listens_for(Session, "after_rollback")
def _forget_marks(session: Session) -> None:
    session.info.pop(_DIRTY, None)


def matching(term: str) -> Select[Any, Any]:
    """(case id, rank) of the cases a search term finds; a lower rank is a better match.

    Exact references, dockets and targets rank first (0). Each part is its own index lookup in a UNION ALL:
    PostgreSQL cannot turn an OR across tables into index scans.
    """
    folded = term.strip().lower()
    exact = literal(0.0).label("rank")
    parts: list[Select[Any, Any]] = [
        select(Case.id.label("case_id"), exact).where(Case.reference == term.strip().upper()),
        select(Case.id.label("case_id"), exact).where(Case.docket == term.strip()),
        select(CaseTarget.case_id.label("case_id"), exact).where(CaseTarget.normalized == folded),
    ]
    if len(folded) >= MIN_SUBSTRING:
        if db.session.get_bind().dialect.name == "sqlite":
            phrase = '"' + folded.replace('"', '""') + '"'
            parts.append(
                select(
                    literal_column("rowid").label("case_id"),
                    literal_column("1.0 + bm25(case_search_fts) / 1000.0").label("rank"),
                )
                .select_from(table(FTS_TABLE))
                .where(text(FTS_MATCH).bindparams(phrase=phrase))
                .limit(MAX_MATCHES)
            )
        else:
            # The text is stored lower-cased, as the term is folded, so a plain LIKE (which the trigram index
            # serves as well as ILIKE) finds it without lower-casing every row again. Rank: where the term first
            # appears, since the text's lines run reference, docket, targets, agency, officer, issuer, notes: a hit
            # in an identifier ranks above one in the notes. (word_similarity ranked finer, at four times the cost
            # of the whole search: 117.8 ms p95 at 100,000 cases against the 100 ms budget.)
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", folded) + "%"
            parts.append(
                select(
                    CaseSearch.case_id.label("case_id"),
                    (1.0 + func.strpos(CaseSearch.doc, folded) / 100000.0).label("rank"),
                )
                .where(CaseSearch.doc.like(pattern, escape="\\"))
                .limit(MAX_MATCHES)
            )
    both = union_all(*(part.subquery().select() for part in parts)).subquery()
    return select(both.c.case_id, func.min(both.c.rank).label("rank")).group_by(both.c.case_id)


@dataclass(frozen=True)
class Highlight:
    """Where a term was found in a case, for the list: the field's name and the value with the term marked."""

    field: str
    snippet: Markup


def highlight(case: Case, term: str, width: int = 60) -> Highlight | None:
    """The first field of the case that holds the term, with the term marked (<mark>) and the rest escaped."""
    folded = term.strip().lower()
    if not folded:
        return None
    fields: list[tuple[str, str]] = [("Reference", case.reference), ("Docket", case.docket or "")]
    fields += [(str(t.target_kind.label), t.value) for t in case.targets]
    fields += [
        ("Agency", case.agency.name if case.agency else ""),
        ("Officer", case.officer_name or ""),
        ("Officer email", case.officer_email or ""),
        ("Issuer", case.authority_name or ""),
        ("Notes", case.summary or ""),
    ]
    for name, value in fields:
        at = value.lower().find(folded)
        if at < 0:
            continue
        start = max(0, at - width // 2)
        end = min(len(value), at + len(folded) + width // 2)
        before = ("…" if start else "") + value[start:at]
        after = value[at + len(folded) : end] + ("…" if end < len(value) else "")
        marked = Markup("<mark>") + escape(value[at : at + len(folded)]) + Markup("</mark>")
        return Highlight(name, escape(before) + marked + escape(after))
    return None


def rebuild(session: Session) -> int:
    """Rebuild every case's search row (`flask cases reindex`); returns how many cases were indexed."""
    ids = set(session.execute(select(Case.id)).scalars())
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(FTS_FORGET_ALL))
    session.execute(delete(CaseSearch))
    for chunk in _chunks(sorted(ids), 500):
        reindex(session, set(chunk))
    return len(ids)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
