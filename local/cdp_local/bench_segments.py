"""The `segments` bench figure: RFM + lifecycle + five rule segments with event windows, three ways side by side.

Generated data (1M customers, 10M order lines, 20M events at scale 1) is written once to Parquet, behaviour in time
order as date-partitioned curated files hold it (row-group statistics let a reader skip older rows); then each
engine, in its own process for an honest peak RSS, reads those files and computes the same memberships: ours
(cdp.segments.evaluate over the shipped RFM and lifecycle definitions plus BENCH_SEGMENTS), the same written in
DuckDB SQL, and in straightforward pandas. Each writes its memberships (one boolean column per segment, by
profile_id); the three must be equal.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CUSTOMERS, ORDER_LINES, EVENTS = 1_000_000, 10_000_000, 20_000_000
AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HISTORY_DAYS = 730
EVENT_DAYS = 90
CATEGORIES = ["shoes", "bags", "toys", "books", "home", "garden", "beauty", "sports", "music", "food"]
EVENT_MIX = {"Product Viewed": 0.5, "Products Searched": 0.1, "Product List Viewed": 0.1, "Product Added": 0.12,
             "Cart Viewed": 0.08, "Checkout Started": 0.05, "Order Completed": 0.05}  # fmt: skip
ENGINES = ("ours", "duckdb", "pandas")
# the longest windows of the bench's definitions: every engine reads only behaviour that recent, as a reader of
# date-partitioned curated Parquet would
EVENTS_READ, ORDER_LINES_READ = timedelta(days=30), timedelta(days=365)

NO_ORDER_30_DAYS = {"not": {"event": {"name": "Order Completed", "within": {"days": 30}}}}
BENCH_SEGMENTS: list[dict[str, Any]] = [
    {"name": "shoe_browsers", "version": 1, "where": {"all": [
        {"event": {"name": "Product Viewed", "where": [{"property": "category", "op": "=", "value": "shoes"}],
                   "within": {"days": 7}, "count": {"op": ">=", "value": 3}}},
        NO_ORDER_30_DAYS]}},
    {"name": "recent_big_spenders", "version": 1, "where": {"orders": {
        "within": {"days": 30}, "sum": {"property": "line_amount", "op": ">=", "value": 200}}}},
    {"name": "lapsing_repeat_buyers", "version": 1, "where": {"all": [
        {"orders": {"within": {"days": 365}, "count": {"op": ">=", "value": 2}}},
        {"not": {"orders": {"within": {"days": 90}}}}]}},
]  # fmt: skip
LIBRARY_SEGMENTS = ("rfm_", "lifecycle_", "cart_abandoners", "browse_abandoners")


def _labels(codes: Any, labels: list[str], missing: Any = None) -> pa.DictionaryArray:
    """Codes as a dictionary-encoded string column (no per-row Python or numpy strings)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=missing), labels)


