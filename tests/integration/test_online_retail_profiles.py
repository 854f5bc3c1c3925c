"""The real UCI Online Retail export through the local stack, as `make run` ingests it: every profile's net
revenue, order count and cancellations equal an independent recomputation from the raw file with pandas.

The whole file takes about half an hour on the local stack, so the test takes a deterministic slice (about 1,600
lines): every line of the customers whose id falls in CRC-32 bucket 0 of SAMPLE_BUCKETS (many with cancellations)
and of three customers who only cancelled, and the three invoices that list two lines alike (same code, quantity
and price) that are not duplicates. The full file's net revenue is checked without the stack, in
test_online_retail_mapping.py.
"""

from __future__ import annotations

import gzip
import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from boto3.dynamodb.types import TypeDeserializer
from cdp_local.runner import build_report, drop_files
from cdp_local.stack import LocalStack

DATA = Path("/work/shared/data/online_retail/online_retail.csv.gz")
SAMPLE_BUCKETS = 200
LINES_ALIKE = {"554084": "12909", "567183": "14769", "575335": "12931"}  # invoice: its customer
ONLY_CANCELLED = ("12503", "12605", "12666")
CUSTOMER_PREFIX = "IDENTITY#customer_id#"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="the UCI Online Retail export is not on this machine")


def _slice(lines: pd.DataFrame) -> pd.DataFrame:
    """Every line of the customers in bucket 0 of SAMPLE_BUCKETS and of ONLY_CANCELLED, and the LINES_ALIKE
    invoices."""
    customers = lines["CustomerID"].str.strip()
    bucket = customers.map(lambda customer: zlib.crc32(customer.encode()) % SAMPLE_BUCKETS)
    chosen = customers.isin(ONLY_CANCELLED) | lines["InvoiceNo"].isin(list(LINES_ALIKE))
    return lines[(customers != "") & ((bucket == 0) | chosen)]


def _kept_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """The lines the online_retail mapping documents as kept: A-invoices are not sales, and the export has no line
    number, so only a line identical in every column to an earlier one is a duplicate."""
    kept = lines[~lines["InvoiceNo"].str.startswith("A")]
    return kept[~kept.apply(lambda row: tuple(value.strip() for value in row), axis=1).duplicated()]


def _expected_profiles(kept: pd.DataFrame) -> pd.DataFrame:
    """Per customer, from the kept lines: C-invoices are cancellations (negative units) that reduce net revenue
    and are no orders; orders are the distinct other invoices."""
    cancelled = kept["InvoiceNo"].str.startswith("C")
    assert (kept.loc[cancelled, "Quantity"].astype(int) < 0).all()  # so every cancelled line is a note
    amounts = [Decimal(q) * Decimal(p) for q, p in zip(kept["Quantity"], kept["UnitPrice"])]
    frame = pd.DataFrame(
        {
            "customer_id": kept["CustomerID"].str.strip(),
            "invoice": kept["InvoiceNo"].where(~cancelled),
            "amount": amounts,
            "cancelled_amount": [-amount if is_cancel else Decimal(0) for amount, is_cancel in zip(amounts, cancelled)],
            "cancelled_units": (-kept["Quantity"].astype(int)).where(cancelled, 0),
        }
    )
    grouped = frame.groupby("customer_id")
    return pd.DataFrame(
        {
            "revenue": grouped["amount"].agg(lambda values: sum(values, Decimal(0))),
            "orders_count": grouped["invoice"].nunique(),
            "cancelled_amount": grouped["cancelled_amount"].agg(lambda values: sum(values, Decimal(0))),
            "cancelled_units": grouped["cancelled_units"].sum(),
        }
    )


def _scheduled_tick(stack: LocalStack) -> dict[str, Any]:
    """The scheduled event EventBridge sends the segment run now."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": stack.region, "resources": [], "detail": {}}  # fmt: skip


def _profiles_by_customer(stack: LocalStack) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.physical_id("ProfilesTable"))
    items = [
        {name: deserializer.deserialize(value) for name, value in item.items()}
        for page in pages
        for item in page["Items"]
    ]
    profiles = {item["profile_id"]: item for item in items if item["sk"] == "PROFILE"}
    return {
        item["pk"].removeprefix(CUSTOMER_PREFIX): profiles[item["profile_id"]]
        for item in items
        if item["pk"].startswith(CUSTOMER_PREFIX)
    }


def test_every_profile_of_online_retail_customers_has_the_files_net_revenue_orders_and_cancellations(
    stack: LocalStack, tmp_path: Path
) -> None:
    # Given: a slice of the real export, and what pandas computes for each customer from its raw lines
    lines = pd.read_csv(DATA, dtype=str, keep_default_na=False, encoding="utf-8")
    sample = _slice(lines)
    kept = _kept_lines(sample)
    expected = _expected_profiles(kept)
    alike = kept[kept["InvoiceNo"].isin(list(LINES_ALIKE))]
    assert alike.duplicated(["InvoiceNo", "StockCode", "Quantity", "UnitPrice"]).sum() == len(LINES_ALIKE)
    folder = tmp_path / "online_retail"
    folder.mkdir()
    (folder / "sample.csv.gz").write_bytes(gzip.compress(sample.to_csv(index=False).encode(), mtime=0))
    # When: the slice is dropped as `make run` drops files, and the segment run is scheduled
    drop_files(stack, tmp_path, lambda line: None)
    stack.invoke("ComputeSegmentsFunction", _scheduled_tick(stack))
    report = build_report(stack)
    # Then: every line is accounted for, the lines alike but not identical all kept, every batch applied
    [file] = report["files"]
    assert file["rows_in"] == len(sample) == file["rows_accepted"] + file["rows_quarantined"]
    assert file["rows_accepted"] == len(kept)
    assert file["profile_batches_applied"] == file["profile_batches"]
    assert (report["dead_letters"], report["async_failures"]) == ([], [])
    # Then: every customer has one profile whose figures are the recomputed ones
    profiles = _profiles_by_customer(stack)
    assert sorted(profiles) == sorted(expected.index)
    actual = pd.DataFrame.from_dict(
        {
            customer: {
                "revenue": profile["revenue"],
                "orders_count": int(profile["orders_count"]),
                "cancelled_amount": profile["cancelled_amount"],
                "cancelled_units": int(profile["cancelled_units"]),
            }
            for customer, profile in profiles.items()
        },
        orient="index",
    )
    mismatches = actual.loc[expected.index].compare(expected[actual.columns])
    assert mismatches.empty, mismatches.head(20)
    assert sum(actual["revenue"]) == sum(expected["revenue"])
    assert sum(expected["cancelled_amount"] > 0) > 0.2 * len(expected)  # the sample holds many cancellations
    # Then: customers who only cancelled are dated by their cancellations (in 2010-2011), never `new`
    only_cancelled = expected.index[expected["orders_count"] == 0]
    assert sorted(only_cancelled) == sorted(ONLY_CANCELLED)
    assert {profiles[customer]["lifecycle_stage"] for customer in only_cancelled} == {"churned"}
