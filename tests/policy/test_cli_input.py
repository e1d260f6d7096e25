"""Input limits of `flask policy check` (issue #13): any bytes exit 0 or 2 with `error: …`, never a traceback.

`json_input` refuses what RFC 8259 or its limits exclude (over 1 MiB, not UTF-8, over 32 deep, NaN, duplicate
keys, overflowing numbers, unpaired surrogates) with a message that says what to fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure.policy.json_input import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    JsonInputError,
    load_json_document,
)
from disclosure.policy_cli import policy_cli
from tests.policy.blind_cases import MALFORMED
from tests.policy.factories import request_json

_FILE = "request.json"


def check_bytes(folder: Path, data: bytes) -> Result:
    path = folder / _FILE
    path.write_bytes(data)
    return CliRunner().invoke(policy_cli, ["check", str(path), "--today", "2026-11-27"])


def assert_refused(result: Result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, one `error: …` line on stderr holding every fragment, and no traceback."""
    assert (result.exit_code, result.stdout) == (2, ""), (result.exception, result.output)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def refusal(data: bytes) -> str:
    with pytest.raises(JsonInputError) as caught:
        load_json_document(data, source="in.json")
    return str(caught.value)


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


# The observations in issue #13.


def test_nesting_100000_deep_exits_2_naming_the_limit(tmp_path: Path) -> None:
    # On main this was a RecursionError: exit 1 and a traceback.
    assert_refused(check_bytes(tmp_path, nested(100_000)), "nested too deeply", f"the limit is {MAX_DEPTH} levels")


def test_deep_nesting_inside_a_valid_document_is_refused_too(tmp_path: Path) -> None:
    doc = json.dumps(request_json(reference="X")).replace('"X"', '{"a": ' * 50_000 + "1" + "}" * 50_000)
    assert_refused(check_bytes(tmp_path, doc.encode()), "nested too deeply", "line 1 column")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_request_documents_exit_2_asking_for_utf8(tmp_path: Path, encoding: str) -> None:
    # With a byte order mark ("utf-16", "utf-32") or without: json.loads accepted every one of them.
    utf8 = json.dumps(request_json()).encode()
    assert check_bytes(tmp_path, utf8).exit_code == 0
    assert_refused(check_bytes(tmp_path, json.dumps(request_json()).encode(encoding)), "UTF-8")


def test_a_utf8_byte_order_mark_is_refused(tmp_path: Path) -> None:
    result = check_bytes(tmp_path, b"\xef\xbb\xbf" + json.dumps(request_json()).encode())
    assert_refused(result, "UTF-8 byte order mark", "save it as UTF-8")


def test_a_document_over_1_mib_exits_2_naming_the_limit(tmp_path: Path) -> None:
    # Valid JSON padded with spaces: only the size is wrong.
    doc = json.dumps(request_json()).encode()
    result = check_bytes(tmp_path, doc + b" " * (MAX_DOCUMENT_BYTES + 1 - len(doc)))
    assert_refused(result, "more than 1,048,576 bytes", "1 MiB")


def test_a_document_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    doc = json.dumps(request_json()).encode()
    result = check_bytes(tmp_path, doc + b" " * (MAX_DOCUMENT_BYTES - len(doc)))
    assert result.exit_code == 0, result.output


def test_standard_input_has_the_same_limits() -> None:
    result = CliRunner().invoke(policy_cli, ["check", "-"], input=nested(100_000))
    assert_refused(result, "- is nested too deeply")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"a": NaN}', "contains NaN"),
        (b'{"a": 1, "a": 2}', 'the key "a" twice'),
        (b'{"a": 1e400}', "too large"),
        (b'{"a": ' + b"9" * 5000 + b"}", "5,000 digits"),
        (b'{"a": "\\udc00"}', "unpaired surrogate \\udc00"),
        (b'{"a": "\xff"}', "byte 0xff at offset 7"),
    ],
)
def test_each_refusal_of_the_loader_exits_2(tmp_path: Path, data: bytes, fragment: str) -> None:
    assert_refused(check_bytes(tmp_path, data), fragment)


# The loader's refusals, one by one, with what the user needs to fix each.


