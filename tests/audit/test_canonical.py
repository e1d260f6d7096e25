"""Canonical JSON of audit bodies and the leaf/chain hash definitions."""

from __future__ import annotations

import enum
import hashlib
import json
from collections import OrderedDict
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disclosure.audit.canonical import (
    GENESIS_CHAIN,
    MAX_DEPTH,
    NonCanonicalValue,
    canonical_json,
    chain_hash,
    leaf_hash,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_sorted_keys_and_no_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, 2, {"d": None, "c": True}]}) == (b'{"a":[1,2,{"c":true,"d":null}],"b":1}')


def test_key_order_of_input_does_not_matter() -> None:
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_unicode_is_kept_as_utf8_not_escaped() -> None:
    out = canonical_json({"name": "Zoë — 東京 🔒"})
    assert out == '{"name":"Zoë — 東京 🔒"}'.encode()
    assert b"\\u" not in out


def test_control_characters_and_quotes_are_escaped() -> None:
    assert canonical_json('a"b\\c\n\x00') == b'"a\\"b\\\\c\\n\\u0000"'


def test_tuples_encode_like_lists() -> None:
    assert canonical_json((1, "x")) == canonical_json([1, "x"]) == b'[1,"x"]'


def test_scalars() -> None:
    assert canonical_json(None) == b"null"
    assert canonical_json(False) == b"false"
    assert canonical_json(-(2**70)) == b"-1180591620717411303424"
    assert canonical_json("") == b'""'


class Colour(enum.IntEnum):
    RED = 1


class Tag(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        float("nan"),
        float("inf"),
        {"k": 0.5},
        [1, [2, [3.5]]],
        b"bytes",
        bytearray(b"x"),
        {1, 2},
        frozenset(),
        {1: "int key"},
        {("t",): 1},
        {None: 1},
        Decimal("1.5"),
        Colour.RED,
        Tag("subclass"),
        OrderedDict(a=1),
        object(),
        "\ud800",  # lone surrogate: no UTF-8 form
    ],
)
def test_refused_values(value: object) -> None:
    with pytest.raises(NonCanonicalValue):
        canonical_json(value)
    assert issubclass(NonCanonicalValue, ValueError)


def test_float_error_names_the_problem() -> None:
    with pytest.raises(NonCanonicalValue, match=r"float 1\.5 is not allowed"):
        canonical_json({"amount": 1.5})


def test_deep_nesting_and_cycles_are_refused_cleanly() -> None:
    deep: object = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(NonCanonicalValue):
        canonical_json(deep)
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(NonCanonicalValue):
        canonical_json(cyclic)


def reversed_insertion(value: object) -> object:
    """The same JSON value with every dict built in the opposite key order."""
    if isinstance(value, dict):
        return {k: reversed_insertion(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_insertion(v) for v in value]
    return value


@given(json_values)
def test_encoding_is_a_function_of_the_value_only(value: object) -> None:
    encoded = canonical_json(value)
    assert json.loads(encoded.decode("utf-8")) == value
    assert canonical_json(json.loads(encoded)) == encoded
    assert canonical_json(reversed_insertion(value)) == encoded


def test_leaf_hash_is_rfc6962_leaf() -> None:
    body = b'{"a":1}'
    assert leaf_hash(body) == hashlib.sha256(b"\x00" + body).digest()
    # Published RFC 6962 leaf hash of the empty entry (transparency-dev/merkle constants).
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def test_chain_hash_definition() -> None:
    leaf = leaf_hash(b"{}")
    expected = hashlib.sha256(b"disclosure-audit-v1\x00" + GENESIS_CHAIN + leaf).digest()
    assert chain_hash(GENESIS_CHAIN, leaf) == expected
    assert GENESIS_CHAIN == b"\x00" * 32
    second = chain_hash(expected, leaf)
    assert second != expected  # position matters, not just content
    with pytest.raises(ValueError):
        chain_hash(b"short", leaf)
    with pytest.raises(ValueError):
        chain_hash(GENESIS_CHAIN, b"short")
