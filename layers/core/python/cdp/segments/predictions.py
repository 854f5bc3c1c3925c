"""Predictions in the segment run: purchase histories of the profiled customers from their completed order lines,
fitted and predicted by the prediction service (BG/NBD + Gamma-Gamma, where scipy is), and replenishment run-out
dates per SKU, as profile columns that segment rules can test (vocabulary: p_alive, expected_orders_90d, clv_12m,
next_order_at, prediction_confidence, next_run_out_at: the soonest run-out). Run-outs rest on the order lines alone,
so they are kept when the purchase model cannot be fitted.

The calibration end is the run's day: every purchase so far is history, the predictions look ahead from today.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.predict.contract import FitFailed, PredictionSettings
from cdp.predict.histories import PurchaseHistories
from cdp.predict.replenishment import replenishment
from cdp.predict.summary import InvalidTransactions, Transactions, summarise
from cdp.segments.arrow_types import ARROW_TYPES
from cdp.segments.ports import PredictionService

PREDICTION_FIELDS = {  # profile column: key in the profile's predictions section
    "p_alive": "p_alive",
    "expected_orders_90d": "expected_orders_90d",
    "clv_12m": "clv_12m",
    "next_order_at": "next_order_at",
    "prediction_confidence": "confidence",
    "next_run_out_at": "next_run_out_at",
}
TIME_FIELDS = ("next_order_at", "next_run_out_at")
NUMBER_PREDICTIONS = {  # profile column: the prediction service's array
    "p_alive": "probability_alive",
    "expected_orders_90d": "expected_purchases",
    "clv_12m": "clv",
}
SETTINGS = PredictionSettings(horizon_days=90.0, months=12)
MAX_RUN_OUTS = 20  # per profile, the soonest


def _empty() -> pa.Table:
    return pa.table({"profile_id": pa.array([], pa.string())} | {
        name: pa.array([], _type_of(name))
        for name in PREDICTION_FIELDS
    } | {"replenishment": pa.array([], pa.list_(pa.struct([("sku", pa.string()), ("run_out_date", pa.string()),
                                                          ("interval_days", pa.float64())])))})  # fmt: skip


def _type_of(name: str) -> pa.DataType:
    return ARROW_TYPES["string" if name == "prediction_confidence" else "timestamp" if name in TIME_FIELDS else "number"]


def completed_lines(profiles: pa.Table, orders: pa.Table, as_of: datetime) -> pa.Table:
    """The profiles' completed order lines up to `as_of`: the purchases the models learn from."""
    lines = orders.filter(pc.and_(pc.fill_null(pc.equal(orders["status"], "completed"), False),
                                  pc.is_in(orders["profile_id"], value_set=profiles["profile_id"])))  # fmt: skip
    return lines.filter(pc.less_equal(lines["ordered_at"], pa.scalar(as_of, lines.schema.field("ordered_at").type)))


def purchase_histories(lines: pa.Table, as_of: datetime) -> PurchaseHistories:
    """Each buyer's purchase history from `completed_lines`, calibrated at the run's day (time in days); raises
    InvalidTransactions when there is none."""
    amount = pc.fill_null(pc.cast(lines["line_amount"], pa.float64()), 0.0)
    transactions = Transactions.from_table(pa.table({"customer_id": lines["profile_id"], "date": lines["ordered_at"],
                                                     "amount": pc.max_element_wise(amount, 0.0)}))  # fmt: skip
    return summarise(transactions, as_of.date(), "days")


