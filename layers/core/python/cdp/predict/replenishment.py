"""Replenishment: how long a product lasts, from repeat purchases of the same SKU by the same customer.

Purchases of one SKU by one customer are counted once per day. Each gap between two consecutive purchase days of
the same (customer, SKU) is a replenishment interval. Per SKU: the median interval in days and how many intervals
and customers it rests on. Per (customer, SKU): the predicted run-out date is the last purchase day plus the
customer's own median interval when they have at least MIN_OWN_INTERVALS of them, else the SKU's median when it
rests on at least MIN_PRODUCT_INTERVALS; a pair with neither gets no prediction.

The SKU medians rest on every customer's intervals: a run over a part of the customers (a shard) takes them from
the whole population's interval counts (`interval_counts` of each part, added up), which give the same medians.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.predict.summary import days_since_epoch, require_columns

MIN_OWN_INTERVALS = 3
MIN_PRODUCT_INTERVALS = 5


def _group_medians(group: np.ndarray, value: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The median of `value` and the count of rows in each group 0..groups-1 (NaN median for an empty group)."""
    order = np.lexsort((value, group))
    group, value = group[order], value[order]
    counts = np.bincount(group, minlength=groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    medians = np.full(groups, np.nan)
    present = counts > 0
    low = starts[present] + (counts[present] - 1) // 2
    high = starts[present] + counts[present] // 2
    medians[present] = (value[low] + value[high]) / 2
    return medians, counts


INTERVAL_COUNTS_SCHEMA = pa.schema([("sku", pa.string()), ("gap_days", pa.float64()), ("count", pa.int64())])


def interval_counts(order_lines: pa.Table) -> pa.Table:
    """How many replenishment intervals of each length each SKU has among these order lines (sku, gap_days, count)."""
    if order_lines.num_rows == 0:
        return INTERVAL_COUNTS_SCHEMA.empty_table()
    intervals = _intervals(order_lines)
    table = pa.table({"sku": intervals.skus.take(pa.array(intervals.sku[intervals.repeat])),
                      "gap_days": intervals.gap[intervals.repeat]})  # fmt: skip
    counted = table.group_by(["sku", "gap_days"]).aggregate([([], "count_all")])
    return counted.rename_columns({"count_all": "count"}).cast(INTERVAL_COUNTS_SCHEMA)


def _medians_of_counts(counts: pa.Table, skus: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The median interval and the count of intervals of each of `skus`, from interval counts (NaN, 0: none)."""
    counts = counts.filter(pc.is_in(counts["sku"], value_set=skus))
    summed = counts.group_by(["sku", "gap_days"]).aggregate([("count", "sum")]).sort_by(
        [("sku", "ascending"), ("gap_days", "ascending")])
    medians, totals = np.full(len(skus), np.nan), np.zeros(len(skus), np.int64)
    codes = pc.index_in(summed["sku"], value_set=skus).to_numpy(zero_copy_only=False).astype(np.int64)
    gaps, numbers = summed["gap_days"].to_numpy(), summed["count_sum"].to_numpy()
    for code in np.unique(codes):
        cumulative, values = np.cumsum(numbers[codes == code]), gaps[codes == code]
        total = int(cumulative[-1])
        low, high = np.searchsorted(cumulative, [(total - 1) // 2, total // 2], side="right")
        medians[code], totals[code] = (values[low] + values[high]) / 2, total
    return medians, totals


class _Intervals:
    """Each distinct purchase day of each (customer, SKU) pair, ordered, and the gap since the pair's previous one."""

    def __init__(self, order_lines: pa.Table) -> None:
        customer_codes = pc.dictionary_encode(pc.cast(order_lines.column("customer_id"), pa.string()).combine_chunks())
        sku_codes = pc.dictionary_encode(pc.cast(order_lines.column("sku"), pa.string()).combine_chunks())
        customer = customer_codes.indices.to_numpy().astype(np.int64)
        sku = sku_codes.indices.to_numpy().astype(np.int64)
        day = days_since_epoch(order_lines.column("date"))
        order = np.lexsort((day, sku, customer))
        customer, sku, day = customer[order], sku[order], day[order]
        same_pair = np.r_[False, (customer[1:] == customer[:-1]) & (sku[1:] == sku[:-1])]
        distinct = ~same_pair | np.r_[True, day[1:] != day[:-1]]
        self.customers, self.skus = customer_codes.dictionary, sku_codes.dictionary
        self.customer, self.sku, self.day = customer[distinct], sku[distinct], day[distinct]
        self.repeat = same_pair[distinct]
        self.gap = np.r_[0, np.diff(self.day)].astype(float)


def _intervals(order_lines: pa.Table) -> _Intervals:
    require_columns(order_lines, ("customer_id", "sku", "date"))
    return _Intervals(order_lines)


def replenishment(order_lines: pa.Table, population_counts: pa.Table | None = None) -> tuple[pa.Table, pa.Table]:
    """From order lines with customer_id, sku and date: (per-SKU intervals, per customer-SKU run-out dates); the SKU
    medians from `population_counts` (every part's `interval_counts` together) when these lines are one part."""
    intervals = _intervals(order_lines)
    customers_dictionary, sku_dictionary = intervals.customers, intervals.skus
    customer, sku, day, same_pair, gap = intervals.customer, intervals.sku, intervals.day, intervals.repeat, intervals.gap
    pair_start = np.flatnonzero(~same_pair)
    pair = np.cumsum(~same_pair) - 1  # the (customer, SKU) pair of each purchase day
    skus = len(sku_dictionary)
    interval_rows = same_pair
    if population_counts is None:
        product_median, product_count = _group_medians(sku[interval_rows], gap[interval_rows], skus)
    else:
        product_median, product_count = _medians_of_counts(population_counts, sku_dictionary)
    product_customers = np.bincount(sku[pair_start], minlength=skus)
    pair_median, pair_count = _group_medians(pair[interval_rows], gap[interval_rows], pair_start.size)
    pair_sku = sku[pair_start]
    pair_last_day = day[np.r_[pair_start[1:], day.size] - 1]
    own = pair_count >= MIN_OWN_INTERVALS
    product_known = product_count[pair_sku] >= MIN_PRODUCT_INTERVALS
    predicted = own | product_known
    interval = np.where(own, pair_median, product_median[pair_sku])
    with_repeats = product_count > 0
    products = pa.table({
        "sku": sku_dictionary.filter(pa.array(with_repeats)),
        "median_interval_days": product_median[with_repeats],
        "intervals": pa.array(product_count[with_repeats], pa.int64()),
        "customers": pa.array(product_customers[with_repeats], pa.int64()),
    })
    run_out_day = (pair_last_day + np.round(np.nan_to_num(interval))).astype(np.int32)
    run_outs = pa.table({
        "customer_id": customers_dictionary.take(pa.array(customer[pair_start][predicted])),
        "sku": sku_dictionary.take(pa.array(pair_sku[predicted])),
        "last_purchase_date": pa.array(pair_last_day[predicted].astype(np.int32)).cast(pa.date32()),
        "interval_days": interval[predicted],
        "basis": pa.array(np.where(own, "customer", "product")[predicted], pa.string()),
        "run_out_date": pa.array(run_out_day[predicted]).cast(pa.date32()),
    })
    return products, run_outs
