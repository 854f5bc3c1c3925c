"""The real UCI Online Retail export through the local stack, as `make run` ingests it: every profile's net
revenue, order count and cancellations equal an independent recomputation from the raw file with pandas.

The whole file takes about half an hour on the local stack, so the test takes a deterministic sample of whole
customers: every customer whose id falls in one of SAMPLE_BUCKETS CRC-32 buckets, with all of their lines.
"""

from __future__ import annotations

import gzip
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from boto3.dynamodb.types import TypeDeserializer
from cdp_local.runner import build_report, drop_files
from cdp_local.stack import LocalStack

DATA = Path("/work/shared/data/online_retail/online_retail.csv.gz")
SAMPLE_BUCKETS = 20
CUSTOMER_PREFIX = "IDENTITY#customer_id#"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="the UCI Online Retail export is not on this machine")


def _sample_of_whole_customers(lines: pd.DataFrame) -> pd.DataFrame:
    """Every line of the customers whose id hashes into bucket 0 of SAMPLE_BUCKETS."""
    customers = lines["CustomerID"].str.strip()
    bucket = customers.map(lambda customer: zlib.crc32(customer.encode()) % SAMPLE_BUCKETS)
    return lines[(customers != "") & (bucket == 0)]


def _expected_profiles(lines: pd.DataFrame) -> pd.DataFrame:
    """Per customer, by the online_retail mapping's documented rules: A-invoices are not sales; a line identical
    in every column to an earlier one is a duplicate; C-invoices are cancellations (negative units) that reduce
    net revenue and are no orders; orders are the distinct other invoices."""
    kept = lines[~lines["InvoiceNo"].str.startswith("A")]
    kept = kept[~kept.apply(lambda row: tuple(value.strip() for value in row), axis=1).duplicated()]
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
    # Given: whole customers of the real export, and what pandas computes for each from the raw lines
    lines = pd.read_csv(DATA, dtype=str, keep_default_na=False, encoding="utf-8")
    sample = _sample_of_whole_customers(lines)
    expected = _expected_profiles(sample)
    folder = tmp_path / "online_retail"
    folder.mkdir()
    (folder / "sample.csv.gz").write_bytes(gzip.compress(sample.to_csv(index=False).encode(), mtime=0))
    # When: the sample is dropped as `make run` drops files, and the schedules (segments) run
    drop_files(stack, tmp_path, lambda line: None)
    stack.run_schedules()
    report = build_report(stack)
    # Then: every line is accounted for and every batch applied; nothing reached a dead-letter queue
    [file] = report["files"]
    assert file["rows_in"] == len(sample) == file["rows_accepted"] + file["rows_quarantined"]
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
    # Then: customers who only cancelled are dated by their cancellations, never `new`
    only_cancelled = expected.index[(expected["orders_count"] == 0)]
    assert len(only_cancelled) > 0
    assert {profiles[customer]["lifecycle_stage"] for customer in only_cancelled} == {"churned"}
    assert sum(expected["cancelled_amount"] > 0) > 0.2 * len(expected)  # the sample holds many cancellations