def test_depth_32_is_accepted_and_33_refused_at_its_position() -> None:
    assert load_json_document(nested(MAX_DEPTH), source="in.json") == json.loads(nested(MAX_DEPTH))
    assert refusal(nested(MAX_DEPTH + 1)) == (
        "in.json is nested too deeply: line 1 column 33 opens level 33; the limit is 32 levels"
    )
    objects = ('{"a":' * 33 + "1" + "}" * 33).encode()
    assert "level 33" in refusal(objects)
    assert "line 3 column 2 opens level 33" in refusal(b"[\n" + b"[" * 30 + b"\n[[[" + b"]" * 34)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"a": "[" * 100, "b": ['\\"{' * 100], "c": "\\" + "{" * 100})
    assert load_json_document(text.encode(), source="in.json") == json.loads(text)


def test_closed_levels_are_not_counted_twice() -> None:
    siblings = b"[" + b",".join([nested(MAX_DEPTH - 1)] * 100) + b"]"
    assert load_json_document(siblings, source="in.json") == json.loads(siblings)


def test_size_refusal_says_the_size_and_the_limit() -> None:
    assert refusal(b" " * 2_000_000 + b"1") == (
        "in.json is 2,000,001 bytes; the limit is 1,048,576 bytes (1 MiB): split it into smaller files"
    )


@pytest.mark.parametrize(
    ("encoding", "named"),
    [("utf-16", "UTF-16"), ("utf-32", "UTF-32"), ("utf-16-le", "NUL byte at offset 1"), ("utf-32-be", "offset 0")],
)
def test_utf16_and_utf32_are_refused_naming_them(encoding: str, named: str) -> None:
    message = refusal('{"a": 1}'.encode(encoding))
    assert named in message and "save it as UTF-8" in message


