"""`flask policy vocabulary`: every id a request document accepts, grouped by the field that takes it, with labels
(issue #13: an author who reads only the README and this list can write every case)."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from disclosure.policy.request_fields import COUNTRY_ALIASES
from disclosure.policy.vocabulary import (
    REQUEST_VOCABULARY,
    Agreement,
    AuthorityKind,
    Category,
    ListedOffence,
    OfficialLevel,
    ProcessType,
    ReceivedVia,
    Regime,
    TargetKind,
    VoluntaryBasis,
)
from disclosure.policy_cli import policy_cli


def vocabulary(*args: str) -> Result:
    return CliRunner().invoke(policy_cli, ["vocabulary", *args])


def test_every_field_that_takes_an_id_is_listed_with_all_its_ids() -> None:
    fields = {field: enum for field, _about, enum in REQUEST_VOCABULARY}
    assert fields == {
        "process_type": ProcessType,
        "jurisdiction.regime": Regime,
        "issuing_authority.kind": AuthorityKind,
        "issuing_authority.validated_by.kind": AuthorityKind,
        "issuing_authority.official_level": OfficialLevel,
        "received_via": ReceivedVia,
        "targets[].kind": TargetKind,
        "categories[]": Category,
        "offence.listed": ListedOffence,
        "voluntary_basis": VoluntaryBasis,
        "agreement": Agreement,
    }


def test_the_text_lists_each_id_beside_its_label() -> None:
    result = vocabulary()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for field, _about, enum in REQUEST_VOCABULARY:
        assert field in lines
        for member in enum:
            assert any(line.split() and line.split()[0] == member.value and member.label in line for line in lines), (
                member
            )
    assert "EL is read as GR" in result.stdout and "UK is read as GB" in result.stdout


def test_json_gives_the_same_for_machines() -> None:
    result = vocabulary("--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["process_type"]["ids"]["agreement_order"] == ProcessType.AGREEMENT_ORDER.label
    assert out["issuing_authority.kind"]["ids"]["attorney"] == "Attorney (civil subpoena)"
    assert out["jurisdiction.country"]["aliases"] == dict(COUNTRY_ALIASES)
    assert set(out) == {field for field, _about, _enum in REQUEST_VOCABULARY} | {"jurisdiction.country"}
