"""Source mappings: choosing one by key prefix or sidecar manifest, and turning a foreign layout into canonical
columns that clean_table accepts."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from cdp.clean.entities import ENTITIES
from cdp.clean.table import MAPPING_REJECTION, CleanResult, UnreadableFile, clean_table
from cdp.ingest.file_reader import read_csv_rows
from cdp.ingest.mappings import (
    MAPPINGS_DIR,
    FillDownCarry,
    SourceMapping,
    apply_mapping,
    mapping_for,
    shipped_mappings,
)
from pydantic import ValidationError

ONLINE_RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Accepts Marketing,Currency,Subtotal,Total,Created at,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name,Billing City,Billing Province,"
    "Billing Country,Billing Phone,Vendor,Source"
)


def _through(mapping: SourceMapping, csv_text: str) -> CleanResult:
    raw = read_csv_rows(csv_text.encode())
    return clean_table(ENTITIES[mapping.entity], apply_mapping(mapping, raw.table), raw.lines)


@pytest.mark.parametrize(
    ("key", "name"),
    [("orders/2024/01.csv", "canonical_orders"), ("canonical/customers/a.csv.gz", "canonical_customers"),
     ("Returns/x.csv", "canonical_returns"), ("online_retail/online_retail.csv.gz", "online_retail"),
     ("online_retail.csv.gz", "online_retail"),
     ("shopify/orders/export.csv", "shopify_orders"), ("tickets-2024-05.csv", "canonical_tickets"),
     ("shopify/customers/export.csv", "shopify_customers"),
     ("loyalty/points.jsonl", "canonical_loyalty")],
)  # fmt: skip
def test_the_key_prefix_chooses_the_mapping(key: str, name: str) -> None:
    # Given / When
    mapping = mapping_for(key, None)
    # Then
    assert mapping.name == name


@pytest.mark.parametrize("key", ["invoices/2024.csv", "readme.txt", "", "../../etc/passwd"])
def test_a_key_no_mapping_claims_is_an_unknown_mapping(key: str) -> None:
    # Given / When / Then
    with pytest.raises(UnreadableFile) as refused:
        mapping_for(key, None)
    assert refused.value.reason == "unknown_mapping"


def test_a_manifest_names_a_shipped_mapping_and_version_whatever_the_key() -> None:
    # Given / When
    mapping = mapping_for("drops/anything.csv", {"mapping": "online_retail", "version": 2})
    # Then
    assert (mapping.name, mapping.version, mapping.entity) == ("online_retail", 2, "orders")


def test_a_manifest_may_carry_an_inline_mapping() -> None:
    # Given: a loyalty export described entirely by its sidecar manifest
    manifest = {
        "mapping": {
            "name": "acme_points", "version": 3, "entity": "loyalty", "delimiter": ";",
            "columns": {"Id": "entry_id", "Member": "customer_id", "When": "occurred_at", "Pts": "points"},
            "defaults": {"timezone": "Asia/Shanghai", "timestamp_formats": ["%d.%m.%Y %H:%M"]},
        }
    }  # fmt: skip
    # When
    mapping = mapping_for("drops/points.csv", manifest)
    result = _through(mapping, "Id,Member,When,Pts\nP1,M1,31.12.2024 23:30,-20\n")
    # Then
    assert mapping.read_options == {"format": None, "encoding": None, "delimiter": ";"}
    assert result.accepted.select(["entry_id", "occurred_at", "points"]).to_pylist() == [
        {"entry_id": "P1", "occurred_at": datetime(2024, 12, 31, 15, 30, tzinfo=UTC), "points": -20}
    ]


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [({"mapping": "no_such_mapping"}, "unknown_mapping"), ({"mapping": "online_retail", "version": 99}, "unknown_mapping"),
     ({"mapping": 7}, "invalid_manifest"), ({}, "invalid_manifest"),
     ({"mapping": {"name": "x", "version": 1, "entity": "invoices"}}, "invalid_mapping"),
     ({"mapping": {"name": "x", "version": 1, "entity": "orders", "columns": {"a": "total"}}}, "invalid_mapping"),
     ({"mapping": {"name": "x", "version": 1, "entity": "orders", "defaults": {"timezone": "Mars/Base"}}}, "invalid_mapping"),
     ({"mapping": {"name": "x", "version": 1, "entity": "orders", "derivations": [{"kind": "eval", "code": "1"}]}}, "invalid_mapping"),
     ({"mapping": {"name": "x", "version": 1, "entity": "orders", "rejections": [{"reason": "r", "when": [{"column": "a", "matches": "(a+"}]}]}}, "invalid_mapping"),
     ({"mapping": {"name": "x", "version": 1, "entity": "orders", "derivations": [{"kind": "pattern", "target": "status", "source": "a", "patterns": {"(?<=x)": "completed"}}]}}, "invalid_mapping")],
)  # fmt: skip
def test_a_bad_manifest_is_refused_with_a_reason(manifest: dict, reason: str) -> None:
    # Given / When / Then
    with pytest.raises(UnreadableFile) as refused:
        mapping_for("drops/x.csv", manifest)
    assert refused.value.reason == reason


def test_every_shipped_mapping_file_is_valid_and_every_entity_has_a_canonical_one() -> None:
    # Given
    files = sorted(MAPPINGS_DIR.glob("*.json"))
    # When
    loaded = [SourceMapping.model_validate(json.loads(path.read_text())) for path in files]
    # Then
    assert len(loaded) == len(shipped_mappings()) == len(files)
    assert {m.entity for m in loaded if m.name.startswith("canonical_")} == set(ENTITIES)


def test_a_mapping_without_a_required_source_column_refuses_the_file() -> None:
    # Given: an online retail file without its invoice numbers
    raw = read_csv_rows(b"StockCode,Quantity\nA,1\n")
    # When / Then
    with pytest.raises(UnreadableFile, match="missing_columns: order_id"):
        apply_mapping(mapping_for("online_retail/x.csv", None), raw.table)


def test_mapped_tables_carry_exactly_the_canonical_columns_as_strings() -> None:
    # Given: a canonical orders file with an unknown extra column
    raw = read_csv_rows(b"order_id,line_id,ordered_at,currency,status,quantity,unit_price,secret\nO1,1,2024-01-01,GBP,completed,1,2,x\n")
    # When
    mapped = apply_mapping(mapping_for("orders/x.csv", None), raw.table)
    # Then
    assert mapped.column_names == ENTITIES["orders"].column_names
    assert all(field.type == pa.string() for field in mapped.schema)


def test_online_retail_lines_become_canonical_order_lines() -> None:
    # Given: a sale, its exact duplicate, a cancellation, postage, a guest line, a stock adjustment, a bad debt entry
    lines = [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "C536379,D,Discount,-1,2011-06-01 09:41:00,27.50,14527,EIRE",
        "536370,POST,POSTAGE,3,2011-06-01 09:41:00,18.00,12583,France",
        "536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,2011-06-01 09:41:00,2.51,,Channel Islands",
        "536545,21134,?,-40,2011-06-01 09:41:00,0,,United Kingdom",
        "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom",
    ]
    # When
    result = _through(mapping_for("online_retail/x.csv", None), "\n".join([ONLINE_RETAIL_HEADER, *lines]) + "\n")
    # Then
    rows = result.accepted.to_pylist()
    assert [(r["order_id"], r["line_id"], r["status"], r["category"], r["country"], r["customer_id"]) for r in rows] == [
        ("536365", "85123A|6|2.55|12/1/2010 8:26|WHITE HANGING HEART T-LIGHT HOLDER|17850|United Kingdom",
         "completed", None, "GB", "17850"),
        ("C536379", "D|-1|27.50|2011-06-01 09:41:00|Discount|14527|EIRE", "cancelled", "non_product", "IE", "14527"),
        ("536370", "POST|3|18.00|2011-06-01 09:41:00|POSTAGE|12583|France", "completed", "non_product", "FR", "12583"),
        ("536544", "21773|1|2.51|2011-06-01 09:41:00|DECORATIVE ROSE BATHROOM BOTTLE||Channel Islands",
         "completed", None, None, None),
    ]
    assert [r["line_amount"] for r in rows] == [Decimal("15.3"), Decimal("-27.5"), Decimal("54"), Decimal("2.51")]
    # Winter GMT is UTC; June is BST (UTC+1)
    assert [r["ordered_at"] for r in rows[:2]] == [datetime(2010, 12, 1, 8, 26, tzinfo=UTC), datetime(2011, 6, 1, 8, 41, tzinfo=UTC)]
    assert {r["currency"] for r in rows} == {"GBP"}
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "duplicate_in_file"), (7, "stock_adjustment"), (8, "accounting_adjustment")
    ]


REAL_LINES_ALIKE_BUT_NOT_DUPLICATES = [  # lines 199126/199146, 346035/346283 and 452370/452373 of the real export
    '554084,23298,"BUNTING , SPOTTY",3,2011-05-22 11:52:00,4.95,12909,United Kingdom',
    "554084,23298,SPOTTY BUNTING,3,2011-05-22 11:52:00,4.95,12909,United Kingdom",
    "567183,22659,LUNCH BOX I LOVE LONDON,2,2011-09-18 15:32:00,1.95,14769,United Kingdom",
    "567183,22659,LUNCH BOX I LOVE LONDON,2,2011-09-18 15:33:00,1.95,14769,United Kingdom",
    "575335,23203,JUMBO BAG DOILEY PATTERNS,300,2011-11-09 13:56:00,1.79,12931,United Kingdom",
    "575335,23203,JUMBO BAG VINTAGE DOILY,300,2011-11-09 13:56:00,1.79,12931,United Kingdom",
]


def test_online_retail_lines_that_differ_in_description_or_minute_are_all_kept() -> None:
    # Given: three pairs of real lines with the same invoice, code, quantity and price, and one exact repeat
    lines = [*REAL_LINES_ALIKE_BUT_NOT_DUPLICATES, REAL_LINES_ALIKE_BUT_NOT_DUPLICATES[-1]]
    # When
    result = _through(mapping_for("online_retail/x.csv", None), "\n".join([ONLINE_RETAIL_HEADER, *lines]) + "\n")
    # Then: the six distinct lines are accepted with six distinct keys; only the exact repeat is a duplicate
    assert result.accepted.num_rows == 6
    assert len(set(result.accepted.column("line_id").to_pylist())) == 6
    assert [(r.line, r.reason) for r in result.rejected] == [(8, "duplicate_in_file")]


def test_a_whole_line_key_joins_every_mapped_column_but_the_order_id_in_the_mapping_order() -> None:
    # Given: a source without a line number, declared so
    mapping = SourceMapping.model_validate({
        "name": "till", "version": 1, "entity": "orders", "line_key": "whole_line", "defaults": {"currency": "EUR"},
        "columns": {"Ticket": "order_id", "Item": "sku", "At": "ordered_at", "Qty": "quantity", "Price": "unit_price"},
        "constants": {"status": "completed"},
    })  # fmt: skip
    # When
    result = _through(mapping, "Ticket,Item,At,Qty,Price\nT1,A,2024-01-15 12:00,1,2\nT1,A,2024-01-15 12:01,1,2\n")
    # Then
    assert result.accepted.column("line_id").to_pylist() == ["A|2024-01-15 12:00|1|2", "A|2024-01-15 12:01|1|2"]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"entity": "orders", "columns": {"Order": "order_id", "Item": "sku"}},
      "no line_id: map or derive what identifies a line, or set line_key whole_line if nothing does"),
     ({"entity": "returns", "columns": {"Return": "return_id", "Amount": "amount"}}, "no line_id"),
     ({"entity": "orders", "line_key": "whole_line", "columns": {"Order": "order_id", "Line": "line_id"}},
      "line_key whole_line builds line_id from the whole line: do not map or derive it"),
     ({"entity": "orders", "line_key": "whole_line", "columns": {"Order": "order_id"},
       "derivations": [{"kind": "join", "target": "line_id", "sources": ["Order"]}]}, "do not map or derive it"),
     ({"entity": "orders", "line_key": "whole_line", "columns": {"Order": "order_id"}},
      "no mapped column besides the order's id"),
     ({"entity": "customers", "line_key": "whole_line", "columns": {"Id": "customer_id"}},
      "customers is not keyed by line_id"),
     ({"entity": "orders", "line_key": "per_row", "columns": {"Order": "order_id", "Line": "line_id"}}, "line_key")],
)  # fmt: skip
def test_a_mapping_must_say_how_it_identifies_a_line(mapping: dict, message: str) -> None:
    # Given / When / Then: an order or return mapping that gives no line key, or two, is refused by name
    with pytest.raises(ValidationError, match=message):
        SourceMapping.model_validate({"name": "x", "version": 1, **mapping})


def test_shopify_order_fields_are_filled_down_to_every_line_item() -> None:
    # Given: a two-line paid order (order fields on its first row only) and a refunded order
    data = "\n".join([
        SHOPIFY_HEADER,
        "#1001,Ann@Example.com,paid,2024-03-01 10:00:00 +0100,fulfilled,yes,EUR,50.00,55.00,2024-03-01 09:59:00 +0100,"
        "2,Mug,20.00,MUG-1,Ann Lee,Berlin,BE,DE,030 1234567,Acme,web",
        "#1001,,,,,,,,,,1,Poster,10.00,,,,,,,Acme,",
        "#1002,bo@example.com,refunded,2024-03-02 10:00:00 -0500,,no,USD,5.00,5.00,2024-03-02 10:00:00 -0500,"
        "1,Card,5.00,CARD,Bo,Austin,TX,US,(512) 555-0100,Acme,pos",
    ]) + "\n"  # fmt: skip
    # When
    result = _through(mapping_for("shopify/orders/2024-03.csv", None), data)
    # Then
    rows = result.accepted.to_pylist()
    assert [(r["order_id"], r["line_id"], r["email"], r["currency"], r["status"], r["line_amount"]) for r in rows] == [
        ("#1001", "MUG-1|Mug", "ann@example.com", "EUR", "completed", Decimal("40")),
        ("#1001", "|Poster", "ann@example.com", "EUR", "completed", Decimal("10")),
        ("#1002", "CARD|Card", "bo@example.com", "USD", "refunded", Decimal("5")),
    ]
    assert [r["ordered_at"] for r in rows] == [datetime(2024, 3, 1, 8, 59, tzinfo=UTC)] * 2 + [datetime(2024, 3, 2, 15, 0, tzinfo=UTC)]
    assert [(r["phone"], r["region_code"]) for r in rows] == [("+49301234567", None)] * 2 + [("+15125550100", "US-TX")]
    assert result.rejected == []


def test_shopify_customers_keep_their_ids_consents_and_regions() -> None:
    # Given: the Shopify customers export, with its apostrophe-prefixed ids and phones
    data = (
        "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address City,"
        "Default Address Province Code,Default Address Country Code,Default Address Zip,Phone,Accepts SMS Marketing,Total Spent\n"
        "'7012345678901,Ann,Lee,Ann@Example.com,yes,San Francisco,CA,US,'94103,'+14155550123,no,10.00\n"
        "'7012345678902,Li,Wei,li@example.cn,no,深圳,GD,CN,,138 0013 8000,yes,0.00\n"
    )
    # When
    result = _through(mapping_for("shopify/customers/2024.csv", None), data)
    # Then
    columns = ["customer_id", "email", "phone", "email_consent", "sms_consent", "country", "region_code"]
    assert [tuple(row[name] for name in columns) for row in result.accepted.to_pylist()] == [
        ("7012345678901", "ann@example.com", "+14155550123", True, False, "US", "US-CA"),
        ("7012345678902", "li@example.cn", "+8613800138000", False, True, "CN", "440300"),
    ]


def test_value_maps_constants_and_defaults_apply_only_where_the_source_is_silent() -> None:
    # Given
    mapping = SourceMapping.model_validate({
        "name": "shop", "version": 1, "entity": "orders",
        "columns": {"id": "order_id", "line": "line_id", "at": "ordered_at", "state": "status", "cur": "currency"},
        "constants": {"channel": "marketplace"},
        "value_maps": {"status": {"OK": "completed", "Storno": "cancelled", "?": ""}},
        "defaults": {"currency": "CHF", "timezone": "Europe/Zurich"},
    })  # fmt: skip
    data = "id,line,at,state,cur\nO1,1,2024-01-15 12:00,ok,\nO2,1,2024-01-15 12:00,STORNO,EUR\nO3,1,2024-01-15 12:00,?,\n"
    # When
    result = _through(mapping, data)
    # Then
    rows = result.accepted.to_pylist()
    assert [(r["status"], r["currency"], r["channel"]) for r in rows] == [
        ("completed", "CHF", "marketplace"), ("cancelled", "EUR", "marketplace")
    ]
    assert rows[0]["ordered_at"] == datetime(2024, 1, 15, 11, tzinfo=UTC)
    assert [(r.line, r.reason) for r in result.rejected] == [(4, "missing:status")]


def test_mapping_rejections_come_before_cleaning_and_keep_their_reason() -> None:
    # Given
    mapping = SourceMapping.model_validate({
        "name": "shop", "version": 1, "entity": "orders",
        "columns": {"id": "order_id", "line": "line_id", "at": "ordered_at"},
        "defaults": {"currency": "GBP"}, "constants": {"status": "completed"},
        "rejections": [{"reason": "test_order", "when": [{"column": "id", "matches": "^TEST"}]}],
    })  # fmt: skip
    raw = read_csv_rows(b"id,line,at\nTEST-1,1,not a date\nO1,1,2024-01-01\n")
    # When
    mapped = apply_mapping(mapping, raw.table)
    result = clean_table(ENTITIES["orders"], mapped, raw.lines)
    # Then
    assert mapped.column(MAPPING_REJECTION).to_pylist() == ["test_order", None]
    assert [(r.line, r.reason) for r in result.rejected] == [(2, "test_order")]
    assert MAPPING_REJECTION not in result.rejected[0].row


def test_a_mapping_is_versioned_and_immutable() -> None:
    # Given
    mapping = mapping_for("orders/x.csv", None)
    # When / Then
    with pytest.raises(ValidationError):
        mapping.version = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SourceMapping.model_validate({"name": "x", "version": 0, "entity": "orders"})


def test_fill_down_never_crosses_into_another_order() -> None:
    # Given: the second order's first row lacks its email
    data = "\n".join([
        SHOPIFY_HEADER,
        "#1,a@example.com,paid,,,,GBP,,,2024-01-01 10:00:00 +0000,1,A,1.00,A,,,,GB,,,",
        "#2,,paid,,,,GBP,,,2024-01-01 10:00:00 +0000,1,B,1.00,B,,,,GB,,,",
        "#2,,,,,,,,,,1,C,1.00,C,,,,,,,",
    ]) + "\n"  # fmt: skip
    # When
    result = _through(mapping_for("shopify/orders/x.csv", None), data)
    # Then
    assert result.accepted.column("email").to_pylist() == ["a@example.com", None, None]
    assert Counter(result.accepted.column("currency").to_pylist()) == {"GBP": 3}


def test_fill_down_continues_across_the_batches_of_one_file() -> None:
    # Given: an order whose second line item starts the next read batch, then a new order
    mapping, carry = mapping_for("shopify/orders/x.csv", None), FillDownCarry()
    first = SHOPIFY_HEADER + "\n#1,a@example.com,paid,,,,GBP,,,2024-01-01 10:00:00 +0000,1,A,1.00,A,,,,GB,,,\n"
    second = SHOPIFY_HEADER + "\n#1,,,,,,,,,,2,B,1.00,B,,,,,,,\n#2,,paid,,,,EUR,,,2024-01-02 10:00:00 +0000,1,C,1.00,C,,,,GB,,,\n"
    # When
    results = [
        clean_table(ENTITIES["orders"], apply_mapping(mapping, batch.table, carry), batch.lines)
        for batch in (read_csv_rows(first.encode()), read_csv_rows(second.encode()))
    ]
    # Then
    rows = [row for result in results for row in result.accepted.to_pylist()]
    assert [(r["order_id"], r["email"], r["currency"], r["status"]) for r in rows] == [
        ("#1", "a@example.com", "GBP", "completed"), ("#1", "a@example.com", "GBP", "completed"), ("#2", None, "EUR", "completed")
    ]
    assert all(result.rejected == [] for result in results)