def predict_profiles(
    service: PredictionService | None, profiles: pa.Table, orders: pa.Table, as_of: datetime,
    interval_counts: pa.Table | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """(profile_id and prediction columns for every profile that has bought, the run report's prediction summary);
    replenishment from the SKUs' `interval_counts` over the whole population when these profiles are a shard."""
    if service is None:
        return _empty(), {"skipped": "no prediction service"}
    lines = completed_lines(profiles, orders, as_of)
    if lines.num_rows == 0:
        return _empty(), {"skipped": "no completed orders"}
    try:
        histories = purchase_histories(lines, as_of)
        result = service.predict(histories)
    except (FitFailed, InvalidTransactions) as error:
        return _only_run_outs(lines, interval_counts), {"skipped": str(error)}
    if "failed" in result:
        return _only_run_outs(lines, interval_counts), {"skipped": str(result["failed"])}
    next_order_at = [_expected_day(as_of, float(days)) for days in np.asarray(result["next_order_in_days"])]
    table = pa.table({
        "profile_id": pc.cast(histories.customer_id, pa.string()),
        **{name: pa.array(np.asarray(result[source], dtype=float)) for name, source in NUMBER_PREDICTIONS.items()},
        "next_order_at": pa.array(next_order_at, ARROW_TYPES["timestamp"]),
        "prediction_confidence": pa.array([str(value) for value in result["confidence"]], pa.string()),
    })  # fmt: skip
    table = _with_run_outs(table, lines, interval_counts)
    confidence = dict(zip(*np.unique(np.asarray(table["prediction_confidence"]), return_counts=True)))
    summary = {**result.get("parameters", {}), "confidence": {str(k): int(v) for k, v in confidence.items()}}
    return table, summary


def _expected_day(as_of: datetime, days: float) -> datetime:
    """Midnight UTC of the expected next order's day: the calibration end (the run's day) plus the expected wait,
    rounded up to whole days. A date, not an instant: runs of one day agree on it, so an unchanged base rewrites no
    profile (an instant from the run's own clock would move every hour)."""
    return datetime.combine(as_of.astimezone(UTC).date() + timedelta(days=math.ceil(days)), time(0), UTC)


def _only_run_outs(lines: pa.Table, interval_counts: pa.Table | None) -> pa.Table:
    """Each buyer's run-outs, the purchase model's columns empty (it could not be fitted)."""
    profile_ids = pc.unique(pc.cast(lines["profile_id"], pa.string()))
    fitted = {name: pa.nulls(len(profile_ids), _type_of(name)) for name in PREDICTION_FIELDS if name != "next_run_out_at"}
    return _with_run_outs(pa.table({"profile_id": profile_ids, **fitted}), lines, interval_counts)


def _with_run_outs(table: pa.Table, lines: pa.Table, interval_counts: pa.Table | None) -> pa.Table:
    """The table with each profile's run-outs (`replenishment`) and the soonest of them (`next_run_out_at`)."""
    run_outs = _run_outs(lines, table["profile_id"], interval_counts)
    soonest = pc.struct_field(pc.list_element(pc.fill_null(run_outs, pa.scalar([None], run_outs.type)), 0), "run_out_date")
    moments = pc.strptime(soonest, format="%Y-%m-%d", unit="us").cast(_type_of("next_run_out_at"))
    return table.append_column("next_run_out_at", moments).append_column("replenishment", run_outs)


def purchased_skus(lines: pa.Table) -> pa.Table:
    """The replenishment input of `completed_lines`: customer_id, sku, date of the lines with a SKU."""
    with_sku = lines.filter(pc.is_valid(lines["sku"]))
    return pa.table({"customer_id": with_sku["profile_id"], "sku": with_sku["sku"], "date": with_sku["ordered_at"]})


def _run_outs(lines: pa.Table, profile_ids: pa.ChunkedArray, interval_counts: pa.Table | None) -> pa.ChunkedArray:
    """Each profile's predicted run-outs [{sku, run_out_date, interval_days}], soonest first (MAX_RUN_OUTS)."""
    purchases = purchased_skus(lines)
    struct_type = pa.list_(pa.struct([("sku", pa.string()), ("run_out_date", pa.string()),
                                      ("interval_days", pa.float64())]))  # fmt: skip
    if purchases.num_rows == 0:
        return pa.chunked_array([pa.nulls(len(profile_ids), struct_type)])
    _, run_outs = replenishment(purchases, interval_counts)
    if run_outs.num_rows == 0:
        return pa.chunked_array([pa.nulls(len(profile_ids), struct_type)])
    ranked = run_outs.sort_by([("customer_id", "ascending"), ("run_out_date", "ascending"), ("sku", "ascending")])
    entries = pa.StructArray.from_arrays(
        [pc.cast(ranked["sku"], pa.string()).combine_chunks(),
         pc.cast(ranked["run_out_date"], pa.string()).combine_chunks(),
         pc.round(ranked["interval_days"], 1).combine_chunks()],
        names=["sku", "run_out_date", "interval_days"],
    )  # fmt: skip
    owners = pc.cast(ranked["customer_id"], pa.string()).combine_chunks()
    first_of_owner = np.flatnonzero(np.r_[True, pc.not_equal(owners[1:], owners[:-1]).to_numpy(zero_copy_only=False)])
    offsets = pa.array(np.r_[first_of_owner, len(owners)].astype(np.int32))
    lists = pc.list_slice(pa.ListArray.from_arrays(offsets, entries), 0, MAX_RUN_OUTS)
    positions = pc.index_in(profile_ids, value_set=owners.take(pa.array(first_of_owner)))
    return pc.take(pc.cast(lists, struct_type), positions)
