"""Requests an independent lawyer wrote from the law, without reading the engine (issue #13's blind check),
copied literally from their files (named in each comment) so that the cases the engine got wrong stay tests.
"""

# ruff: noqa: E501  (the malformed inputs are the lawyer's one-line files, kept as they wrote them)

from __future__ import annotations

from typing import Any

#: 01-grand-jury-subpoena.json
GRAND_JURY_SUBPOENA: dict[str, Any] = {
    "process_type": "subpoena",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "prosecutor", "name": "USAO SDNY (grand jury)", "docket": "GJ-26-1"},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic", "account_records", "stored_content"],
    "due_at": "2026-12-15",
}

#: 24-emergency-subscriber.json
EMERGENCY_SUBSCRIBER: dict[str, Any] = {
    "process_type": "emergency_request",
    "jurisdiction": {"regime": "us_state", "country": "US", "region": "CA"},
    "issuing_authority": {"kind": "police", "name": "San Jose PD", "docket": None},
    "agency": {"name": "San Jose Police Department", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": True,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic", "account_records"],
}

#: 25-emergency-content.json
EMERGENCY_CONTENT: dict[str, Any] = {
    "process_type": "emergency_request",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "agency", "name": "FBI", "docket": None},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": True,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content"],
}

#: 26-emergency-uk-police.json
EMERGENCY_UK_POLICE: dict[str, Any] = {
    "process_type": "emergency_request",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {"kind": "police", "name": "Metropolitan Police Service", "docket": None},
    "agency": {"name": "Metropolitan Police Service", "country": "GB"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": True,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic"],
}

#: 33-civil-subpoena-bsi-records-content.json
CIVIL_SUBPOENA_BSI_RECORDS_CONTENT: dict[str, Any] = {
    "process_type": "civil_subpoena",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "attorney", "name": "Smith & Jones LLP (FRCP 45)", "docket": "3:26-cv-0042"},
    "agency": {"name": "Smith & Jones LLP", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic", "account_records", "stored_content"],
}

#: 37-vol-ncmec.json
VOLUNTARY_NCMEC: dict[str, Any] = {
    "process_type": "voluntary_disclosure",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "provider", "name": "Example Hosting Ltd, Trust & Safety", "docket": None},
    "agency": {"name": "National Center for Missing & Exploited Children", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content", "subscriber_basic"],
    "voluntary_basis": "ncmec_report",
}

#: 40-vol-legit-interests-records.json
VOLUNTARY_LEGITIMATE_INTERESTS_RECORDS: dict[str, Any] = {
    "process_type": "voluntary_disclosure",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "provider", "name": "Example Hosting Ltd, Abuse desk", "docket": None},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["account_records"],
    "voluntary_basis": "legitimate_interests",
}

#: 41-vol-legit-interests-content.json
VOLUNTARY_LEGITIMATE_INTERESTS_CONTENT: dict[str, Any] = {
    "process_type": "voluntary_disclosure",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "provider", "name": "Example Hosting Ltd, Abuse desk", "docket": None},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content"],
    "voluntary_basis": "legitimate_interests",
}

#: 51-epoc-content-no-offence-field.json
EPOC_CONTENT_NO_OFFENCE_FIELD: dict[str, Any] = {
    "process_type": "eu_production_order",
    "jurisdiction": {"regime": "eu", "country": "DE", "region": None},
    "issuing_authority": {
        "kind": "judge",
        "name": "Amtsgericht Muenchen, Ermittlungsrichter",
        "docket": "ER V Gs 123/26",
    },
    "agency": {"name": "LKA", "country": "DE"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content"],
}

#: 65-uk-opo-crown-court.json
UK_OPO_CROWN_COURT: dict[str, Any] = {
    "process_type": "agreement_order",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {"kind": "judge", "name": "HHJ Example, Crown Court at Southwark", "docket": "OPO-26-1"},
    "agency": {"name": "National Crime Agency", "country": "GB"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic", "account_records", "stored_content"],
    "agreement": "us_uk",
    "offence": {"description": "Fraud Act 2006 s.1", "max_penalty_years": 10, "listed": None},
}

#: 80-wiretap-30d-rule45-count.json
WIRETAP_30D_RULE45_COUNT: dict[str, Any] = {
    "process_type": "wiretap_order",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Hon. B. Judge", "docket": "26-TIII-6"},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-12-02T09:00:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net"}],
    "categories": ["realtime_content"],
    "issued_on": "2026-12-01",
    "valid_until": "2026-12-31",
}

#: 81-pentrap-60d-rule45-count.json
PENTRAP_60D_RULE45_COUNT: dict[str, Any] = {
    "process_type": "pen_trap_order",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Hon. M. Magistrate", "docket": "26-PR-10"},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-12-01T15:00:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net"}],
    "categories": ["realtime_noncontent"],
    "issued_on": "2026-12-01",
    "valid_until": "2027-01-30",
}

#: 86-emergency-realtime.json
EMERGENCY_REALTIME: dict[str, Any] = {
    "process_type": "emergency_request",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "agency", "name": "FBI", "docket": None},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": True,
    "targets": [{"kind": "email", "value": "user@example.net"}],
    "categories": ["realtime_content", "realtime_noncontent"],
}

