"""Replenishment intervals per SKU and run-out dates per customer and SKU, on hand-made order lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from cdp.predict.contract import FitFailed
from cdp.predict.replenishment import replenishment
from cdp.predict.summary import InvalidTransactions
from cdp.segments.predictions import predict_profiles

DAY0 = date(2026, 1, 1)


def _lines(rows: list[tuple[str, str, int]]) -> pa.Table:
    """(customer, sku, day offset) per order line."""
    return pa.table({"customer_id": [row[0] for row in rows], "sku": [row[1] for row in rows],
                     "date": [(DAY0 + timedelta(days=row[2])).isoformat() for row in rows]})


def test_intervals_per_sku_and_run_out_dates_from_the_customers_own_or_the_products_median() -> None:
    # Given shampoo bought every 30 days by A (3 gaps, one same-day duplicate line), every 20 or 28 days by B and C,
    # and once by D; a mug bought twice by A
    rows = [("A", "shampoo", 0), ("A", "shampoo", 30), ("A", "shampoo", 30), ("A", "shampoo", 60),
            ("A", "shampoo", 90), ("B", "shampoo", 0), ("B", "shampoo", 20), ("C", "shampoo", 5),
            ("C", "shampoo", 33), ("D", "shampoo", 100), ("A", "mug", 0), ("A", "mug", 200)]
    # When
    products, run_outs = replenishment(_lines(rows))
    # Then shampoo's median gap is 30 days over 5 gaps (30, 30, 30, 20, 28) and 4 customers; the mug has 1 gap
    by_sku = {row["sku"]: row for row in products.to_pylist()}
    assert by_sku["shampoo"] == {"sku": "shampoo", "median_interval_days": 30.0, "intervals": 5, "customers": 4}
    assert by_sku["mug"]["intervals"] == 1
    # And A runs out on their own rhythm, B, C and D on the product's; the mug (1 gap) gets no prediction
    predicted = {(row["customer_id"], row["sku"]): row for row in run_outs.to_pylist()}
    assert set(predicted) == {("A", "shampoo"), ("B", "shampoo"), ("C", "shampoo"), ("D", "shampoo")}
    assert predicted["A", "shampoo"]["basis"] == "customer"
    assert predicted["A", "shampoo"]["run_out_date"] == DAY0 + timedelta(days=120)
    assert predicted["D", "shampoo"]["basis"] == "product"
    assert predicted["D", "shampoo"]["run_out_date"] == DAY0 + timedelta(days=130)
    assert predicted["B", "shampoo"]["last_purchase_date"] == DAY0 + timedelta(days=20)


def test_order_lines_without_a_sku_column_are_refused() -> None:
    with pytest.raises(InvalidTransactions, match="missing column.*sku"):
        replenishment(pa.table({"customer_id": ["A"], "date": ["2026-01-01"]}))


class _UnfittableModel:
    """A prediction service whose purchase model cannot be fitted (too few buyers)."""

    def predict(self, histories: object) -> dict[str, object]:
        raise FitFailed("too few customers to fit")


def test_the_segment_run_keeps_run_outs_and_the_soonest_as_next_run_out_at_when_the_model_cannot_be_fitted() -> None:
    # Given A buying serum every 30 days, the last 27 days ago, and B buying once
    as_of = datetime(2026, 6, 1, 14, tzinfo=UTC)
    days_ago = [147, 117, 87, 57, 27]
    orders = pa.table({
        "profile_id": ["A"] * 5 + ["B"], "sku": ["serum"] * 5 + ["mug"], "status": ["completed"] * 6,
        "ordered_at": pa.array([as_of - timedelta(days=d) for d in days_ago] + [as_of - timedelta(days=3)],
                               pa.timestamp("us", tz="UTC")),
        "line_amount": [20.0] * 6,
    })  # fmt: skip
    # When the run predicts with a model that cannot be fitted
    predicted, summary = predict_profiles(_UnfittableModel(), pa.table({"profile_id": ["A", "B"]}), orders, as_of)
    # Then the fit is reported skipped, and A's serum runs out in 3 days: the soonest run-out, tested by segments
    rows = {row["profile_id"]: row for row in predicted.to_pylist()}
    assert summary == {"skipped": "too few customers to fit"}
    assert rows["A"]["replenishment"] == [{"sku": "serum", "run_out_date": "2026-06-04", "interval_days": 30.0}]
    assert rows["A"]["next_run_out_at"] == datetime(2026, 6, 4, tzinfo=UTC) and rows["A"]["p_alive"] is None
    assert rows["B"]["replenishment"] is None and rows["B"]["next_run_out_at"] is None
