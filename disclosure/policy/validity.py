"""Whether a request's process is process at all, here and now: its law, its country, its issuer, its window.

`bar` gives the one reason a process compels nothing whatever the category (US process under foreign law, a
foreign order with no agreement, an agreement order that invokes none, an EU order from before the Regulation
applied or from Denmark, an NSL not from the FBI's designated officials, an order that had lapsed when it was
served, a prospective order whose period has ended), or None; `collection_ended` the same for real-time
collection under an order that also reaches stored data (one under an executive agreement). `authorised_period`
gives the dates an order with a window can reach, so that a request reaching beyond them is refused for the
excess and offered narrowing. `issuer_fault` says why the issuing authority may not order a category, honouring
validation and the agreements. Pure.

Days are counted as Fed. R. Crim. P. 45(a)(1) counts a period stated in days: the day of the event that starts it
(the order's issue, or its receipt when no issue date is given) is not counted, every day after it is, and the last
day is included. So an interception order issued on 1 December may run 30 days, to 31 December (18 USC 2518(5)),
and a pen register issued on 1 December 60 days, to 30 January (18 USC 3123(c)(1)); one day more exceeds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from disclosure.policy.model import AgreementRule, Policy, ProcessRule, Window
from disclosure.policy.request import RequestDocument
from disclosure.policy.vocabulary import AuthorityKind, Category, OfficialLevel, ProcessType, Regime

__all__ = ["REAL_TIME", "Bar", "Period", "Validity", "days_spanned", "last_day", "names", "who"]

#: Categories collected from now on rather than held: collecting them after an order's period is interception
#: (18 USC 2511) or an unlawful pen register (18 USC 3121), whatever the order reaches besides.
REAL_TIME = frozenset({Category.REALTIME_CONTENT, Category.REALTIME_NONCONTENT})

#: How an issuing authority is named in a sentence ("this one was issued by …").
_WHO = {
    AuthorityKind.JUDGE: "a judge",
    AuthorityKind.COURT: "a court",
    AuthorityKind.PROSECUTOR: "a prosecutor",
    AuthorityKind.AGENCY: "an agency",
    AuthorityKind.POLICE: "the police",
    AuthorityKind.ATTORNEY: "an attorney",
    AuthorityKind.PROVIDER: "us",
}


#: A legal system as an adjective ("… under US federal law").
_LAW = {
    Regime.US_FEDERAL: "US federal",
    Regime.US_STATE: "US state",
    Regime.EU: "EU",
    Regime.UK: "UK",
    Regime.OTHER: "another country's",
}


#: Authorities of a government: their subpoena is never civil process between private parties.
GOVERNMENT = frozenset({AuthorityKind.AGENCY, AuthorityKind.POLICE, AuthorityKind.PROSECUTOR})


def who(kind: AuthorityKind) -> str:
    return _WHO[kind]


def names(items: Iterable[object], conjunction: str = "and") -> str:
    """`a`, `a and b`, `a, b and c` (or `or`)."""
    seq = [str(i) for i in items]
    if len(seq) <= 1:
        return seq[0] if seq else "nothing"
    return ", ".join(seq[:-1]) + f" {conjunction} " + seq[-1]


def _day(moment: date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def days_spanned(first: date, last: date) -> int:
    """How many days a period from `first` to `last` lasts, counted as FRCrP 45(a)(1) does: `first` (the day of
    the event that starts it) is excluded, `last` included; 1 December to 31 December is 30 days."""
    return (_day(last) - _day(first)).days


def last_day(first: date, days: int) -> date:
    """The last day of a period of `days` days starting on `first`, counted as `days_spanned` counts."""
    return _day(first) + timedelta(days=days)


@dataclass(frozen=True)
class Bar:
    """Why a process compels nothing at all: a stable id (it names the warning too) and a sentence for people."""

    id: str
    message: str


@dataclass(frozen=True)
class Period:
    """The dates an order reaches: from `start` (None: any earlier day) to `end`, both inclusive."""

    start: date | None
    end: date

    def text(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}" if self.start else f"up to {self.end.isoformat()}"

    def as_json(self) -> dict[str, str | None]:
        return {"from": self.start.isoformat() if self.start else None, "to": self.end.isoformat()}


class Validity:
    """The process-level facts of one evaluation."""

    def __init__(self, request: RequestDocument, policy: Policy, process: ProcessRule, today: date) -> None:
        self.request, self.policy, self.process, self.today = request, policy, process, today
        self.received = request.received_at.date()
        self.agreement = self._agreement()

    # -- executive agreements -------------------------------------------------------------------------------

    @property
    def via_agreement(self) -> bool:
        """Whether the order is judged as one under an executive agreement."""
        return self.process.agreement or (self.process.foreign and self.request.agreement is not None)

    def _agreement(self) -> AgreementRule | None:
        """The agreement the order invokes. Never guessed from the country: an order is subject to an agreement
        only when it says so, and an order that does not is foreign process like any other."""
        chosen = self.request.agreement
        return self.policy.agreements.get(chosen) if chosen is not None else None

    def _agreement_bar(self) -> Bar | None:
        p, rule, country = self.process, self.agreement, self.request.jurisdiction.country
        route = f" {p.route}" if p.route else ""
        if self.request.agreement is None:
            known = names((f"{a.id.value} ({a.label})" for a in self.policy.agreements.values()), "or")
            return Bar(
                "agreement_not_stated",
                f"{p.label}: the order must invoke an executive agreement (18 USC 2523), and this request names "
                f"none. Fill in the field `agreement` with the one the order states: {known}. An order that "
                "invokes none is a foreign order (`foreign_order`) and goes through a mutual legal assistance "
                "request (MLAT, 18 USC 3512).",
            )
        if rule is None:
            return Bar(
                "no_agreement", f"{p.label}: no executive agreement in force covers orders from {country}.{route}"
            )
        if country not in rule.countries:
            return Bar(
                "no_agreement",
                f"The {rule.label} covers orders from {names(rule.countries)} only; this one is from {country}.{route}",
            )
        if self.received < rule.in_force:
            return Bar(
                "no_agreement",
                f"The {rule.label} entered into force on {rule.in_force.isoformat()}; this order was received on "
                f"{self.received.isoformat()}, before it.{route}",
            )
        return None

    # -- the process as a whole -----------------------------------------------------------------------------

    def bar(self) -> Bar | None:
        """Why the process compels (or preserves) nothing at all, or None."""
        p, request = self.process, self.request
        where = request.jurisdiction
        route = f" {p.route}" if p.route else ""
        if p.applies_from is not None and self.received < p.applies_from:
            return Bar(
                "process_not_yet_applicable",
                f"{p.label}: applies only to orders received from {p.applies_from.isoformat()}; this one was "
                f"received on {self.received.isoformat()} and is no such order.{route}",
            )
        if p.regimes is not None and where.regime not in p.regimes:
            law = names((_LAW[r] for r in p.regimes), "or")
            return Bar(
                "process_outside_regime",
                f"{p.label}: legal process only in {law} law; this request comes under {_LAW[where.regime]} "
                f"law, so it compels nothing here by itself.{route}",
            )
        if p.countries is not None and where.country not in p.countries:
            return Bar(
                "process_outside_country", f"{p.label}: does not bind or apply to orders from {where.country}.{route}"
            )
        if self.via_agreement:
            if (fault := self._agreement_bar()) is not None:
                return fault
        elif p.foreign:
            return Bar("foreign_process", f"{p.label}: compels nothing here by itself.{route}")
        if (fault := self._issuer_agency_fault()) is not None:
            return fault
        return self._window_bar()

    def _issuer_agency_fault(self) -> Bar | None:
        p, request = self.process, self.request
        if p.issuer_agencies is not None:
            known = {name.casefold() for name in p.issuer_agencies}
            if request.agency.name.casefold() not in known:
                because = p.route or "it comes from an agency that may not issue it."
                return Bar(
                    "issuing_agency_not_allowed", f"{p.label}: {because} This one comes from {request.agency.name}."
                )
        level = request.issuing_authority.official_level
        if p.official_levels is not None and level is not None and level not in p.official_levels:
            allowed = names((lv.label for lv in p.official_levels), "or")
            signed = "another official" if level is OfficialLevel.OTHER else level.label
            return Bar(
                "issuing_official_not_allowed",
                f"{p.label}: must be signed by the {allowed} (18 USC 2709(b)); this one was signed by {signed}.",
            )
        return None

    def _window_bar(self) -> Bar | None:
        p, request = self.process, self.request
        until = request.valid_until
        if until is not None and until < self.received:
            return Bar(
                "process_expired",
                f"The {p.label} expired on {until.isoformat()}, before it was served on {self.received.isoformat()}: "
                "a lapsed order is not valid and enforceable legal process and compels nothing. Ask for a new one.",
            )
        if p.window is Window.PROSPECTIVE:
            return self._ended(self.authorised_period())
        return None

    def _ended(self, period: Period | None) -> Bar | None:
        if period is None or period.end >= self.today:
            return None
        return Bar(
            "collection_period_ended",
            f"The {self.process.label} authorised collection {period.text()}; that period has ended (today is "
            f"{self.today.isoformat()}), so nothing more may be collected. Ask for an extension order.",
        )

    def collection_ended(self, category: Category) -> Bar | None:
        """For real-time collection under an order that is not prospective as a whole (one under an executive
        agreement reaches stored data too): why nothing more may be collected, its period having ended, or None.
        Stored data the order reached when it was served stays reachable."""
        if self.process.window is Window.PROSPECTIVE or category not in REAL_TIME:
            return None
        until = self.request.valid_until
        if until is None:
            return None
        return self._ended(Period(self.request.issued_on or self.received, until))

    # -- windows ----------------------------------------------------------------------------------------------

    def authorised_period(self) -> Period | None:
        """The dates the order reaches: up to its validity date and, for prospective process, no longer than
        its maximum duration from its start (the start itself not counted). None when the order states no
        limit."""
        p, request = self.process, self.request
        ends: list[date] = []
        if request.valid_until is not None:
            ends.append(request.valid_until)
        start: date | None = None
        if p.window is Window.PROSPECTIVE:
            start = request.issued_on or self.received
            if p.max_days is not None:
                ends.append(last_day(start, p.max_days))
        return Period(start, min(ends)) if ends else None

    def excess(self) -> tuple[str, Period | None] | None:
        """When the requested period reaches beyond the authorised one: what exceeds, and the period an
        approval may be narrowed to (None when nothing requested lies inside). None when nothing exceeds."""
        p, period = self.process, self.authorised_period()
        if period is None:
            return None
        beyond: list[str] = []
        order_start, order_end = self.request.issued_on or self.received, self.request.valid_until
        if p.window is Window.PROSPECTIVE and order_end and order_end > period.end:
            days = days_spanned(order_start, order_end)
            beyond.append(f"the order spans {days} days ({order_start.isoformat()} to {order_end.isoformat()})")
        inside = False  # whether any requested period overlaps the authorised one, so that narrowing can help
        for target in self.request.targets:
            first = _day(target.from_) if target.from_ is not None else None
            last = _day(target.to) if target.to is not None else None
            if (last is not None and last > period.end) or (first is not None and first > period.end):
                beyond.append(
                    f"target {target.value} is requested "
                    f"{first.isoformat() if first else 'from any date'} to {last.isoformat() if last else 'open-ended'}"
                )
            starts_in_time = first is None or first <= period.end
            ends_in_time = last is None or period.start is None or last >= period.start
            inside = inside or (starts_in_time and ends_in_time)
        if not beyond:
            return None
        limit = f"at most {p.max_days} days" if p.max_days else "its validity date"
        what = f"The {p.label} reaches only {period.text()} ({limit}); {names(beyond)}. The period beyond exceeds it"
        return what, (period if inside else None)

    # -- issuers ----------------------------------------------------------------------------------------------

    def allowed_issuers(self, category: Category) -> tuple[AuthorityKind, ...] | None:
        """Who may order `category`: the process's own rule where it has one, else, for an order under an
        agreement, the authorities the agreement names."""
        own = self.process.authorities_for(category)
        if own is None and self.via_agreement and self.agreement is not None:
            return self.agreement.authorities
        return own

    def issuer_fault(self, category: Category) -> str | None:
        """Why the issuing authority may not order `category`, or None (validation by an allowed authority counts
        where the process allows it)."""
        allowed = self.allowed_issuers(category)
        authority = self.request.issuing_authority
        if allowed is None or authority.kind in allowed:
            return None
        validation = authority.validated_by
        can_validate = self.process.validation or self.via_agreement
        if can_validate and validation is not None and validation.kind in allowed:
            return None
        if self.emergency_exception(category):
            return None
        kinds = names((who(a) for a in allowed), "or")
        by = f"{who(authority.kind)}"
        if self.government_civil_subpoena:
            return (
                f"must be issued by {kinds} in private litigation; this one was issued by {by}. A governmental "
                "entity's subpoena is not civil process, and 18 USC 2702(c)(6) does not let us give it records: "
                "log it as `subpoena` (a subpoena under 18 USC 2703(c)(2)) and evaluate it again."
            )
        if can_validate:
            by += (
                ", and no validation by one is recorded"
                if validation is None
                else f", validated by {who(validation.kind)}"
            )
            return f"must be ordered or validated by {kinds}; this one was issued by {by}."
        return f"must be ordered by {kinds}; this one was issued by {by}."

    @property
    def government_civil_subpoena(self) -> bool:
        """A "civil" subpoena from a government authority: logged as the wrong kind of process."""
        kind = self.request.issuing_authority.kind
        return self.request.process_type is ProcessType.CIVIL_SUBPOENA and kind in GOVERNMENT

    def emergency_exception(self, category: Category) -> bool:
        """An emergency order from another authority, to be validated afterwards (Reg. 2023/1543 Art. 4(5)): only
        for what a prosecutor could order too (subscriber and identification data, preservation), never for
        traffic or content data."""
        authority, allowed = self.request.issuing_authority, self.allowed_issuers(category) or ()
        return (
            self.process.emergency_without_validation
            and self.request.emergency
            and authority.validated_by is None
            and authority.kind in (AuthorityKind.AGENCY, AuthorityKind.POLICE)
            and AuthorityKind.PROSECUTOR in allowed
        )

    def offence_fault(self, category: Category) -> str | None:
        """Why the offence does not let the order reach `category`, or None. An order that states no offence
        cannot be checked, so it does not pass: the threshold is a condition of the order, not a formality."""
        p, offence = self.process, self.request.offence
        if p.offence_threshold_years is None or category not in p.offence_categories:
            return None
        if offence is None:
            return (
                f"may be ordered only for offences punishable by at least {p.offence_threshold_years} years or "
                "listed in Art. 5(4), and this request states no offence, so the threshold cannot be checked. "
                "Record the offence from the certificate in the field `offence` (its description, and "
                "max_penalty_years or listed), then evaluate again."
            )
        if offence.listed is not None:
            return None
        if offence.max_penalty_years is not None and offence.max_penalty_years >= p.offence_threshold_years:
            return None
        carries = (
            f"carries at most {offence.max_penalty_years} year(s)"
            if offence.max_penalty_years is not None
            else "states no maximum penalty"
        )
        return (
            f"may be ordered only for offences punishable by at least {p.offence_threshold_years} years or "
            f"listed in Art. 5(4); the offence ({offence.description}) {carries} and is not listed."
        )
