"""`make bench`: throughput and cold-start figures, written to bench.json."""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_local.template import REPO_ROOT, function_specs, load_template

ORDER_ROWS = 100_000
CUSTOMERS = 10_000
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


ORDER_COLUMNS = ["order_id", "line_id", "customer_id", "email", "ordered_at", "currency", "sku", "product_name",
                 "category", "brand", "quantity", "unit_price", "line_amount", "status", "channel", "country"]
CLEAN_PATH_ROWS = 1_000_000


def orders_csv(rows: int, customers: int, seed: int = 11) -> bytes:
    """A synthetic canonical line-level orders export (1-3 lines per order) with about 1% faults."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ORDER_COLUMNS)
    order, line = 0, 0
    for number in range(rows):
        if line == 0 or rng.random() < 0.5:
            order, line = order + 1, 0
        line += 1
        customer = rng.randrange(customers)
        quantity = rng.randint(1, 3)
        price = f"{rng.lognormvariate(3, 0.6):.2f}" if rng.random() > 0.01 else "n/a"
        category = rng.choice(["books", "toys", "home"])
        writer.writerow([f"O{order:08d}", line, f"C{customer:06d}", f"c{customer}@example.com",
                         (start + timedelta(minutes=number)).isoformat(), "GBP", f"SKU-{rng.randrange(500):04d}",
                         f"{category} item", category, "acme", quantity, price, "", "completed", "web", "GB"])
    return buffer.getvalue().encode()


def _measure_clean_path(path: Path) -> dict[str, Any]:
    """In this (child) process: stream the file through read_batches + apply_mapping + clean_table."""
    from cdp.clean.entities import ENTITIES
    from cdp.clean.table import clean_table
    from cdp.ingest.file_reader import ReadOptions, read_batches
    from cdp.ingest.mappings import apply_mapping, mapping_for

    started = time.perf_counter()
    mapping = mapping_for(f"orders/{path.name}", None)
    rows = accepted = 0
    with path.open("rb") as stream:
        for raw in read_batches(stream, ReadOptions.for_key(path.name, mapping.read_options)):
            result = clean_table(ENTITIES[mapping.entity], apply_mapping(mapping, raw.table), raw.lines)
            rows += raw.table.num_rows + len(raw.malformed)
            accepted += result.accepted.num_rows
    return {"rows": rows, "accepted": accepted, "seconds": time.perf_counter() - started}


def _measure_bare_read_csv(path: Path) -> dict[str, Any]:
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    rows = pacsv.read_csv(path).num_rows
    return {"rows": rows, "seconds": time.perf_counter() - started}


MEASURES = {"clean-path": _measure_clean_path, "bare-read-csv": _measure_bare_read_csv}


def _in_subprocess(measure: str, path: Path) -> dict[str, Any]:
    """Run one measure in a fresh interpreter, so its peak RSS is its own (ru_maxrss of that process)."""
    environment = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'layers/core/python'}:{REPO_ROOT / 'local'}"}
    completed = subprocess.run([sys.executable, "-m", "cdp_local.bench", "--measure", measure, str(path)],
                               env=environment, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def clean_path(path: Path) -> dict[str, Any]:
    """Streaming read + mapping + clean (pyarrow), against pyarrow's bare read_csv of the same file, each measured
    in its own process for an honest peak RSS."""
    ours = _in_subprocess("clean-path", path)
    bare = _in_subprocess("bare-read-csv", path)
    return {"rows": ours["rows"], "file_mb": round(path.stat().st_size / 1e6, 1), "seconds": round(ours["seconds"], 3),
            "rows_per_s": round(ours["rows"] / ours["seconds"]), "accepted": ours["accepted"],
            "peak_rss_mb": ours["peak_rss_mb"], "bare_read_csv_seconds": round(bare["seconds"], 3),
            "bare_read_csv_peak_rss_mb": bare["peak_rss_mb"],
            "ratio_to_bare_read_csv": round(ours["seconds"] / bare["seconds"], 2)}


def ingest_through_local_stack(data: bytes) -> dict[str, Any]:
    """The whole ingest handler on moto, triggered by a real put to the raw bucket; counts DynamoDB writes."""
    from cdp_local.stack import LocalStack

    writes: Counter[str] = Counter()
    items: Counter[str] = Counter()
    with LocalStack() as stack:
        import boto3

        def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            if operation in WRITE_OPERATIONS:
                writes[operation] += 1
                batched = sum(len(requests) for requests in params.get("RequestItems", {}).values())
                items[operation] += len(params.get("TransactItems", [])) or batched or 1

        boto3.DEFAULT_SESSION or boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("provide-client-params.dynamodb", count)  # type: ignore[union-attr]
        started = time.perf_counter()
        stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/bench.csv", Body=data)
        elapsed = time.perf_counter() - started
        failures = [failure.error for failure in stack.async_failures]
    return {"rows": ORDER_ROWS, "seconds": round(elapsed, 2), "rows_per_s": round(ORDER_ROWS / elapsed),
            "dynamodb_write_requests": dict(writes), "write_requests_per_order": round(sum(writes.values()) / ORDER_ROWS, 3),
            "dynamodb_items_written": dict(items), "items_written_per_order": round(sum(items.values()) / ORDER_ROWS, 3),
            "failures": failures, "note": "DynamoDB is moto in-process: request counts are meaningful, latency is not"}


CUSTOMER_ROWS = 2_000


def customers_csv(rows: int, seed: int = 13) -> bytes:
    """A synthetic canonical customers export: three identifiers, a signup and both consent columns per person."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["customer_id", "email", "phone", "first_name", "country", "signup_at", "email_consent", "sms_consent"])
    for number in range(rows):
        signup = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(20_000))
        writer.writerow([f"C{number:06d}", f"c{number}@example.com", f"+4479{number:08d}", "Ann", "GB",
                         signup.isoformat(), rng.choice(["true", "false"]), rng.choice(["true", "false"])])
    return buffer.getvalue().encode()


