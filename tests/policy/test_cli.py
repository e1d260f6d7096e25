"""`flask policy check`: the README's examples evaluate (exit 0); malformed input exits 2 naming the field."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

import disclosure.policy
from disclosure.policy.loader import default_policy
from disclosure.policy_cli import policy_cli
from tests.policy.factories import request_json

EXAMPLES = Path(disclosure.policy.__file__).with_name("examples")


def check(*args: str) -> Result:
    # The bare group, with no Flask app or app context anywhere: `check` must not need one.
    return CliRunner().invoke(policy_cli, ["check", *args])


def verdicts(output: str) -> dict[str, str]:
    return {c["category"]: c["verdict"] for c in json.loads(output)["categories"]}


def test_subpoena_for_stored_content_example() -> None:
    result = check(str(EXAMPLES / "subpoena-stored-content.json"), "--today", "2026-11-27")
    assert result.exit_code == 0, result.output
    assert verdicts(result.stdout) == {"subscriber_basic": "permitted", "stored_content": "exceeds_process"}
    assert json.loads(result.stdout)["policy_version"] == default_policy().sha256


def test_emergency_content_example() -> None:
    result = check(str(EXAMPLES / "emergency-content.json"), "--today", "2026-11-27")
    assert result.exit_code == 0, result.output
    assert verdicts(result.stdout) == {
        "subscriber_basic": "permitted",
        "account_records": "permitted",
        "stored_content": "no_policy_ground",
    }
    assert "emergency_content_no_ground" in [w["id"] for w in json.loads(result.stdout)["warnings"]]


def test_search_warrant_example() -> None:
    result = check(str(EXAMPLES / "search-warrant.json"), "--today", "2026-11-27")
    assert result.exit_code == 0, result.output
    assert set(verdicts(result.stdout).values()) == {"permitted"}
    assert [w["id"] for w in json.loads(result.stdout)["warnings"]] == ["non_disclosure_order"]


def test_output_is_indented_with_sorted_keys() -> None:
    result = check(str(EXAMPLES / "search-warrant.json"))
    assert result.exit_code == 0
    expected = json.dumps(json.loads(result.stdout), indent=2, sort_keys=True, ensure_ascii=False)
    assert result.stdout == expected + "\n"


def test_today_option_drives_the_non_disclosure_orders_expiry_not_the_warrants() -> None:
    """The warrant was served inside its window, so passing the window later changes nothing; the
    non-disclosure order's end is judged against --today."""
    later = check(str(EXAMPLES / "search-warrant.json"), "--today", "2027-06-01")
    ids = [w["id"] for w in json.loads(later.stdout)["warnings"]]
    assert ids == ["non_disclosure_order_expired"]
    assert set(verdicts(later.stdout).values()) == {"permitted"}


def test_a_list_gives_a_list_of_evaluations(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    subpoena = request_json(process_type="subpoena", categories=["stored_content"])
    path.write_text(json.dumps([request_json(), subpoena]))
    result = check(str(path))
    assert result.exit_code == 0
    verdicts = [e["categories"][0]["verdict"] for e in json.loads(result.stdout)]
    assert verdicts == ["permitted", "exceeds_process"]


def test_malformed_request_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(request_json(targets=[{"kind": "handle", "value": "x"}])))
    result = check(str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: targets[0].kind: unknown target kind 'handle'; use one of: email")


def test_bad_record_in_a_list_names_its_index(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([request_json(), request_json(categories=["everything"])]))
    result = check(str(path))
    assert (result.exit_code, result.stderr.split(":")[1].strip()) == (2, "[1].categories[0]")


def test_unknown_key_and_unknown_process(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(request_json(priority="high")))
    assert check(str(path)).stderr.startswith("error: priority: unknown key")
    path.write_text(json.dumps(request_json(process_type="letter")))
    assert check(str(path)).stderr.startswith("error: process_type: unknown process type 'letter'")


def test_invalid_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"process_type": "subpoena",\n  "categories": [}\n')
    result = check(str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path} is not valid JSON: line 2 column")


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = check(str(tmp_path / "missing.json"))
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot read {tmp_path / 'missing.json'}: No such file or directory\n"


def test_not_utf8_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "\xe9"}')
    result = check(str(path))
    assert (result.exit_code, result.stderr.strip()) == (
        2,
        f"error: {path} is not UTF-8 text: byte 0xe9 at offset 10; save it as UTF-8 (without a byte order mark)",
    )


def test_the_real_command_runs_where_the_app_cannot_start(tmp_path: Path) -> None:
    """`flask policy check` in a folder with no instance (no secret key): it was a ConfigError traceback, exit 1."""
    import os
    import subprocess
    import sys

    flask = Path(sys.executable).with_name("flask")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCLOSURE_")}
    env["FLASK_APP"] = "wsgi"
    example = str(EXAMPLES / "subpoena-stored-content.json")
    done = subprocess.run(
        [str(flask), "policy", "check", example, "--today", "2026-11-27"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert verdicts(done.stdout) == {"subscriber_basic": "permitted", "stored_content": "exceeds_process"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"process_type": "letter_from_mom"}')
    refused = subprocess.run(
        [str(flask), "policy", "check", str(bad)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and refused.stderr.startswith("error: ")
    assert "Traceback" not in refused.stderr
