"""Cleaning rules on raw CSV bytes: standardised values, one reason per rejected row, nothing lost."""

from __future__ import annotations

import gzip

import pytest
from cdp.clean.entities import CUSTOMERS, ORDERS
from cdp.clean.table import UnreadableFile, clean_table
from cdp.ingest.file_reader import read_csv_rows

CUSTOMER_HEADER = b"customer_id,email,phone,first_name,last_name,country,city,signup_at,email_consent,sms_consent\n"
ORDER_HEADER = b"order_id,customer_id,ordered_at,currency,total_amount,items,category,status\n"


def _clean(spec, data: bytes):
    raw = read_csv_rows(data)
    return raw, clean_table(spec, raw.table, raw.lines)


def test_customer_values_are_standardised() -> None:
    # Given: one customer written the way shop exports write them
    data = CUSTOMER_HEADER + b"C1, Ann.Lee@Example.COM ,07700 900123,Ann,Lee,gb,London,2025-03-04 10:15:00,YES,0\n"
    # When
    _, result = _clean(CUSTOMERS, data)
    # Then
    row = result.accepted.to_pylist()[0]
    assert (row["email"], row["phone"], row["country"]) == ("ann.lee@example.com", "+447700900123", "GB")
    assert (row["email_consent"], row["sms_consent"]) == (True, False)
    assert row["signup_at"].isoformat() == "2025-03-04T10:15:00+00:00"


@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [("(415) 555-0123", "US", "+14155550123"), ("138 0013 8000", "CN", "+8613800138000"),
     ("+49 151 23456789", "DE", "+4915123456789"), ("0049 151 23456789", "DE", "+4915123456789")],
)
def test_phones_become_e164_in_the_rows_country(phone: str, country: str, expected: str) -> None:
    # Given / When
    _, result = _clean(CUSTOMERS, CUSTOMER_HEADER + f"C1,a@b.co,{phone},A,B,{country},X,,,\n".encode())
    # Then
    assert result.accepted.column("phone").to_pylist() == [expected]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (b",a@b.co,,A,B,GB,X,,,", "missing_customer_id"),
        (b"C1,not-an-email,,A,B,GB,X,,,", "invalid_email"),
        (b"C1,a@b.co,12,A,B,GB,X,,,", "invalid_phone"),
        (b"C1,a@b.co,,A,B,ZZ,X,,,", "invalid_country"),
        (b"C1,a@b.co,,A,B,GB,X,2024-02-31T10:00:00Z,,", "invalid_timestamp"),
        (b"C1,a@b.co,,A,B,GB,X,yesterday,,", "invalid_timestamp"),
        (b"C1,a@b.co,,A,B,GB,X,,maybe,", "invalid_consent"),
    ],
)
def test_each_fault_has_its_reason(row: bytes, reason: str) -> None:
    # Given / When
    raw, result = _clean(CUSTOMERS, CUSTOMER_HEADER + row + b"\n")
    # Then
    assert [(r.line, r.reason) for r in result.rejected] == [(2, reason)]
    assert raw.rows_in == result.accepted.num_rows + len(result.rejected)


def test_orders_reject_bad_amounts_currencies_duplicates_and_malformed_lines() -> None:
    # Given: a gzip export with one good order and one of each fault
    data = gzip.compress(
        ORDER_HEADER
        + b"O1,C1,2024-01-01T10:00:00Z,gbp,12.50,2,books,completed\n"
        + b"O2,C1,2024-01-01T10:00:00Z,GBP,-3,1,books,completed\n"
        + b"O3,C1,2024-01-01T10:00:00Z,EURO,3,1,books,completed\n"
        + b"O4,C1,2024-01-01T10:00:00Z,GBP,abc,1,books,completed\n"
        + b"O1,C1,2024-01-01T10:00:00Z,GBP,12.50,2,books,completed\n"
        + b"O5,C1,2024-01-01T10:00:00Z,GBP,1,1,books,completed,extra\n"
        + b"O6,C1,2024-01-01T10:00:00Z,GBP,1,1,books,lost\n"
    )
    # When
    raw, result = _clean(ORDERS, data)
    # Then
    reasons = sorted((r.line, r.reason) for r in raw.malformed + result.rejected)
    assert reasons == [(3, "negative_amount"), (4, "invalid_currency"), (5, "invalid_amount"), (6, "duplicate_key"),
                       (7, "malformed_row"), (8, "invalid_status")]
    assert result.accepted.column("currency").to_pylist() == ["GBP"]
    assert raw.rows_in == 7 == result.accepted.num_rows + len(raw.malformed) + len(result.rejected)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty_file"), (b"   \n", "empty_file"), (CUSTOMER_HEADER, "no_rows"), (b"\x1f\x8b\x08\x00garbage", "corrupt_gzip"),
     (b"\xff\xfe\x00binary\x00\n1,2\n", "not_utf8"), (b"a,a\n1,2\n", "bad_header")],
)
def test_unreadable_files_are_refused_whole_with_a_reason(data: bytes, reason: str) -> None:
    # Given / When / Then
    with pytest.raises(UnreadableFile) as refused:
        read_csv_rows(data)
    assert refused.value.reason == reason


def test_a_file_without_the_entitys_columns_is_refused() -> None:
    # Given
    raw = read_csv_rows(b"id,name\n1,x\n")
    # When / Then
    with pytest.raises(UnreadableFile, match="missing_columns"):
        clean_table(CUSTOMERS, raw.table, raw.lines)
