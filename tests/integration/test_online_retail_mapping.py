"""The real UCI Online Retail export (541,909 invoice lines) through the online_retail mapping and clean_table:
every line accounted for, figures that match what plain csv computes from the raw file, and every customer's
aggregates (net revenue, completed orders, cancellations) folded from the accepted lines equal to plain csv's."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from cdp.clean.entities import ENTITIES
from cdp.clean.table import FileKeys, Rejection, clean_table
from cdp.ingest.file_reader import read_batches
from cdp.ingest.mappings import apply_mapping, mapping_for
from cdp.profiles.aggregates import aggregate_profile

DATA = Path("/work/shared/data/online_retail/online_retail.csv.gz")
PUBLISHED_LINES = 541_909
PUBLISHED_CUSTOMERS = 4_372
PROFILE_ORDER_COLUMNS = ["order_id", "status", "quantity", "line_amount", "currency", "ordered_at", "category"]

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="the UCI Online Retail export is not on this machine")


def _independent_figures(data: bytes) -> dict:
    """What the file says, by plain csv and the mapping's documented rules (not by the code under test)."""
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode("utf-8"))))
    reasons: Counter[str] = Counter()
    seen: set[tuple[str, ...]] = set()
    kept = []
    for row in rows:
        invoice, customer, price = row["InvoiceNo"], row["CustomerID"].strip(), Decimal(row["UnitPrice"])
        if invoice.startswith("A"):
            reasons["accounting_adjustment"] += 1
        elif price == 0 and not customer and not invoice.startswith("C"):
            reasons["stock_adjustment"] += 1
        elif (line := tuple(value.strip() for value in row.values())) in seen:  # no line number: all columns
            reasons["duplicate_in_file"] += 1
        else:
            seen.add(line)
            kept.append(row)
    amounts = [Decimal(row["Quantity"]) * Decimal(row["UnitPrice"]) for row in kept]
    customers: dict[str, dict] = defaultdict(lambda: {"revenue": Decimal(0), "orders": set(), "cancelled": Decimal(0)})
    for row, amount in zip(kept, amounts):
        if customer := row["CustomerID"].strip():
            figures = customers[customer]
            figures["revenue"] += amount  # a C-invoice line is negative: net revenue
            if row["InvoiceNo"].startswith("C"):
                figures["cancelled"] -= amount
            else:
                figures["orders"].add(row["InvoiceNo"])
    return {
        "lines": len(rows),
        "reasons": dict(reasons),
        "accepted": len(kept),
        "customers": len({row["CustomerID"] for row in kept if row["CustomerID"]}),
        "invoices": len({row["InvoiceNo"] for row in kept}),
        "cancelled_lines": sum(row["InvoiceNo"].startswith("C") for row in kept),
        "sales": sum(amount for amount in amounts if amount > 0),
        "cancellations": sum(amount for amount in amounts if amount < 0),
        "per_customer": {
            customer: (figures["revenue"], len(figures["orders"]), figures["cancelled"])
            for customer, figures in customers.items()
        },
    }


def test_every_online_retail_line_is_accounted_for_and_the_figures_add_up() -> None:
    # Given: the real export, and the figures plain csv derives from it
    data = DATA.read_bytes()
    expected = _independent_figures(data)
    # When: it is read in bounded batches, mapped and cleaned batch by batch, as the pipeline does
    mapping = mapping_for("online_retail/online_retail.csv.gz", None)
    accepted_batches: list[pa.Table] = []
    rejected: list[Rejection] = []
    rows_in = 0
    file_keys = FileKeys()
    for batch in read_batches(io.BytesIO(data), mapping.read_options):
        result = clean_table(ENTITIES[mapping.entity], apply_mapping(mapping, batch.table), batch.lines, file_keys)
        accepted_batches.append(result.accepted)
        rejected += batch.malformed + result.rejected
        rows_in += batch.rows_in
    accepted = pa.concat_tables(accepted_batches)
    # Then: every line is accepted or quarantined with a reason (duplicates across batch boundaries included)
    reasons = Counter(rejection.reason for rejection in rejected)
    assert expected["lines"] == rows_in == PUBLISHED_LINES
    assert accepted.num_rows + sum(reasons.values()) == PUBLISHED_LINES
    assert dict(reasons) == expected["reasons"]
    assert accepted.num_rows == expected["accepted"]
    # and every accepted line keeps a distinct source line
    assert pc.count_distinct(accepted.column("source_line")).as_py() == accepted.num_rows
    # Then: the business figures are those of the raw file
    assert pc.count_distinct(accepted.column("customer_id")).as_py() == expected["customers"] == PUBLISHED_CUSTOMERS
    assert pc.count_distinct(accepted.column("order_id")).as_py() == expected["invoices"]
    statuses = Counter(accepted.column("status").to_pylist())
    assert statuses == {"cancelled": expected["cancelled_lines"], "completed": accepted.num_rows - expected["cancelled_lines"]}
    net_revenue = pc.sum(accepted.column("line_amount")).as_py()
    assert net_revenue == expected["sales"] + expected["cancellations"]
    # and they are in the published dataset's ranges: about 10.6M GBP sold, 9.7M net of cancellations
    assert Decimal("10_400_000") < expected["sales"] < Decimal("10_800_000")
    assert Decimal("9_500_000") < net_revenue < Decimal("10_000_000")
    assert 23_000 < expected["invoices"] < 26_000
    # Then: values are standardised: one currency, ISO countries, UTC timestamps inside the export's year
    assert accepted.column("currency").unique().to_pylist() == ["GBP"]
    countries = set(accepted.column("country").drop_null().to_pylist())
    assert {"GB", "IE", "DE", "FR", "ZA", "US"} <= countries and all(len(code) == 2 for code in countries)
    ordered = accepted.column("ordered_at")
    assert str(pc.min(ordered).as_py()) == "2010-12-01 08:26:00+00:00"
    assert str(pc.max(ordered).as_py()) == "2011-12-09 12:50:00+00:00"
    # Then: every customer's profile aggregates, folded from its accepted lines, are plain csv's figures
    lines = accepted.filter(pc.is_valid(accepted.column("customer_id")))
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for record in lines.select(["customer_id", *PROFILE_ORDER_COLUMNS]).to_pylist():
        by_customer[record["customer_id"]].append({"entity": "orders", "record": record})
    folded = {customer: aggregate_profile(records) for customer, records in by_customer.items()}
    figures = {
        customer: (profile["revenue"], profile["orders_count"], profile["cancelled_amount"])
        for customer, profile in folded.items()
    }
    assert figures == expected["per_customer"]
    profiled_net = sum(revenue for revenue, _, _ in figures.values())
    assert profiled_net == sum(revenue for revenue, _, _ in expected["per_customer"].values())
    assert sum(1 for revenue, _, _ in figures.values() if revenue < 0) > 0  # some gave back more than they bought
