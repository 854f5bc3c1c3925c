"""`make bench`: throughput and cold-start figures, written to bench.json."""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_local.template import REPO_ROOT, function_specs, load_template

ORDER_ROWS = 100_000
CUSTOMERS = 10_000
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def orders_csv(rows: int, customers: int, seed: int = 11) -> bytes:
    """A synthetic canonical orders export with about 1% faults."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["order_id", "customer_id", "ordered_at", "currency", "total_amount", "items", "category", "status"])
    for number in range(rows):
        amount = f"{rng.lognormvariate(4, 0.6):.2f}" if rng.random() > 0.01 else "-1"
        writer.writerow([f"O{number:08d}", f"C{rng.randrange(customers):06d}",
                         (start + timedelta(minutes=number)).isoformat(), "GBP", amount, rng.randint(1, 5),
                         rng.choice(["books", "toys", "home"]), "completed"])
    return buffer.getvalue().encode()


def clean_path(data: bytes) -> dict[str, Any]:
    """Read + clean only (pyarrow), against pyarrow's bare read_csv of the same bytes."""
    import pyarrow.csv as pacsv
    from cdp.clean.entities import ORDERS
    from cdp.clean.table import clean_table
    from cdp.ingest.file_reader import read_csv_rows

    started = time.perf_counter()
    pacsv.read_csv(io.BytesIO(data))
    bare = time.perf_counter() - started
    started = time.perf_counter()
    raw = read_csv_rows(data)
    result = clean_table(ORDERS, raw.table, raw.lines)
    elapsed = time.perf_counter() - started
    rows = raw.rows_in
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed),
            "bare_read_csv_seconds": round(bare, 3), "ratio_to_bare_read_csv": round(elapsed / bare, 2),
            "accepted": result.accepted.num_rows}


def ingest_through_local_stack(data: bytes) -> dict[str, Any]:
    """The whole ingest handler on moto, triggered by a real put to the raw bucket; counts DynamoDB writes."""
    from cdp_local.stack import LocalStack

    writes: Counter[str] = Counter()
    with LocalStack() as stack:
        import boto3

        def count(event_name: str, **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            if operation in WRITE_OPERATIONS:
                writes[operation] += 1

        boto3.DEFAULT_SESSION or boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)  # type: ignore[union-attr]
        started = time.perf_counter()
        stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/bench.csv", Body=data)
        elapsed = time.perf_counter() - started
        failures = [failure.error for failure in stack.async_failures]
    return {"rows": ORDER_ROWS, "seconds": round(elapsed, 2), "rows_per_s": round(ORDER_ROWS / elapsed),
            "dynamodb_write_requests": dict(writes), "write_requests_per_order": round(sum(writes.values()) / ORDER_ROWS, 3),
            "failures": failures, "note": "DynamoDB is moto in-process: request counts are meaningful, latency is not"}


def cold_imports() -> dict[str, float]:
    """Milliseconds to import each handler module in a fresh interpreter (the cold-start import cost)."""
    figures = {}
    environment = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'layers/core/python'}:{REPO_ROOT / 'local'}"}
    for logical_id, spec in sorted(function_specs(load_template()).items()):
        program = (
            "import importlib.util, time; t = time.perf_counter(); "
            f"s = importlib.util.spec_from_file_location('handler', {str(spec.module_file)!r}); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            "print((time.perf_counter() - t) * 1000)"
        )
        samples = [float(subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True,
                                        text=True, check=True).stdout) for _ in range(3)]
        figures[logical_id] = round(min(samples), 1)
    return figures


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {"p50": round(ordered[len(ordered) // 2], 3), "p99": round(ordered[int(len(ordered) * 0.99)], 3)}


def http_tracking(single_calls: int = 200, batches: int = 20, batch_size: int = 100) -> dict[str, Any]:
    """Warm per-event latency of the tracking handler in-process (moto): single track calls and 100-call batches."""
    from cdp_local.runner import create_local_source, http_api
    from cdp_local.stack import LocalStack

    with LocalStack(function_output=io.StringIO()) as stack:
        api = http_api(stack)
        authorization = "Basic " + base64.b64encode(f"{create_local_source(stack)}:".encode()).decode()
        headers = {"host": "localhost", "content-type": "application/json", "authorization": authorization}

        def track(number: int) -> dict[str, Any]:
            return {"type": "track", "messageId": f"bench-{number}", "userId": f"U{number % 500:04d}",
                    "event": "Product Viewed", "properties": {"product_id": f"P{number % 50}"}}

        def timed(path: str, body: dict[str, Any]) -> float:
            started = time.perf_counter()
            response = api.handle("POST", path, headers, json.dumps(body).encode())
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}: {response.body[:200]!r}")
            return elapsed

        timed("/v1/track", track(-1))  # warm-up: imports, settings, clients
        single = [timed("/v1/track", track(number)) for number in range(single_calls)]
        batched = [
            timed("/v1/batch", {"batch": [track(single_calls + b * batch_size + i) for i in range(batch_size)]})
            / batch_size
            for b in range(batches)
        ]
    return {"single_track_ms_per_event": _percentiles(single), "batch_of_100_ms_per_event": _percentiles(batched),
            "note": "whole request through the local HTTP API (authorizer + handler) on moto: compare, not AWS latency"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench.json")
    arguments = parser.parse_args()
    data = orders_csv(ORDER_ROWS, CUSTOMERS)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clean_path_100k_orders": clean_path(data),
        "cold_import_ms": cold_imports(),
        "http_tracking_warm": http_tracking(),
        "ingest_100k_orders_local_stack": ingest_through_local_stack(data),
    }
    arguments.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