def requests_per_customer(data: bytes, rows: int) -> dict[str, Any]:
    """The ingest handler on moto for one customers file of new people: DynamoDB requests (reads and writes) per
    customer by operation, so the per-person cost of identity, profile and consent writes can be watched."""
    from cdp_local.stack import LocalStack

    requests: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        requests[event_name.rsplit(".", 1)[-1]] += 1

    with LocalStack(function_output=io.StringIO()) as stack:
        import boto3

        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        session.events.register("provide-client-params.dynamodb", count)  # type: ignore[union-attr]
        started = time.perf_counter()
        stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="customers/bench.csv", Body=data)
        elapsed = time.perf_counter() - started
        session.events.unregister("provide-client-params.dynamodb", count)  # type: ignore[union-attr]
        failures = [failure.error for failure in stack.async_failures]
    return {"rows": rows, "seconds": round(elapsed, 2),
            "dynamodb_requests_per_customer": {name: round(n / rows, 3) for name, n in sorted(requests.items())},
            "total_requests_per_customer": round(sum(requests.values()) / rows, 3), "failures": failures,
            "note": "every DynamoDB request of the ingest (natural keys, identity, profiles, consent, file ledger)"}


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
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        figures = MEASURES[arguments.measure](arguments.path)
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(figures))
        return
    data = orders_csv(ORDER_ROWS, CUSTOMERS)
    with tempfile.TemporaryDirectory() as folder:
        clean_path_file = Path(folder) / "orders-1m.csv"
        clean_path_file.write_bytes(orders_csv(CLEAN_PATH_ROWS, CUSTOMERS * 10))
        clean_path_figures = clean_path(clean_path_file)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clean_path_1m_order_lines": clean_path_figures,
        "cold_import_ms": cold_imports(),
        "http_tracking_warm": http_tracking(),
        "ingest_100k_orders_local_stack": ingest_through_local_stack(data),
        "ingest_customers_local_stack": requests_per_customer(customers_csv(CUSTOMER_ROWS), CUSTOMER_ROWS),
    }
    arguments.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
