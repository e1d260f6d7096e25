"""The policy file: the default loads and quotes the privacy policy word for word; bad files are refused by
line and field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import disclosure.policy
from disclosure.policy.loader import PolicyFileError, default_policy, default_policy_bytes, load_policy
from disclosure.policy.model import CategoryKind, DataKind, GroundUse
from disclosure.policy.vocabulary import AuthorityKind, Category, Ground, ProcessType, Regime

# privacy-policy.txt, section "Disclosure Of Customer Information And Communications" (its first two
# paragraphs and the four bullets), copied here so that the test does not depend on files outside the
# repository. Note the typographic apostrophe (U+2019) in "customers" + apostrophe.
POLICY_SECTION = "\n".join(
    [
        "We will not otherwise disclose our customers’ personal and account information unless we "
        "have a reason to believe that disclosing such information is necessary to identify, make contact with, "
        "or bring legal action against someone who may be causing harm or interfering with the rights or "
        "property of us, our customers, or others, or where we have a good faith belief that the law requires "
        "such disclosure.",
        "",
        "We also will not, except for reasons stated below, disclose to third parties the contents of any "
        "electronic mail or other electronic communications that we store or transmit for our customers. The "
        "circumstances under which we will disclose such electronic customer communications are when:",
        "",
        "  • it is necessary in order to provide service to the customer;",
        "  • it is necessary to protect the legitimate interests of us and our customers;",
        "  • it is required to cooperate with interception orders, warrants, or other legal process that we "
        "determine in our sole discretion to be valid and enforceable; and",
        "  • it is necessary to provide to a law enforcement agency when the contents are inadvertently obtained "
        "by us and appear to pertain to the commission of a crime.",
    ]
)

EXPECTED_CLAUSES = {
    Ground.PROVIDE_SERVICE: "it is necessary in order to provide service to the customer",
    Ground.LEGITIMATE_INTERESTS: "it is necessary to protect the legitimate interests of us and our customers",
    Ground.LEGAL_PROCESS: "it is required to cooperate with interception orders, warrants, or other legal "
    "process that we determine in our sole discretion to be valid and enforceable",
    Ground.INADVERTENT_CRIME: "it is necessary to provide to a law enforcement agency when the contents "
    "are inadvertently obtained by us and appear to pertain to the commission of "
    "a crime",
    Ground.HARM_OR_RIGHTS: "we have a reason to believe that disclosing such information is necessary to "
    "identify, make contact with, or bring legal action against someone who may be "
    "causing harm or interfering with the rights or property of us, our customers, or "
    "others",
    Ground.LAW_REQUIRES: "we have a good faith belief that the law requires such disclosure",
}

DEFAULT_FILE = Path(disclosure.policy.__file__).with_name("default.toml")


def default_text() -> str:
    """The text the fault tests edit: policy 2026-1, frozen byte for byte, so that an edit lands where the test
    says (the loader reads every earlier version; the current default is checked whole below)."""
    return (DEFAULT_FILE.parent / "versions" / "2026-1.toml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing `needle`, found by the test itself."""
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def line_in_section(text: str, header: str, needle: str, occurrence: int = 1) -> int:
    """The line of the `occurrence`-th `needle` at or after the table `header`, found by the test itself."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == header)
    return [n for n in range(start, len(lines)) if needle in lines[n]][occurrence - 1] + 1


def problems(text: str | bytes) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyFileError) as caught:
        load_policy(text, source="test.toml")
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_default_policy_loads_and_defines_the_whole_vocabulary() -> None:
    policy = default_policy()
    assert list(policy.grounds) == list(Ground)
    assert list(policy.categories) == list(Category)
    assert list(policy.process_types) == list(ProcessType)
    assert list(policy.jurisdictions) == list(Regime)
    assert policy.info.section == "Disclosure Of Customer Information And Communications"


def test_grounds_quote_the_privacy_policy_word_for_word() -> None:
    policy = default_policy()
    for ground, clause in EXPECTED_CLAUSES.items():
        assert policy.grounds[ground].clause == clause
        assert policy.grounds[ground].verbatim
        assert clause in POLICY_SECTION
    for kind in (DataKind.PERSONAL_ACCOUNT_INFORMATION, DataKind.COMMUNICATIONS_CONTENT):
        assert policy.data_kinds[kind].clause in POLICY_SECTION
    personal = policy.data_kinds[DataKind.PERSONAL_ACCOUNT_INFORMATION].clause
    assert "customers\N{RIGHT SINGLE QUOTATION MARK} personal" in personal


def test_public_ground_quotes_nothing_and_explains_itself() -> None:
    public = default_policy().grounds[Ground.PUBLIC]
    assert not public.verbatim and public.clause not in POLICY_SECTION
    assert public.clause.startswith("No ground needed")
    assert public.reason == "Domain registration data is already public; disclosing it needs no ground."
    assert public.support == (
        "It is important to note that customer domain name registration information is "
        "made publicly available in the registry of domain names."
    )
    assert public.applies_to is DataKind.PUBLIC and public.cited_for == {GroundUse.PUBLIC_DATA}


def test_only_legitimate_interests_needs_a_written_reason() -> None:
    needing = [g.id for g in default_policy().grounds.values() if g.requires_written_reason]
    assert needing == [Ground.LEGITIMATE_INTERESTS]


def test_categories_are_classed_content_non_content_or_public() -> None:
    kinds = {c: r.kind for c, r in default_policy().categories.items()}
    assert kinds == {
        Category.SUBSCRIBER_BASIC: CategoryKind.NON_CONTENT,
        Category.ACCOUNT_RECORDS: CategoryKind.NON_CONTENT,
        Category.STORED_CONTENT: CategoryKind.CONTENT,
        Category.REALTIME_CONTENT: CategoryKind.CONTENT,
        Category.REALTIME_NONCONTENT: CategoryKind.NON_CONTENT,
        Category.DOMAIN_REGISTRATION: CategoryKind.PUBLIC,
    }


def test_process_clocks_and_limits_follow_design() -> None:
    p = default_policy().process_types
    wiretap, preservation = p[ProcessType.WIRETAP_ORDER], p[ProcessType.PRESERVATION_REQUEST]
    assert (wiretap.max_days, wiretap.approvals_required) == (30, 2)
    assert p[ProcessType.PEN_TRAP_ORDER].max_days == 60
    assert (preservation.preserve_days, preservation.renewal_days, preservation.renewals) == (90, 90, 1)
    eu_preservation = p[ProcessType.EU_PRESERVATION_ORDER]
    assert (eu_preservation.preserve_days, eu_preservation.renewal_days) == (60, 30)
    eu = p[ProcessType.EU_PRODUCTION_ORDER]
    assert (eu.response_days, eu.business_days, eu.emergency_response_hours) == (10, False, 8)
    assert eu.authorities_for(Category.SUBSCRIBER_BASIC) == (
        AuthorityKind.JUDGE,
        AuthorityKind.COURT,
        AuthorityKind.PROSECUTOR,
    )
    assert eu.authorities_for(Category.STORED_CONTENT) == (AuthorityKind.JUDGE, AuthorityKind.COURT)
    assert p[ProcessType.NATIONAL_SECURITY_LETTER].reported_in_bands
    assert p[ProcessType.EMERGENCY_REQUEST].voluntary and p[ProcessType.EMERGENCY_REQUEST].can_compel == ()


def test_sha256_is_of_the_exact_file_bytes_and_stable() -> None:
    data = DEFAULT_FILE.read_bytes()
    assert default_policy().sha256 == hashlib.sha256(data).hexdigest()
    assert load_policy(data).sha256 == load_policy(data.decode("utf-8")).sha256 == default_policy().sha256
    # One more space in a comment is a different policy version.
    edited = data.replace(b"# The disclosure policy", b"#  The disclosure policy")
    assert load_policy(edited).sha256 != default_policy().sha256


def test_policy_is_immutable() -> None:
    policy = default_policy()
    with pytest.raises(AttributeError):
        policy.sha256 = "0" * 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.grounds[Ground.PUBLIC] = policy.grounds[Ground.LEGAL_PROCESS]  # type: ignore[index]


def test_unknown_key_names_its_line_and_field() -> None:
    text = default_text().replace('kind = "public"\n', 'kind = "public"\ncolour = "red"\n')
    [(line, field, message)] = problems(text)
    assert (line, field) == (line_of(text, 'colour = "red"'), "categories.domain_registration.colour")
    assert message.startswith("unknown key; expected one of: description, kind, label")


def test_unknown_category_in_a_list_names_the_index() -> None:
    compel = 'can_compel = ["subscriber_basic", "account_records", "stored_content"]\nauthorities'
    text = default_text().replace(compel, compel.replace('"account_records"', '"acount_records"'))
    [(line, field, message)] = problems(text)
    assert field == "process_types.search_warrant.can_compel[1]"
    assert line == line_of(text, '"acount_records"')
    assert "unknown category 'acount_records'" in message


def test_missing_required_field_points_at_its_table() -> None:
    text = default_text().replace(
        'verbatim = true\ncited_for = ["compelled_process"]', 'cited_for = ["compelled_process"]'
    )
    [(line, field, message)] = problems(text)
    assert (field, message) == ("grounds.legal_process.verbatim", "missing required field")
    assert line == line_of(text, "[grounds.legal_process]")


def test_wrong_type_names_the_expected_type() -> None:
    text = default_text().replace("approvals_required = 2", 'approvals_required = "2"')
    [(line, field, message)] = problems(text)
    assert line == line_of(text, 'approvals_required = "2"')
    assert field == "process_types.wiretap_order.approvals_required"
    assert message == "must be an integer, not a string"


# (replace old, with new): the field and the message expected, and where it must point (the table header,
# then the text on the line; "text#2" is its second occurrence in that table).
FAULTS = [
    (
        "[grounds.inadvertent_crime]",
        "[grounds.inadvertent_crimes]",
        "grounds.inadvertent_crimes",
        "unknown ground",
        "[grounds.inadvertent_crimes]",
        "[grounds",
    ),
    (
        "[process_types.other_court_order]",
        "[process_types.other_order]",
        "process_types.other_order",
        "unknown process type",
        "[process_types.other_order]",
        "[process_types",
    ),
    (
        "preserve_only = true\nresponse_hours = 24\npreserve_days = 90",
        "preserve_only = 1\nresponse_hours = 24\npreserve_days = 90",
        "process_types.preservation_request.preserve_only",
        "must be true or false, not an integer",
        "[process_types.preservation_request]",
        "preserve_only",
    ),
    (
        'applies_to = "public"',
        'applies_to = "everyone"',
        "grounds.public.applies_to",
        "unknown data kind 'everyone'",
        "[grounds.public]",
        "applies_to",
    ),
    (
        'cited_for = ["public_data"]',
        'cited_for = ["always"]',
        "grounds.public.cited_for[0]",
        "unknown use 'always'",
        "[grounds.public]",
        "cited_for",
    ),
    (
        "effective = 2026-01-01",
        'effective = "2026-01-01"',
        "policy.effective",
        "must be a date",
        "[policy]",
        "effective",
    ),
    (
        "approvals_required = 2",
        "approvals_required = true",
        "process_types.wiretap_order.approvals_required",
        "must be an integer, not a boolean",
        "[process_types.wiretap_order]",
        "approvals_required",
    ),
    (
        "effective = 2026-01-01",
        "effective = 2026-01-01T00:00:00Z",
        "policy.effective",
        "must be a date, not datetime",
        "[policy]",
        "effective",
    ),
    (
        'calendar_country = "GB"',
        'calendar_country = "XX"',
        "jurisdictions.uk.calendar_country",
        "holidays library",
        "[jurisdictions.uk]",
        "calendar_country",
    ),
    (
        'id = "probable_cause"',
        'id = "judge_signature"',
        "process_types.search_warrant.checklist[1].id",
        "listed twice",
        "[process_types.search_warrant]",
        'id = "judge_signature"#2',
    ),
    (
        'id = "probable_cause"',
        'id = "Probable Cause"',
        "process_types.search_warrant.checklist[1].id",
        "is not an id",
        "[process_types.search_warrant]",
        "Probable Cause",
    ),
    (
        "response_days = 10\nemergency_response_hours = 8",
        "response_days = 10\nresponse_hours = 8",
        "process_types.eu_production_order.response_days",
        "exactly one of",
        "[process_types.eu_production_order]",
        "response_days",
    ),
    (
        'stored_content = ["judge", "court"]\n',
        'realtime_content = ["judge", "court"]\n',
        "process_types.eu_production_order.allowed_authorities.realtime_content",
        "not among the categories",
        "[process_types.eu_production_order.allowed_authorities]",
        "realtime_content",
    ),
    (
        'account_records = ["judge", "court"]',
        'account_records = ["judge", "sheriff"]',
        "process_types.eu_production_order.allowed_authorities.account_records[1]",
        "unknown authority kind 'sheriff'",
        "[process_types.eu_production_order.allowed_authorities]",
        "account_records",
    ),
    (
        'label = "Signed by a judge"',
        'label = ""',
        "process_types.search_warrant.checklist[0].label",
        "must not be empty",
        "[process_types.search_warrant]",
        'label = ""',
    ),
]


@pytest.mark.parametrize(("old", "new", "field", "fragment", "header", "needle"), FAULTS)
def test_each_kind_of_fault_is_named_with_its_line(
    old: str, new: str, field: str, fragment: str, header: str, needle: str
) -> None:
    text = default_text()
    assert old in text
    text = text.replace(old, new, 1)
    found = problems(text)
    matching = [(line, m) for line, f, m in found if f == field]
    assert matching and fragment in matching[0][1], found
    needle, _, occurrence = needle.partition("#")
    assert matching[0][0] == line_in_section(text, header, needle, int(occurrence or 1))


def test_a_missing_vocabulary_entry_is_reported() -> None:
    text = default_text()
    text = text[: text.index("[grounds.inadvertent_crime]")] + text[text.index("[grounds.harm_or_rights]") :]
    expected = ("grounds.inadvertent_crime", "missing: ground 'inadvertent_crime' is in the vocabulary but not defined")
    assert expected in [(f, m) for _, f, m in problems(text)]


def test_every_problem_is_reported_at_once() -> None:
    text = (
        default_text()
        .replace('kind = "public"\n', 'kind = "public"\ncolour = "red"\n')
        .replace("approvals_required = 2", "approvals_required = 0")
    )
    assert [f for _, f, _m in problems(text)] == [
        "categories.domain_registration.colour",
        "process_types.wiretap_order.approvals_required",
    ]
    with pytest.raises(PolicyFileError) as caught:
        load_policy(text, source="test.toml")
    assert str(caught.value).startswith("test.toml: 2 problem(s)\n")
    line = line_of(text, "approvals_required = 0")
    assert f"line {line}: process_types.wiretap_order.approvals_required: must be at least 1" in str(caught.value)


def test_a_missing_table_is_one_problem_not_fifty() -> None:
    text = default_text()
    text = text[: text.index("[non_disclosure_order]")] + text[text.index("# Jurisdictions") :]
    assert problems(text) == [(None, "non_disclosure_order", "missing table [non_disclosure_order]")]


def test_toml_syntax_error_gives_its_line() -> None:
    text = default_text().replace('version = "2026-1"', "version = 2026-1")
    [(line, field, message)] = problems(text)
    assert (line, field) == (line_of(text, "version = 2026-1"), "(syntax)")
    assert message.startswith("not valid TOML")


def test_not_utf8() -> None:
    assert problems(b"name = \xff\n") == [(None, "(file)", "not UTF-8: invalid start byte")]


def test_earlier_versions_are_kept_byte_for_byte_and_still_load() -> None:
    """Reviews record the SHA-256 of the policy they were made under: 2026-1 must stay readable as it was."""
    frozen = (DEFAULT_FILE.parent / "versions" / "2026-1.toml").read_bytes()
    assert hashlib.sha256(frozen).hexdigest().startswith("09bdfbfa")
    old = load_policy(frozen, source="2026-1.toml")
    assert old.info.version == "2026-1" and old.agreements == {} and old.voluntary_bases == {}
    assert ProcessType.FOREIGN_ORDER not in old.process_types
    current = load_policy(default_policy_bytes(), source="default.toml")
    assert current.info.version == "2026-2" and set(current.process_types) == set(ProcessType)
    assert current.sha256 != old.sha256