def test_undecodable_bytes_are_named_by_value_and_offset() -> None:
    assert refusal(b'["ok", "caf\xe9"]') == (
        "in.json is not UTF-8 text: byte 0xe9 at offset 11; save it as UTF-8 (without a byte order mark)"
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    assert refusal(f'{{"a": [1, {constant}]}}'.encode()) == (
        f"in.json contains {constant} at a[1], which JSON does not allow; write a number"
    )


def test_a_duplicate_key_is_named() -> None:
    assert refusal(b'{"targets": [{"kind": "email", "kind": "ip"}]}') == (
        'in.json has the key "kind" twice in one object, at targets[0].kind; keep one of them'
    )


def test_numbers_that_cannot_be_represented_are_refused() -> None:
    assert "1e400 at [0], too large" in refusal(b"[1e400]")
    assert "-1e400 at [0], too large" in refusal(b"[-1e400]")
    assert "has an integer of 5,000 digits at (document); the limit is 4,300" in refusal(b"-" + b"7" * 5000)
    assert load_json_document(b"[1e300, -0.0, 12345678901234567890]", source="in.json") == [
        1e300,
        -0.0,
        12345678901234567890,
    ]


def test_unpaired_surrogates_are_refused_and_pairs_read() -> None:
    assert "unpaired surrogate \\ud800 in a string at [0]," in refusal(b'["\\ud800"]')
    assert "unpaired surrogate \\udfff in a key of (document)," in refusal(b'{"\\udfff": 1}')
    assert "in a key of a[0]," in refusal(b'{"a": [{"\\udfff": 1}]}')
    assert load_json_document(b'"\\ud83d\\ude00"', source="in.json") == "\U0001f600"


def test_syntax_errors_name_the_line_and_column() -> None:
    assert refusal(b'{"a": 1,\n  "b": }') == "in.json is not valid JSON: line 2 column 8: Expecting value"
    assert refusal(b"") == "in.json is not valid JSON: line 1 column 1: Expecting value"


# Properties: whatever the bytes, exit 0 with an evaluation or exit 2 with one line of error.

_PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@st.composite
def mangled_json(draw: st.DrawFn) -> bytes:
    """A JSON text with up to four arbitrary bytes spliced in somewhere: nearly valid, often not UTF-8."""
    doc = json.dumps(draw(json_values)).encode()
    cut = draw(st.integers(0, len(doc)))
    return doc[:cut] + draw(st.binary(max_size=4)) + doc[cut:]


#: Fields of a valid request to overwrite with any JSON value: (key, ...) down from the document.
_FIELDS: list[tuple[str | int, ...]] = [
    *((key,) for key in sorted(request_json())),
    ("reference",),
    ("due_at",),
    ("valid_until",),
    ("emergency",),
    ("non_disclosure_order",),
    ("jurisdiction", "country"),
    ("jurisdiction", "regime"),
    ("issuing_authority", "kind"),
    ("agency", "name"),
    ("targets", 0),
    ("targets", 0, "kind"),
    ("targets", 0, "value"),
    ("targets", 0, "from"),
    ("categories", 0),
]


@st.composite
def requests_with_any_field(draw: st.DrawFn) -> Any:
    doc: Any = request_json()
    *parents, last = draw(st.sampled_from(_FIELDS))
    holder = doc
    for step in parents:
        holder = holder[step]
    holder[last] = draw(json_values)
    return [doc] if draw(st.booleans()) else doc


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_input")


def assert_answered(result: Result) -> None:
    assert result.exit_code in (0, 2), (result.exception, result.output)
    assert "Traceback" not in result.stderr
    if result.exit_code == 0:
        assert isinstance(json.loads(result.stdout), dict | list)
    else:
        assert_refused(result)


@_PROPERTIES
@given(value=json_values)
def test_any_json_value_exits_0_or_2(folder: Path, value: Any) -> None:
    assert_answered(check_bytes(folder, json.dumps(value, ensure_ascii=False).encode()))


@_PROPERTIES
@given(data=st.binary(max_size=300) | mangled_json())
def test_any_bytes_exit_0_or_2(folder: Path, data: bytes) -> None:
    assert_answered(check_bytes(folder, data))


@_PROPERTIES
@given(doc=requests_with_any_field())
def test_a_request_with_any_value_in_any_field_exits_0_or_2(folder: Path, doc: Any) -> None:
    assert_answered(check_bytes(folder, json.dumps(doc, ensure_ascii=False).encode()))


# The lawyer's malformed inputs (issue #13's blind check): each names the field it is in, by its full path.


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("11-nan.json", "request.json contains NaN at emergency, which JSON does not allow; write a number"),
        (
            "12-infinity-penalty.json",
            "request.json contains Infinity at offence.max_penalty_years, which JSON does not allow; write a number",
        ),
        (
            "13-huge-number.json",
            "request.json has the number 1e400 at offence.max_penalty_years, too large to represent; write a "
            "smaller number",
        ),
        (
            "14-big-int-penalty.json",
            "request.json has an integer of 5,000 digits at offence.max_penalty_years; the limit is 4,300: write "
            "a shorter number",
        ),
        (
            "16-duplicate-nested-key.json",
            'request.json has the key "regime" twice in one object, at jurisdiction.regime; keep one of them',
        ),
        (
            "17-lone-surrogate.json",
            "request.json has an unpaired surrogate \\ud800 in a string at issuing_authority.name, which is no "
            "character; write the character itself or a surrogate pair",
        ),
    ],
)
def test_the_lawyers_malformed_json_names_the_field(tmp_path: Path, name: str, message: str) -> None:
    field, text = MALFORMED[name]
    result = check_bytes(tmp_path, text.encode("utf-8", "surrogatepass"))
    assert_refused(result, field)
    assert result.stderr == f"error: {tmp_path}/{message}\n"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("30-process_type-int.json", "process_type: unknown process type: expected text, got a number; use one of: "),
        (
            "36-issuing_authority-kind-int.json",
            "issuing_authority.kind: unknown issuing authority kind: expected text, got a number; use one of: judge",
        ),
        ("75-voluntary_basis-int.json", "voluntary_basis: unknown voluntary basis: expected text, got a number"),
        ("78-agreement-list.json", "agreement: unknown agreement: expected text, got a list; use one of: us_uk, us_au"),
        (
            "80-official_level-int.json",
            "issuing_authority.official_level: unknown official level: expected text, got a number; use one of: ",
        ),
    ],
)
def test_a_value_that_is_not_text_reads_well(tmp_path: Path, name: str, message: str) -> None:
    field, text = MALFORMED[name]
    assert_refused(check_bytes(tmp_path, text.encode()), f"error: {message}", field)


def test_a_problem_in_a_list_of_requests_names_the_record() -> None:
    doc = json.dumps([request_json(), request_json()]).replace('"kind": "email"', '"kind": "email", "kind": "ip"', 1)
    assert refusal(doc.encode()) == (
        'in.json has the key "kind" twice in one object, at [0].targets[0].kind; keep one of them'
    )
    assert refusal(b'[{"a": [1, {"b": NaN}]}]') == (
        "in.json contains NaN at [0].a[1].b, which JSON does not allow; write a number"
    )


def test_the_first_problem_in_the_document_is_the_one_named() -> None:
    assert "at a," in refusal(b'{"a": NaN, "b": 1e999, "c": {"d": 1, "d": 2}}')
    assert "at b," in refusal(b'{"a": 1, "b": 1e999, "c": {"d": 1, "d": 2}}')
    assert "at c.d[0]," in refusal(b'{"c": {"d": [NaN], "d": 2}}')
