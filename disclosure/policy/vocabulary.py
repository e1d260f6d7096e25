"""The request vocabulary shared by intake, the policy engine and reports. Ids are stable; labels are for people.

Pure: no Flask, no database. Changing an id breaks stored cases and the JSON request document.
"""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A StrEnum whose members carry a display label in the class's LABELS mapping."""

    @property
    def label(self) -> str:
        labels: dict[str, str] = getattr(type(self), "_labels", {})
        return labels.get(self.value, self.value.replace("_", " "))


class ProcessType(LabelledEnum):
    SUBPOENA = "subpoena"
    COURT_ORDER_2703D = "court_order_2703d"
    SEARCH_WARRANT = "search_warrant"
    WIRETAP_ORDER = "wiretap_order"
    PEN_TRAP_ORDER = "pen_trap_order"
    PRESERVATION_REQUEST = "preservation_request"
    EMERGENCY_REQUEST = "emergency_request"
    NATIONAL_SECURITY_LETTER = "national_security_letter"
    EU_PRODUCTION_ORDER = "eu_production_order"
    EU_PRESERVATION_ORDER = "eu_preservation_order"
    OTHER_COURT_ORDER = "other_court_order"
    CIVIL_SUBPOENA = "civil_subpoena"
    FOREIGN_ORDER = "foreign_order"
    AGREEMENT_ORDER = "agreement_order"
    UK_IPA_COMMUNICATIONS_DATA = "uk_ipa_communications_data"
    UK_IPA_INTERCEPTION_WARRANT = "uk_ipa_interception_warrant"
    VOLUNTARY_DISCLOSURE = "voluntary_disclosure"


ProcessType._labels = {  # type: ignore[attr-defined]
    "subpoena": "Subpoena (grand jury, administrative, trial)",
    "court_order_2703d": "Court order, 18 USC 2703(d)",
    "search_warrant": "Search warrant",
    "wiretap_order": "Wiretap / interception order, 18 USC 2518",
    "pen_trap_order": "Pen register / trap and trace order, 18 USC 3123",
    "preservation_request": "Preservation request, 18 USC 2703(f)",
    "emergency_request": "Emergency request, 18 USC 2702(b)(8)/(c)(4)",
    "national_security_letter": "National security letter, 18 USC 2709",
    "eu_production_order": "European Production Order (Reg. 2023/1543)",
    "eu_preservation_order": "European Preservation Order (Reg. 2023/1543)",
    "other_court_order": "Other court order",
    "civil_subpoena": "Civil subpoena (private litigation)",
    "foreign_order": "Foreign national order (not US process)",
    "agreement_order": "Order under a CLOUD Act executive agreement, 18 USC 2523",
    "uk_ipa_communications_data": "UK Investigatory Powers Act, Part 3 communications-data authorisation",
    "uk_ipa_interception_warrant": "UK Investigatory Powers Act, targeted interception warrant",
    "voluntary_disclosure": "Voluntary disclosure (started by us)",
}


class Regime(LabelledEnum):
    US_FEDERAL = "us_federal"
    US_STATE = "us_state"
    EU = "eu"
    UK = "uk"
    OTHER = "other"


Regime._labels = {  # type: ignore[attr-defined]  # an enum's labels, set once beside it
    "us_federal": "United States, federal",
    "us_state": "United States, state",
    "eu": "European Union",
    "uk": "United Kingdom",
    "other": "Other",
}


class AuthorityKind(LabelledEnum):
    JUDGE = "judge"
    COURT = "court"
    PROSECUTOR = "prosecutor"
    AGENCY = "agency"
    POLICE = "police"
    ATTORNEY = "attorney"
    PROVIDER = "provider"


class ReceivedVia(LabelledEnum):
    EMAIL = "email"
    FAX = "fax"
    POST = "post"
    PORTAL = "portal"
    IN_PERSON = "in_person"


ReceivedVia._labels = {"in_person": "In person"}  # type: ignore[attr-defined]


class TargetKind(LabelledEnum):
    EMAIL = "email"
    USERNAME = "username"
    DOMAIN = "domain"
    IP = "ip"
    CUSTOMER_ID = "customer_id"
    PHONE = "phone"


TargetKind._labels = {"ip": "IP address (with time)", "customer_id": "Customer id", "email": "Email address"}  # type: ignore[attr-defined]


class Category(LabelledEnum):
    SUBSCRIBER_BASIC = "subscriber_basic"
    ACCOUNT_RECORDS = "account_records"
    STORED_CONTENT = "stored_content"
    REALTIME_CONTENT = "realtime_content"
    REALTIME_NONCONTENT = "realtime_noncontent"
    DOMAIN_REGISTRATION = "domain_registration"


Category._labels = {  # type: ignore[attr-defined]
    "subscriber_basic": "Basic subscriber information",
    "account_records": "Account records (non-content)",
    "stored_content": "Stored content",
    "realtime_content": "Real-time content (interception)",
    "realtime_noncontent": "Real-time non-content (routing, addressing)",
    "domain_registration": "Domain registration data (public)",
}


class Ground(LabelledEnum):
    PROVIDE_SERVICE = "provide_service"
    LEGITIMATE_INTERESTS = "legitimate_interests"
    LEGAL_PROCESS = "legal_process"
    INADVERTENT_CRIME = "inadvertent_crime"
    HARM_OR_RIGHTS = "harm_or_rights"
    LAW_REQUIRES = "law_requires"
    PUBLIC = "public"