def generate(folder: str, scale: str, seed: int = 7) -> dict[str, int]:
    """profiles.parquet, order_lines.parquet and events.parquet in `folder`; the profiles' aggregates (first seen,
    last order, orders, revenue) are computed from the order lines, as the profile store holds them."""
    rng = np.random.default_rng(seed)
    customers, lines, tracked = (max(int(count * float(scale)), 1) for count in (CUSTOMERS, ORDER_LINES, EVENTS))
    directory = Path(folder)
    ids = pc.binary_join_element_wise("C", pc.utf8_lpad(pc.cast(pa.array(np.arange(customers)), pa.string()), 7, "0"), "")
    now_us = int(AS_OF.timestamp() * 1_000_000)
    day_us = 86_400_000_000
    timestamp = pa.timestamp("us", tz="UTC")

    # order lines: 80% of customers buy, some far more often (a Pareto draw of weights); 1-3 lines per order
    buyers = rng.permutation(customers)[: int(customers * 0.8)]
    weights = rng.pareto(1.5, buyers.size) + 1
    orders = max(lines // 2, 1)
    order_customer = rng.choice(buyers, size=orders, p=weights / weights.sum())
    order_at = now_us - (rng.random(orders) * HISTORY_DAYS * day_us).astype(np.int64)
    line_order = np.sort(rng.integers(0, orders, lines))
    status = np.where(rng.random(lines) < 0.95, 0, rng.integers(1, 3, lines))
    order_lines = pa.table({
        "profile_id": pc.take(ids, pa.array(order_customer[line_order])),
        "order_id": pc.binary_join_element_wise("O", pc.cast(pa.array(line_order), pa.string()), ""),
        "line_id": pa.array(np.arange(lines) % 3 + 1).cast(pa.string()),
        "ordered_at": pa.array(order_at[line_order], timestamp),
        "status": _labels(status, ["completed", "cancelled", "refunded"]),
        "category": _labels(rng.integers(0, len(CATEGORIES), lines), CATEGORIES),
        "channel": _labels(rng.integers(0, 3, lines), ["web", "app", "store"]),
        "line_amount": pa.array(np.round(rng.lognormal(3.5, 0.8, lines), 2)),
    })  # fmt: skip
    pq.write_table(order_lines.sort_by("ordered_at"), directory / "order_lines.parquet")

    completed = order_lines.filter(pc.equal(order_lines["status"], "completed"))
    aggregates = completed.group_by("profile_id").aggregate(
        [("ordered_at", "min"), ("ordered_at", "max"), ("order_id", "count_distinct"), ("line_amount", "sum")]
    )
    del order_lines, completed
    signup = pa.array(now_us - (rng.random(customers) * HISTORY_DAYS * 1.2 * day_us).astype(np.int64), timestamp)
    position = pc.index_in(ids, value_set=aggregates["profile_id"])
    first_order = pc.take(aggregates["ordered_at_min"], position)
    profiles = pa.table({
        "profile_id": ids,
        "first_seen_at": pc.if_else(pc.fill_null(pc.less(first_order, signup), False), first_order, signup),
        "last_order_at": pc.take(aggregates["ordered_at_max"], position),
        "orders_count": pc.fill_null(pc.take(aggregates["order_id_count_distinct"], position), 0),
        "revenue": pc.fill_null(pc.take(aggregates["line_amount_sum"], position), 0.0),
    })  # fmt: skip
    pq.write_table(profiles, directory / "profiles.parquet")

    names = list(EVENT_MIX)
    event_codes = rng.choice(len(names), size=tracked, p=np.array(list(EVENT_MIX.values())))
    is_product = np.isin(event_codes, [names.index("Product Viewed"), names.index("Product Added")])
    is_order = event_codes == names.index("Order Completed")
    active = rng.permutation(customers)[: int(customers * 0.6)]
    events = pa.table({
        "profile_id": pc.take(ids, pa.array(active[rng.integers(0, active.size, tracked)])),
        "event": _labels(event_codes, names),
        "occurred_at": pa.array(now_us - (rng.random(tracked) * EVENT_DAYS * day_us).astype(np.int64), timestamp),
        "category": _labels(rng.integers(0, len(CATEGORIES), tracked), CATEGORIES, missing=~is_product),
        "price": pa.array(np.round(rng.lognormal(3.5, 0.8, tracked), 2), mask=~is_product),
        "discount": pa.array(np.where(rng.random(tracked) < 0.3, 5.0, 0.0), mask=~is_order),
    })  # fmt: skip
    pq.write_table(events.sort_by("occurred_at"), directory / "events.parquet")
    return {"customers": customers, "order_lines": lines, "events": tracked}


def bench_document() -> Any:
    """The shipped RFM and lifecycle definitions, cart and browse abandoners, and BENCH_SEGMENTS."""
    from cdp.segments.definitions import load_library, parse_document

    library = load_library()
    shipped = [segment.model_dump(by_alias=True, exclude_unset=True) for segment in library.segments
               if segment.name.startswith(LIBRARY_SEGMENTS)]  # fmt: skip
    return parse_document({"segments": [*shipped, *BENCH_SEGMENTS]})


def _rows_since(path: Path, columns: list[str], time_column: str, since: datetime | None) -> pa.Table:
    """The named columns of the rows at or after `since`, a row group at a time on this thread (threaded column
    decoding costs more CPU time than it saves wall time on a shared machine): row groups whose statistics say they
    end before `since` are skipped, only those that start before it are filtered row by row. Statistics are
    compared as stored (integers in the column's time unit), which spares the import of pandas that pyarrow's
    conversion of timestamp statistics makes."""
    parquet = pq.ParquetFile(path)
    time_index = parquet.schema_arrow.get_field_index(time_column)
    time_type = parquet.schema_arrow.field(time_index).type
    stored_since = None if since is None else pa.scalar(since, time_type).cast(pa.int64()).as_py()
    parts = []
    for group in range(parquet.num_row_groups):
        statistics = parquet.metadata.row_group(group).column(time_index).statistics
        known = stored_since is not None and statistics is not None and statistics.has_min_max
        if known and statistics.max_raw < stored_since:
            continue
        rows = parquet.read_row_group(group, columns=columns, use_threads=False)
        if stored_since is not None and not (known and statistics.min_raw >= stored_since):
            rows = rows.filter(pc.greater_equal(rows[time_column], pa.scalar(since, rows[time_column].type)))
        parts.append(rows)
    return pa.concat_tables(parts) if parts else parquet.schema_arrow.empty_table().select(columns)


def _ours(folder: Path) -> pa.Table:
    from cdp.segments.evaluate import behaviour_reads, evaluate

    document = bench_document()
    reads = behaviour_reads(document, AS_OF)
    assert (reads.events_since, reads.order_lines_since) == (AS_OF - EVENTS_READ, AS_OF - ORDER_LINES_READ)
    with ThreadPoolExecutor(3) as pool:  # a file a thread, as the segment job reads its objects concurrently
        profiles = pool.submit(lambda: pq.ParquetFile(folder / "profiles.parquet").read())
        events = pool.submit(_rows_since, folder / "events.parquet", reads.event_columns, "occurred_at",
                             reads.events_since)  # fmt: skip
        order_lines = pool.submit(_rows_since, folder / "order_lines.parquet", reads.order_line_columns, "ordered_at",
                                  reads.order_lines_since)  # fmt: skip
    result = evaluate(document, profiles.result(), events.result(), order_lines.result(), AS_OF)
    return pa.table({"profile_id": result.profile_ids, **result.masks})


def _duckdb(folder: Path) -> pa.Table:
    import duckdb

    from cdp_local.bench_segments_sql import SEGMENTS_SQL

    connection = duckdb.connect()
    connection.execute(f"SET threads TO {os.cpu_count() or 1}")
    connection.execute("SET enable_progress_bar = false")
    query = SEGMENTS_SQL.format(folder=folder, as_of=AS_OF.strftime("%Y-%m-%d %H:%M:%S+00"),
                                events_days=EVENTS_READ.days, order_lines_days=ORDER_LINES_READ.days)
    return connection.sql(query).to_arrow_table()


def _pandas(folder: Path) -> pa.Table:
    from cdp_local.bench_segments_pandas import segments_with_pandas

    return segments_with_pandas(folder, AS_OF, AS_OF - EVENTS_READ, AS_OF - ORDER_LINES_READ)


MEASURES = {"ours": _ours, "duckdb": _duckdb, "pandas": _pandas}


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Answers an import of pandas as the segment function's layers do, which hold pyarrow and numpy only: pyarrow
    imports pandas, when it finds it, at its first conversion of a Python value (0.2 CPU s)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def measure(engine: str, folder: str) -> dict[str, Any]:
    """In this (child) process: one engine's wall and CPU seconds (on a shared machine CPU seconds compare better),
    from reading the Parquet files to writing its memberships to `<engine>.parquet`, and its peak RSS. CPU seconds
    are user plus system time, also given apart: system time is mostly the kernel zeroing fresh memory pages, which
    on this virtual machine costs from a tenth to several times the user time for the same run. Ours runs without
    pandas, as deployed (pandas is installed here for the pandas engine only)."""
    if engine == "ours":
        sys.meta_path.insert(0, _WithoutPandas())
    started, times_started = time.perf_counter(), os.times()
    memberships = MEASURES[engine](Path(folder))
    pq.write_table(memberships, Path(folder) / f"{engine}.parquet")
    seconds, times = time.perf_counter() - started, os.times()
    user_seconds, system_seconds = times.user - times_started.user, times.system - times_started.system
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {"seconds": seconds, "cpu_seconds": user_seconds + system_seconds, "user_seconds": user_seconds,
            "system_seconds": system_seconds, "peak_rss_mb": peak_rss_mb}  # fmt: skip


def _in_subprocess(call: str, *arguments: str) -> Any:
    """`call(*arguments)` of this module in a fresh interpreter (Linux keeps ru_maxrss across exec, so the data is
    generated in a child too, never in the parent of the measured children); its JSON result."""
    repo = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": f"{repo / 'layers/core/python'}:{repo / 'local'}"}
    program = f"import json, sys; from cdp_local import bench_segments; print(json.dumps(bench_segments.{call}(*sys.argv[1:])))"
    completed = subprocess.run([sys.executable, "-c", program, *arguments], env=environment, capture_output=True,
                               text=True)  # fmt: skip
    if completed.returncode:
        raise RuntimeError(f"{call}{arguments} failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _differences(folder: Path) -> dict[str, list[str]]:
    """Per engine, the segments whose members differ from ours (none when all agree)."""
    ours = pq.read_table(folder / "ours.parquet").sort_by("profile_id")
    found = {}
    for engine in ENGINES[1:]:
        theirs = pq.read_table(folder / f"{engine}.parquet").sort_by("profile_id").select(ours.column_names)
        same_rows = ours["profile_id"].combine_chunks().equals(pc.cast(theirs["profile_id"], pa.string()).combine_chunks())
        found[engine] = [] if same_rows else ["profile_id"]
        found[engine] += [name for name in ours.column_names[1:]
                          if not ours[name].combine_chunks().equals(pc.fill_null(theirs[name], False).combine_chunks())]
    return found


def segments_figure(scale: float = 1.0) -> dict[str, Any]:
    """The figure at `scale` (1: 1M customers, 10M order lines, 20M events)."""
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        started = time.perf_counter()
        sizes = _in_subprocess("generate", directory, str(scale))
        generated = time.perf_counter() - started
        figures = {engine: _in_subprocess("measure", engine, directory) for engine in ENGINES}
        differences = _differences(folder)
        members = pq.read_table(folder / "ours.parquet")
        segment_sizes = {name: pc.sum(members[name]).as_py() for name in members.column_names[1:]}
    ours = figures["ours"]
    return {
        "seconds": round(ours["seconds"], 2), "duckdb_seconds": round(figures["duckdb"]["seconds"], 2),
        "pandas_seconds": round(figures["pandas"]["seconds"], 2), "peak_rss_mb": ours["peak_rss_mb"],
        "customers": sizes["customers"], "order_lines": sizes["order_lines"], "events": sizes["events"],
        "scale": scale, "duckdb_peak_rss_mb": figures["duckdb"]["peak_rss_mb"],
        "pandas_peak_rss_mb": figures["pandas"]["peak_rss_mb"],
        "cpu_seconds": {engine: round(figures[engine]["cpu_seconds"], 2) for engine in ENGINES},
        "user_seconds": {engine: round(figures[engine]["user_seconds"], 2) for engine in ENGINES},
        "system_seconds": {engine: round(figures[engine]["system_seconds"], 2) for engine in ENGINES},
        "load_average": [round(load, 1) for load in os.getloadavg()],
        "times_faster_than_pandas": round(figures["pandas"]["seconds"] / ours["seconds"], 1),
        "times_duckdb": round(ours["seconds"] / figures["duckdb"]["seconds"], 2),
        "same_memberships": not any(differences.values()), "differences": differences,
        "segments": segment_sizes, "generated_in_seconds": round(generated, 1), "cpus": os.cpu_count(),
        "note": "each engine in its own process reads the same Parquet files and computes 11 RFM, 5 lifecycle and "
                "5 rule segments with event windows; seconds run from reading the Parquet files to writing the memberships",
    }  # fmt: skip

