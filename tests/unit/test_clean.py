"""Cleaning rules on raw CSV bytes read through the canonical mappings: standardised values, one machine-readable
reason per rejected row, nothing lost."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from cdp.clean.entities import ENTITIES, LONG_TEXT_BYTES, MAX_FIELD_BYTES, MAX_ROW_BYTES
from cdp.clean.table import CleanResult, FileKeys, UnreadableFile, clean_table
from cdp.ingest.file_reader import RawRows, read_csv_rows
from cdp.ingest.mappings import SourceMapping, apply_mapping, mapping_for

# The contract's canonical columns, written out here so that a drift in ENTITIES fails this test.
CONTRACT_COLUMNS = {
    "customers": "customer_id email phone anonymous_id first_name last_name birthday gender language timezone country "
    "province city region_code signup_at email_consent sms_consent push_endpoint",
    "orders": "order_id line_id customer_id email phone anonymous_id ordered_at currency sku product_name category brand "
    "quantity unit_price line_amount status channel country region_code coupon",
    "returns": "return_id line_id order_id customer_id email phone returned_at currency sku quantity amount reason",
    "events": "event_id event occurred_at customer_id anonymous_id email properties",
    "tickets": "ticket_id customer_id email phone opened_at updated_at status channel subject rating",
    "feedback": "response_id customer_id email phone responded_at kind score comment",
    "consents": "customer_id email phone channel purpose granted recorded_at source",
    "loyalty": "entry_id customer_id occurred_at points tier expires_at reason",
}
CONTRACT_REQUIRED = {
    "customers": {"customer_id"},
    "orders": {"order_id", "line_id", "ordered_at", "currency", "status"},
    "returns": {"return_id", "line_id", "returned_at", "currency", "amount"},
    "events": {"event_id", "event", "occurred_at"},
    "tickets": {"ticket_id", "opened_at", "updated_at", "status"},
    "feedback": {"response_id", "responded_at", "kind", "score"},
    "consents": {"channel", "purpose", "granted", "recorded_at"},
    "loyalty": {"entry_id", "customer_id", "occurred_at"},
}
CUSTOMER_HEADER = "customer_id,email,phone,first_name,last_name,country,province,city,signup_at,email_consent,sms_consent"
ORDER_HEADER = "order_id,line_id,customer_id,ordered_at,currency,sku,quantity,unit_price,line_amount,status"


def _clean(entity: str, data: bytes | str, mapping: SourceMapping | None = None) -> tuple[RawRows, CleanResult]:
    raw = read_csv_rows(data.encode() if isinstance(data, str) else data)
    chosen = mapping or mapping_for(f"{entity}/file.csv", None)
    return raw, clean_table(ENTITIES[entity], apply_mapping(chosen, raw.table), raw.lines)


def _customer(**values: str) -> str:
    row = {"customer_id": "C1", "email": "a@b.co", "country": "GB"} | values
    return CUSTOMER_HEADER + "\n" + ",".join(row.get(name, "") for name in CUSTOMER_HEADER.split(",")) + "\n"


def _order(**values: str) -> str:
    row = {
        "order_id": "O1", "line_id": "1", "customer_id": "C1", "ordered_at": "2024-01-01T10:00:00Z",
        "currency": "GBP", "quantity": "2", "unit_price": "3.50", "status": "completed",
    } | values  # fmt: skip
    return ",".join(row.get(name, "") for name in ORDER_HEADER.split(","))


@pytest.mark.parametrize("entity", sorted(CONTRACT_COLUMNS))
def test_each_entity_has_the_contracts_columns_required_fields_and_types(entity: str) -> None:
    # Given
    spec = ENTITIES[entity]
    # When: an empty canonical table is cleaned
    raw = pa.table({name: pa.array([], pa.string()) for name in spec.column_names})
    accepted = clean_table(spec, raw, pa.array([], pa.int64())).accepted
    # Then
    assert accepted.column_names == CONTRACT_COLUMNS[entity].split() + ["source_line"]
    assert set(spec.required) == CONTRACT_REQUIRED[entity]
    types = {field.name: field.type for field in accepted.schema}
    for name, kind in types.items():
        if name.endswith("_at"):
            assert kind == pa.timestamp("us", tz="UTC"), name
        if name in ("unit_price", "line_amount", "amount"):
            assert kind == pa.decimal128(18, 4), name
        if name in ("quantity", "points", "score", "rating", "source_line"):
            assert kind == pa.int64(), name


def test_customer_values_are_standardised() -> None:
    # Given: one customer written the way shop exports write them
    data = CUSTOMER_HEADER + (
        "\nC1, Ann.Lee@Example.COM ,07700 900123,Ann,Lee,United Kingdom,,Manchester,2025-03-04 10:15:00,YES,0\n"
    )
    # When
    _, result = _clean("customers", data)
    # Then
    [row] = result.accepted.to_pylist()
    assert (row["email"], row["phone"], row["country"]) == ("ann.lee@example.com", "+447700900123", "GB")
    assert (row["email_consent"], row["sms_consent"], row["region_code"]) == (True, False, "GB-MAN")
    assert row["signup_at"] == datetime(2025, 3, 4, 10, 15, tzinfo=UTC)
    assert row["source_line"] == 2


def test_customer_profile_columns_are_normalised() -> None:
    # Given: the customers columns beyond the old layout
    data = (
        "customer_id,birthday,gender,language,timezone,anonymous_id\n"
        "C1,1990-02-28, Female ,en_gb,europe/london,anon-1\n"
        "C2,,OTHER,zh-hans-cn,Asia/Shanghai,\n"
    )
    # When
    _, result = _clean("customers", data)
    # Then
    rows = result.accepted.to_pylist()
    assert [(r["birthday"], r["gender"], r["language"], r["timezone"]) for r in rows] == [
        (date(1990, 2, 28), "female", "en-GB", "Europe/London"),
        (None, "other", "zh-Hans-CN", "Asia/Shanghai"),
    ]


@pytest.mark.parametrize(
    ("email", "expected"),
    [("Ann@Bücher.DE", "ann@xn--bcher-kva.de"), ("x@例え.jp", "x@xn--r8jz45g.jp"), (" a.b+tag@Sub.Example.org ", "a.b+tag@sub.example.org")],
)
def test_emails_are_lowercased_with_punycode_domains(email: str, expected: str) -> None:
    # Given / When
    _, result = _clean("customers", _customer(email=email))
    # Then
    assert result.accepted.column("email").to_pylist() == [expected]


@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [("(415) 555-0123", "US", "+14155550123"), ("138 0013 8000", "CN", "+8613800138000"),
     ("+49 151 23456789", "DE", "+4915123456789"), ("0049 151 23456789", "DE", "+4915123456789"),
     ("06 12 34 56 78", "France", "+33612345678"), ("020 7946 0958", "GBR", "+442079460958")],
)  # fmt: skip
def test_phones_become_e164_in_the_rows_country(phone: str, country: str, expected: str) -> None:
    # Given / When
    _, result = _clean("customers", _customer(phone=phone, country=country))
    # Then
    assert result.accepted.column("phone").to_pylist() == [expected]


def test_national_phones_without_a_country_use_the_mappings_phone_region() -> None:
    # Given: a mapping for an Australian shop
    mapping = mapping_for("customers/x.csv", None).model_copy(
        update={"defaults": mapping_for("customers/x.csv", None).defaults.model_copy(update={"phone_region": "AU"})}
    )
    # When
    _, result = _clean("customers", _customer(phone="0412 345 678", country=""), mapping)
    # Then
    assert result.accepted.column("phone").to_pylist() == ["+61412345678"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
     ("2024-01-01 10:00:00+02:00", datetime(2024, 1, 1, 8, tzinfo=UTC)),
     ("2024-07-01T10:00:00.250-0530", datetime(2024, 7, 1, 15, 30, 0, 250000, tzinfo=UTC)),
     ("2024-07-01 10:00", datetime(2024, 7, 1, 10, tzinfo=UTC)),
     ("2024-07-01", datetime(2024, 7, 1, tzinfo=UTC))],
)  # fmt: skip
def test_iso_timestamps_become_utc(value: str, expected: datetime) -> None:
    # Given / When
    _, result = _clean("customers", _customer(signup_at=value))
    # Then
    assert result.accepted.column("signup_at").to_pylist() == [expected]


def test_naive_timestamps_are_read_in_the_mappings_timezone_and_formats() -> None:
    # Given: a London shop exporting US-style dates
    canonical = mapping_for("customers/x.csv", None)
    defaults = canonical.defaults.model_copy(update={"timezone": "Europe/London", "timestamp_formats": ("%m/%d/%Y %H:%M",)})
    mapping = canonical.model_copy(update={"defaults": defaults})
    data = CUSTOMER_HEADER + "\n" + "\n".join(
        f"C{i},,,,,GB,,,{value},," for i, value in enumerate(["12/1/2010 8:26", "7/1/2011 8:26", "3/27/2011 1:30", "2011-07-01T08:26:00Z"])
    ) + "\n"
    # When
    _, result = _clean("customers", data, mapping)
    # Then: winter GMT, summer BST, the hour that does not exist moves forward, explicit offsets win
    assert result.accepted.column("signup_at").to_pylist() == [
        datetime(2010, 12, 1, 8, 26, tzinfo=UTC), datetime(2011, 7, 1, 7, 26, tzinfo=UTC),
        datetime(2011, 3, 27, 1, 0, tzinfo=UTC), datetime(2011, 7, 1, 8, 26, tzinfo=UTC),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("country", "province", "city", "expected"),
    [("CN", "广东省", "", "440000"), ("CN", "Guangdong Sheng", "深圳市", "440300"), ("China", "", "Xi'an", "610100"),
     ("", "", "北京市", "110000"), ("US", "CA", "", "US-CA"), ("USA", "California", "Springfield", "US-CA"),
     ("GB", "", "Edinburgh", "GB-EDH"), ("GB", "", "Nowhere", None)],
)  # fmt: skip
def test_city_and_province_give_the_region_code(country: str, province: str, city: str, expected: str | None) -> None:
    # Given / When
    _, result = _clean("customers", _customer(country=country, province=province, city=city))
    # Then: a place the table does not know leaves the code empty, the row is kept
    assert result.accepted.column("region_code").to_pylist() == [expected]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"customer_id": " "}, "missing:customer_id"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"email": "a@" + "b" * 70 + ".com"}, "invalid_email"),
        ({"phone": "12"}, "invalid_phone"),
        ({"country": "ZZ"}, "unknown_country"),
        ({"country": "Atlantis"}, "unknown_country"),
        ({"signup_at": "2024-02-31T10:00:00Z"}, "invalid_timestamp"),
        ({"signup_at": "yesterday"}, "invalid_timestamp"),
        ({"email_consent": "maybe"}, "invalid:email_consent"),
    ],
)
def test_each_customer_fault_has_its_reason(values: dict[str, str], reason: str) -> None:
    # Given / When
    raw, result = _clean("customers", _customer(**values))
    # Then
    assert [(r.line, r.reason) for r in result.rejected] == [(2, reason)]
    assert raw.rows_in == result.accepted.num_rows + len(result.rejected)


def test_order_lines_keep_cancellations_and_derive_their_amount() -> None:
    # Given: a sale, a cancelled line with a negative quantity, and a line that states its own amount
    data = "\n".join([
        ORDER_HEADER,
        _order(),
        _order(order_id="C1", quantity="-2", status="cancelled"),
        _order(line_id="2", quantity="3", unit_price="", line_amount="9.99", currency="gbp"),
    ]) + "\n"  # fmt: skip
    # When
    _, result = _clean("orders", data)
    # Then
    rows = result.accepted.to_pylist()
    assert [(r["quantity"], r["line_amount"], r["status"]) for r in rows] == [
        (2, Decimal("7.0000"), "completed"), (-2, Decimal("-7.0000"), "cancelled"), (3, Decimal("9.9900"), "completed")
    ]  # fmt: skip
    assert result.rejected == []


@pytest.mark.parametrize(
    ("price", "expected"),
    [("+5", Decimal("5")), (".5", Decimal("0.5")), ("12.3456", Decimal("12.3456")), ("1e3", None), ("1.23456", None),
     ('"1,000.00"', None), ("9" * 300, None), ("123456789.1234", Decimal("123456789.1234"))],
)  # fmt: skip
def test_money_is_read_exactly_or_refused(price: str, expected: Decimal | None) -> None:
    # Given: a file whose only price is this one (the whole-column fast path) and the same price beside a bad one
    alone = ORDER_HEADER + "\n" + _order(unit_price=price, quantity="1") + "\n"
    mixed = alone + _order(line_id="2", unit_price="bad") + "\n"
    # When
    results = [_clean("orders", data)[1] for data in (alone, mixed)]
    # Then: both paths agree
    for result in results:
        prices = dict(zip(result.accepted.column("line_id").to_pylist(), result.accepted.column("unit_price").to_pylist()))
        assert prices.get("1") == expected
        assert ("invalid:unit_price" in [r.reason for r in result.rejected if r.row["line_id"] == "1"]) == (expected is None)


def test_guest_order_lines_are_kept() -> None:
    # Given: a line with no identifier at all
    _, result = _clean("orders", ORDER_HEADER + "\n" + _order(customer_id="") + "\n")
    # Then
    assert result.accepted.column("customer_id").to_pylist() == [None]


def test_order_faults_duplicates_and_malformed_lines_each_have_their_reason() -> None:
    # Given: a gzip export with one good line and one of each fault
    lines = [
        _order(),
        _order(line_id="2", currency="EURO"),
        _order(line_id="3", unit_price="abc"),
        _order(),
        _order(line_id="4") + ",extra",
        _order(line_id="5", status="lost"),
        _order(line_id="6", quantity="5000000"),
        _order(line_id="7", unit_price="-1"),
        _order(line_id="", sku=""),
        _order(line_id="9", ordered_at=""),
    ]
    data = gzip.compress(("\n".join([ORDER_HEADER, *lines]) + "\n").encode())
    # When
    raw, result = _clean("orders", data)
    # Then
    reasons = sorted((r.line, r.reason) for r in raw.malformed + result.rejected)
    assert reasons == [
        (3, "unknown_currency"), (4, "invalid:unit_price"), (5, "duplicate_in_file"), (6, "malformed_row"),
        (7, "invalid:status"), (8, "out_of_range:quantity"), (9, "out_of_range:unit_price"), (10, "duplicate_in_file"),
        (11, "missing:ordered_at"),
    ]  # fmt: skip
    assert raw.rows_in == 10 == result.accepted.num_rows + len(raw.malformed) + len(result.rejected)


def test_a_line_repeated_in_a_later_batch_of_the_same_file_is_a_duplicate() -> None:
    # Given: two batches of one file; the second repeats an accepted line and a line the first rejected
    first = read_csv_rows((ORDER_HEADER + "\n" + _order() + "\n" + _order(line_id="2", currency="XX") + "\n").encode())
    second = read_csv_rows((ORDER_HEADER + "\n" + _order() + "\n" + _order(line_id="2") + "\n").encode())
    mapping, file_keys = mapping_for("orders/x.csv", None), FileKeys()
    # When
    results = [
        clean_table(ENTITIES["orders"], apply_mapping(mapping, batch.table), batch.lines, file_keys)
        for batch in (first, second)
    ]
    # Then
    assert [[r.reason for r in result.rejected] for result in results] == [["unknown_currency"], ["duplicate_in_file"]]
    assert results[1].accepted.column("line_id").to_pylist() == ["2"]


def test_a_rejected_row_keeps_its_content() -> None:
    # Given / When
    _, result = _clean("orders", ORDER_HEADER + "\n" + _order(currency="EURO") + "\n")
    # Then
    [rejection] = result.rejected
    assert (rejection.row["order_id"], rejection.row["currency"]) == ("O1", "EURO")


@pytest.mark.parametrize(
    ("row", "reason"),
    [("R1,1,2024-01-01T00:00:00Z,GBP,5.00", None), ("R1,1,2024-01-01T00:00:00Z,GBP,", "missing:amount"),
     ("R1,1,2024-01-01T00:00:00Z,GBP,-5", "out_of_range:amount"), ("R1,1,2024-01-01T00:00:00Z,XXX,5", "unknown_currency")],
)  # fmt: skip
def test_returns_need_a_positive_amount(row: str, reason: str | None) -> None:
    # Given / When
    _, result = _clean("returns", "return_id,line_id,returned_at,currency,amount\n" + row + "\n")
    # Then
    assert [r.reason for r in result.rejected] == ([reason] if reason else [])


@pytest.mark.parametrize(
    ("kind", "score", "reason"),
    [("nps", "0", None), ("nps", "10", None), ("NPS", "11", "out_of_range:score"), ("csat", "5", None),
     ("csat", "0", "out_of_range:score"), ("rating", "6", "out_of_range:score"), ("stars", "3", "invalid:kind"),
     ("nps", "", "missing:score")],
)  # fmt: skip
def test_feedback_scores_are_checked_against_their_kind(kind: str, score: str, reason: str | None) -> None:
    # Given / When
    _, result = _clean("feedback", f"response_id,responded_at,kind,score\nF1,2024-01-01T00:00:00Z,{kind},{score}\n")
    # Then
    assert [r.reason for r in result.rejected] == ([reason] if reason else [])


def test_consents_default_to_marketing_and_need_an_identifier() -> None:
    # Given
    data = (
        "customer_id,email,channel,purpose,granted,recorded_at\n"
        "C1,,email,,yes,2024-01-01T00:00:00Z\n"
        ",,sms,marketing,no,2024-01-01T00:00:00Z\n"
        ",a@b.co,fax,marketing,no,2024-01-01T00:00:00Z\n"
    )
    # When
    _, result = _clean("consents", data)
    # Then
    assert result.accepted.select(["channel", "purpose", "granted"]).to_pylist() == [
        {"channel": "email", "purpose": "marketing", "granted": True}
    ]
    assert [(r.line, r.reason) for r in result.rejected] == [(3, "missing:identifier"), (4, "invalid:channel")]


def test_events_tickets_and_loyalty_are_typed() -> None:
    # Given / When
    _, events = _clean("events", 'event_id,event,occurred_at,properties\nE1,Product Viewed,2024-01-01T00:00:00Z,"{""sku"": ""A""}"\nE2,Product Viewed,2024-01-01T00:00:00Z,[1]\n')
    _, tickets = _clean("tickets", "ticket_id,opened_at,updated_at,status,rating\nT1,2024-01-01,2024-01-02,Solved,5\nT1,2024-01-01,2024-01-03,closed,9\n")
    _, loyalty = _clean("loyalty", "entry_id,customer_id,occurred_at,points\nL1,C1,2024-01-01,-50\nL2,,2024-01-01,5\n")
    # Then
    assert [r.reason for r in events.rejected] == ["invalid:properties"]
    assert tickets.accepted.column("status").to_pylist() == ["solved"]
    assert [r.reason for r in tickets.rejected] == ["out_of_range:rating"]
    assert loyalty.accepted.column("points").to_pylist() == [-50]
    assert [r.reason for r in loyalty.rejected] == ["missing:customer_id"]


def test_a_table_without_the_entitys_columns_is_refused() -> None:
    # Given
    raw = read_csv_rows(b"id,name\n1,x\n")
    # When / Then
    with pytest.raises(UnreadableFile, match="missing_columns"):
        clean_table(ENTITIES["customers"], raw.table, raw.lines)


def test_hostile_values_are_rejected_not_crashed_on() -> None:
    # Given: oversized and invisible-character values in every kind of column
    huge = "9" * 5000
    data = "\n".join([
        ORDER_HEADER,
        _order(quantity=huge),
        _order(line_id="2", unit_price=huge),
        _order(line_id="3", ordered_at="2024-01-01T10:00:00Z" + "Z" * 1000),
        _order(line_id="4", currency="G\u200bBP"),
        _order(line_id="5", order_id="x" * 10_000),
    ]) + "\n"  # fmt: skip
    # When
    raw, result = _clean("orders", data)
    # Then: values over their byte budget are out of range, every other row has its own reason
    assert [r.reason for r in result.rejected] == [
        "out_of_range:quantity", "out_of_range:unit_price", "invalid_timestamp", "unknown_currency",
        "out_of_range:order_id",
    ]
    assert raw.rows_in == result.accepted.num_rows + len(result.rejected)


def test_values_over_their_byte_budget_are_quarantined_before_cleaning() -> None:
    # Given: a name at its budget, one byte over it (in two-byte characters) with a bad email too, a 5 MB name
    data = "".join([
        _customer(first_name="a" * MAX_FIELD_BYTES),
        _customer(customer_id="C2", first_name="é" * (MAX_FIELD_BYTES // 2) + "a", email="bad").split("\n", 1)[1],
        _customer(customer_id="C3", first_name="x" * 5_000_000).split("\n", 1)[1],
    ])  # fmt: skip
    # When
    raw, result = _clean("customers", data)
    # Then: a value's size is its first fault
    assert result.accepted.column("customer_id").to_pylist() == ["C1"]
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "out_of_range:first_name"),
        (4, "out_of_range:first_name"),
    ]
    assert raw.rows_in == result.accepted.num_rows + len(result.rejected)


def test_a_row_over_its_byte_budget_is_quarantined_even_when_each_value_is_within_its_own() -> None:
    # Given: a customers row of all eighteen columns, each value just under the field budget
    names = ENTITIES["customers"].column_names
    value = "y" * (MAX_ROW_BYTES // len(names) + 1)
    assert len(value) <= MAX_FIELD_BYTES
    data = ",".join(names) + "\n" + ",".join(value for _ in names) + "\n"
    # When
    _, result = _clean("customers", data)
    # Then
    assert [(r.line, r.reason) for r in result.rejected] == [(2, "out_of_range:row_bytes")]


def test_free_text_and_json_have_the_long_text_budget() -> None:
    # Given: a feedback comment longer than a field's budget but within the long-text one
    comment = "z" * (LONG_TEXT_BYTES - 1)
    data = f"response_id,customer_id,responded_at,kind,score,comment\nR1,C1,2024-01-01T10:00:00Z,nps,9,{comment}\n"
    # When
    _, result = _clean("feedback", data)
    # Then
    assert result.rejected == [] and result.accepted.column("comment").to_pylist() == [comment]