class Verdict(LabelledEnum):
    PERMITTED = "permitted"
    EXCEEDS_PROCESS = "exceeds_process"
    NO_POLICY_GROUND = "no_policy_ground"
    PRESERVE_ONLY = "preserve_only"


AuthorityKind._labels = {  # type: ignore[attr-defined]
    "judge": "Judge",
    "court": "Court",
    "prosecutor": "Prosecutor",
    "agency": "Agency",
    "police": "Police",
    "attorney": "Attorney (civil subpoena)",
    "provider": "Ourselves (voluntary disclosure)",
}

Ground._labels = {  # type: ignore[attr-defined]
    "provide_service": "Necessary to provide service to the customer",
    "legitimate_interests": "Necessary to protect the legitimate interests of us and our customers",
    "legal_process": "Required to cooperate with valid and enforceable legal process",
    "inadvertent_crime": "Inadvertently obtained contents that appear to pertain to a crime",
    "harm_or_rights": "Identify, contact or act against someone causing harm or interfering with rights",
    "law_requires": "Good-faith belief that the law requires disclosure",
    "public": "Public data (no ground needed)",
}

Verdict._labels = {  # type: ignore[attr-defined]
    "permitted": "Permitted",
    "exceeds_process": "Exceeds what the process can compel",
    "no_policy_ground": "No policy ground (to counsel)",
    "preserve_only": "Preserve only",
}


class VoluntaryBasis(LabelledEnum):
    """Why we disclose on our own initiative, with no legal process compelling it (chosen up front)."""

    INADVERTENT_CRIME = "inadvertent_crime"
    NCMEC_REPORT = "ncmec_report"
    LEGITIMATE_INTERESTS = "legitimate_interests"
    PROVIDE_SERVICE = "provide_service"
    CUSTOMER_CONSENT = "customer_consent"


VoluntaryBasis._labels = {  # type: ignore[attr-defined]
    "inadvertent_crime": "Inadvertently obtained evidence of a crime",
    "ncmec_report": "Report to NCMEC (child sexual abuse material)",
    "legitimate_interests": "Protecting our and our customers' legitimate interests",
    "provide_service": "Necessary to provide service to the customer",
    "customer_consent": "The customer's consent",
}


class OfficialLevel(LabelledEnum):
    """The rank of the official who signed a national security letter (18 USC 2709(b) names who may)."""

    DIRECTOR = "director"
    HQ_DEPUTY_ASSISTANT_DIRECTOR_OR_HIGHER = "hq_deputy_assistant_director_or_higher"
    SPECIAL_AGENT_IN_CHARGE = "special_agent_in_charge"
    OTHER = "other"


OfficialLevel._labels = {  # type: ignore[attr-defined]
    "director": "Director of the FBI",
    "hq_deputy_assistant_director_or_higher": "Deputy Assistant Director or higher at FBI headquarters",
    "special_agent_in_charge": "Special Agent in Charge of an FBI field office",
    "other": "Another official",
}


class ListedOffence(LabelledEnum):
    """Offences for which an EU order may reach traffic or content data whatever their penalty
    (Regulation (EU) 2023/1543, Art. 5(4)(b) and (c))."""

    NON_CASH_PAYMENT_FRAUD = "non_cash_payment_fraud"
    CHILD_SEXUAL_ABUSE = "child_sexual_abuse"
    ATTACK_ON_INFORMATION_SYSTEMS = "attack_on_information_systems"
    TERRORISM = "terrorism"


ListedOffence._labels = {  # type: ignore[attr-defined]
    "non_cash_payment_fraud": "Fraud with non-cash means of payment (Directive (EU) 2019/713)",
    "child_sexual_abuse": "Sexual abuse or exploitation of children (Directive 2011/93/EU)",
    "attack_on_information_systems": "Attack against information systems (Directive 2013/40/EU)",
    "terrorism": "Terrorist offence (Directive (EU) 2017/541)",
}


class Agreement(LabelledEnum):
    """Executive agreements under the CLOUD Act (18 USC 2523) that let a foreign order reach us directly."""

    US_UK = "us_uk"
    US_AU = "us_au"


Agreement._labels = {  # type: ignore[attr-defined]
    "us_uk": "US–UK Data Access Agreement",
    "us_au": "US–Australia CLOUD Act Agreement",
}


#: Every field of a request document that takes an id, in the document's order: (the field's path, what it says,
#: the vocabulary of its ids). `flask policy vocabulary` prints it.
REQUEST_VOCABULARY: tuple[tuple[str, str, type[LabelledEnum]], ...] = (
    ("process_type", "the kind of legal process, or of disclosure we start ourselves", ProcessType),
    ("jurisdiction.regime", "the legal system the process belongs to", Regime),
    ("issuing_authority.kind", "who issued the process", AuthorityKind),
    ("issuing_authority.validated_by.kind", "who validated an order another authority issued", AuthorityKind),
    ("issuing_authority.official_level", "who signed a national security letter", OfficialLevel),
    ("received_via", "how the request reached us", ReceivedVia),
    ("targets[].kind", "what kind of identifier a target is", TargetKind),
    ("categories[]", "the data requested", Category),
    ("offence.listed", "an offence Art. 5(4) of Reg. 2023/1543 lists whatever its penalty", ListedOffence),
    ("voluntary_basis", "why we disclose, for a voluntary disclosure only", VoluntaryBasis),
    ("agreement", "the executive agreement a foreign order invokes", Agreement),
)