#: 93-agreement-order-missing-agreement.json
AGREEMENT_ORDER_MISSING_AGREEMENT: dict[str, Any] = {
    "process_type": "agreement_order",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Crown Court", "docket": "OPO-26-9"},
    "agency": {"name": "NCA", "country": "GB"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content"],
}

#: 94-agreement-uk-realtime.json
AGREEMENT_UK_REALTIME: dict[str, Any] = {
    "process_type": "agreement_order",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Investigatory Powers Commissioner (JC)", "docket": "TI-26-9"},
    "agency": {"name": "NCA", "country": "GB"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-12-02T09:00:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net"}],
    "categories": ["realtime_content"],
    "agreement": "us_uk",
    "issued_on": "2026-12-01",
    "valid_until": "2026-12-30",
}

#: 99-civil-subpoena-by-government.json
CIVIL_SUBPOENA_BY_GOVERNMENT: dict[str, Any] = {
    "process_type": "civil_subpoena",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "agency", "name": "SEC Division of Enforcement", "docket": "HO-26"},
    "agency": {"name": "Securities and Exchange Commission", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic"],
}

#: 101-emergency-uk-police-content.json
EMERGENCY_UK_POLICE_CONTENT: dict[str, Any] = {
    "process_type": "emergency_request",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {"kind": "police", "name": "Metropolitan Police Service", "docket": None},
    "agency": {"name": "Metropolitan Police Service", "country": "GB"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": True,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content"],
}

#: 105-agreement-uk-realtime-period-ended.json
AGREEMENT_UK_REALTIME_PERIOD_ENDED: dict[str, Any] = {
    "process_type": "agreement_order",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Judicial Commissioner, IPCO", "docket": "TI-26-11"},
    "agency": {"name": "NCA", "country": "GB"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-10-02T09:00:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net"}],
    "categories": ["realtime_content"],
    "agreement": "us_uk",
    "issued_on": "2026-10-01",
    "valid_until": "2026-10-30",
}

#: 107-epoc-greece-EL-code.json
EPOC_GREECE_EL_CODE: dict[str, Any] = {
    "process_type": "eu_production_order",
    "jurisdiction": {"regime": "eu", "country": "EL", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Anakritis, Athens", "docket": "AN-26"},
    "agency": {"name": "Hellenic Police", "country": "EL"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic"],
    "offence": {"description": "Computerbetrug, StGB 263a", "max_penalty_years": 5, "listed": None},
}

#: 108-uk-opo-country-UK.json
UK_OPO_COUNTRY_UK: dict[str, Any] = {
    "process_type": "agreement_order",
    "jurisdiction": {"regime": "uk", "country": "UK", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Crown Court at Southwark", "docket": "OPO-26-13"},
    "agency": {"name": "NCA", "country": "UK"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-20T14:05:00Z",
    "received_via": "email",
    "emergency": False,
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["stored_content"],
    "agreement": "us_uk",
}


#: The lawyer's malformed inputs (malformed/ in their set), byte for byte as text, with the field each must name
#: (their malformed-meta.json). 14 holds an integer of 5,000 nines, written here as an expression.
MALFORMED: dict[str, tuple[str, str]] = {
    "11-nan.json": (
        "emergency",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "emergency": NaN, "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
    "12-infinity-penalty.json": (
        "offence",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "offence": {"description": "x", "max_penalty_years": Infinity}}',
    ),
    "13-huge-number.json": (
        "offence",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "offence": {"description": "x", "max_penalty_years": 1e400}}',
    ),
    "14-big-int-penalty.json": (
        "offence",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "offence": {"description": "x", "max_penalty_years": '
        + "9" * 5000
        + "}}",
    ),
    "16-duplicate-nested-key.json": (
        "jurisdiction",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "regime": "eu", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
    "17-lone-surrogate.json": (
        "issuing_authority",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO \\ud800", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
    "30-process_type-int.json": (
        "process_type",
        '{"process_type": 5, "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
    "36-issuing_authority-kind-int.json": (
        "issuing_authority.kind",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": 1, "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
    "44-received_at-1999.json": (
        "received_at",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "1999-12-31T00:00:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
    "48-due_at-before-receipt.json": (
        "due_at",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "due_at": "2026-11-01"}',
    ),
    "54-issued-after-received.json": (
        "issued_on",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "issued_on": "2026-11-30"}',
    ),
    "75-voluntary_basis-int.json": (
        "voluntary_basis",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "voluntary_basis": 1}',
    ),
    "78-agreement-list.json": (
        "agreement",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1"}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"], "agreement": ["us_uk"]}',
    ),
    "80-official_level-int.json": (
        "issuing_authority.official_level",
        '{"process_type": "subpoena", "jurisdiction": {"regime": "us_federal", "country": "US", "region": null}, "issuing_authority": {"kind": "prosecutor", "name": "USAO", "docket": "GJ-1", "official_level": 3}, "agency": {"name": "FBI", "country": "US"}, "received_at": "2026-11-16T15:12:00Z", "received_via": "portal", "targets": [{"kind": "email", "value": "a@example.net"}], "categories": ["subscriber_basic"]}',
    ),
}
