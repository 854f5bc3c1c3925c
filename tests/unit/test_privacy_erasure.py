"""Erased identifiers: salted digests, rows of erased people dropped, matching in Parquet and quarantined rows."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest
from cdp.privacy.erase_objects import Matcher
from cdp.privacy.erasure import drop_erased, drop_erased_links, identifier_digest, row_digests

from tests.fakes import FakeErasedRegister

SALT = "s3cret"


def test_the_digest_is_sha256_of_salt_type_and_value_as_stored() -> None:
    # Given / When / Then
    assert identifier_digest(SALT, ("email", "a@b.co")) == hashlib.sha256(b"s3cretemail#a@b.co").hexdigest()
    assert row_digests(SALT, {"email": " A@B.co ", "phone": None}) == {identifier_digest(SALT, ("email", "a@b.co"))}
    assert row_digests(SALT, {"email": "null", "customer_id": ""}) == set()


@pytest.fixture
def register() -> FakeErasedRegister:
    return FakeErasedRegister({identifier_digest(SALT, ("email", "gone@example.com")), identifier_digest(SALT, ("customer_id", "C9"))})


def test_rows_carrying_any_erased_identifier_are_dropped_in_one_read(register: FakeErasedRegister) -> None:
    # Given: rows by erased email (other case), erased customer id, someone else, and a guest
    rows = [{"email": "Gone@Example.com"}, {"customer_id": "C9", "email": "new@example.com"},
            {"customer_id": "C1", "email": "kept@example.com"}, {"email": None}]
    # When
    kept, dropped = drop_erased(register, rows, SALT)
    # Then
    assert (kept, dropped, register.reads) == (rows[2:], 2, 1)


def test_identifier_sets_holding_an_erased_identifier_are_not_linked_in_one_read(register: FakeErasedRegister) -> None:
    # Given: a set with the erased customer id, one with the erased email in other case, and someone else's
    links = [[("customer_id", "C9"), ("anonymous_id", "a1")], [("email", " GONE@example.com")],
             [("customer_id", "C1"), ("anonymous_id", "a2")]]  # fmt: skip
    # When
    kept = drop_erased_links(register, links, SALT)
    # Then
    assert (kept, register.reads) == ([links[2]], 1)


def test_nothing_erased_keeps_every_row(register: FakeErasedRegister) -> None:
    # Given / When / Then
    assert drop_erased(register, [{"email": "x@example.com"}], SALT) == ([{"email": "x@example.com"}], 0)


def test_matching_finds_the_person_in_parquet_columns_and_anywhere_in_a_quarantined_row() -> None:
    # Given
    matcher = Matcher(SALT, {identifier_digest(SALT, ("email", "gone@example.com")), identifier_digest(SALT, ("phone", "+447700900123"))}, "GB")
    table = pa.table({"customer_id": ["C1", "C2", None], "email": ["gone@example.com", "x@example.com", None],
                      "phone": [None, "+447700900123", None]})
    # When / Then
    assert matcher.table_mask(table).to_pylist() == [True, True, False]
    assert matcher.record_matches({"line": 3, "row": {"E-Mail": " GONE@example.com", "n": ["a"]}})
    assert not matcher.record_matches({"line": 4, "row": {"email": "someone@example.com"}})
    assert matcher.record_matches({"line": 5, "row": {"Tel": "07700 900-123"}})  # national, in the default region
