"""`make bench`: throughput and cold-start figures, written to bench.json."""

from __future__ import annotations

import argparse
import base64
import csv
import io
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_local.bench_campaign import campaign_figure
from cdp_local.bench_clv import clv_fit
from cdp_local.bench_cost import cost_figure
from cdp_local.bench_journeys import journeys_figure
from cdp_local.bench_live_segments import realtime_segments_figure
from cdp_local.bench_segments import segments_figure
from cdp_local.bench_sending import sending_figure
from cdp_local.template import REPO_ROOT, function_specs, load_template

ORDER_ROWS = 20_000  # the local-stack figure: moto applies about 70 order lines a second
CUSTOMERS = 10_000
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


ORDER_COLUMNS = ["order_id", "line_id", "customer_id", "email", "ordered_at", "currency", "sku", "product_name",
                 "category", "brand", "quantity", "unit_price", "line_amount", "status", "channel", "country"]
CLEAN_PATH_ROWS = 1_000_000
LARGE_FILE_MB = 1024  # the 1 GB single-function figure; --large-file-mb changes it (0: skip)


def _orders_csv_chunks(customers: int, seed: int, chunk_rows: int) -> Iterator[bytes]:
    """A synthetic canonical line-level orders export (1-3 lines per order) with about 1% faults, without end:
    the header and the first chunk_rows lines, then chunk_rows lines at a time."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ORDER_COLUMNS)
    order, line, numbers = 0, 0, itertools.count()
    while True:
        for number in itertools.islice(numbers, chunk_rows):
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
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def orders_csv(rows: int, customers: int, seed: int = 11) -> bytes:
    """The header and `rows` synthetic order lines (see _orders_csv_chunks), in memory."""
    return next(_orders_csv_chunks(customers, seed, rows))


def write_orders_csv(path: Path, target_bytes: int, customers: int, seed: int = 11) -> int:
    """Write synthetic order lines to `path` until it holds at least target_bytes, a chunk at a time (the file is
    never in memory); returns the count of order lines."""
    chunk_rows, rows = 50_000, 0
    with path.open("wb") as out:
        for chunk in _orders_csv_chunks(customers, seed, chunk_rows):
            out.write(chunk)
            rows += chunk_rows
            if out.tell() >= target_bytes:
                return rows
    raise AssertionError("the generator has no end")


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


IN_PROCESS_ANSWERS: dict[str, dict[str, Any]] = {
    "BatchGetItem": {"Responses": {}}, "Query": {"Items": [], "Count": 0}, "GetItem": {},
    "SendMessage": {"MessageId": "in-process"},
    "GetParameter": {"Parameter": {"Name": "salt", "Type": "SecureString", "Value": "bench-salt"}},
}


# The network a Lambda in the region would wait on, simulated by the in-process answers (see below); a request
# not named here (SQS, SSM...) waits as long as a DynamoDB one.
LATENCY_MS = {"dynamodb": 10.0, "PutObject": 25.0}
S3_READ_MB_PER_S = 80.0  # one GetObject stream into a Lambda


class _ThrottledFile:
    """A local file read no faster than S3_READ_MB_PER_S, as a GetObject stream into a Lambda would be."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._file.read(size)
        time.sleep(len(chunk) / (S3_READ_MB_PER_S * (1 << 20)))
        return chunk

    def close(self) -> None:
        self._file.close()


def _latency_seconds(operation: str) -> float:
    return LATENCY_MS.get(operation, LATENCY_MS["dynamodb"]) / 1000


def _answer_every_call_in_process(raw_objects: dict[str, Path]) -> Counter[str]:
    """Make every boto3 client created from now on in this process answer in-process, after the latency an AWS
    region would add (LATENCY_MS, slept so the GIL is free, as it is while a thread waits on a socket): each
    request is still built and serialised by botocore (its CPU cost counts), and the code's own concurrency
    overlaps the waits as it would on AWS. A GetObject of a key in raw_objects streams that local file at
    S3_READ_MB_PER_S; any other GetObject is NoSuchKey (no manifest); DynamoDB finds nothing (every key unseen,
    nobody erased); writes succeed. Returns the live count of requests by operation."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.response import StreamingBody

    requests: Counter[str] = Counter()

    def answer(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        requests[model.name] += 1
        if model.name == "GetObject":
            path = next((path for key, path in raw_objects.items() if params["url_path"].endswith(key)), None)
            if path is None:
                return AWSResponse("https://in-process", 404, {}, None), {"Error": {"Code": "NoSuchKey"}}  # type: ignore[arg-type]
            body = StreamingBody(_ThrottledFile(path), path.stat().st_size)  # type: ignore[no-untyped-call]
            return AWSResponse("https://in-process", 200, {}, None), {"Body": body}  # type: ignore[arg-type]
        time.sleep(_latency_seconds(model.name))
        return AWSResponse("https://in-process", 200, {}, None), IN_PROCESS_ANSWERS.get(model.name, {})  # type: ignore[arg-type]

    boto3.setup_default_session(region_name="eu-west-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    boto3.DEFAULT_SESSION.events.register("before-call", answer)  # type: ignore[union-attr]
    return requests


def _measure_file_path(path: Path) -> dict[str, Any]:
    """In this (child) process, the single-function file path exactly as IngestFileFunction runs it
    (pipeline.ingest_range over the whole object: streaming read, mapping, cleaning, the erased-register check,
    natural-key claims, quarantine and curated Parquet writes, one queued message per batch), with every AWS
    request built and serialised by botocore and answered in-process after a simulated latency (see
    _answer_every_call_in_process), on one core: the function's time, CPU time and memory, and its requests."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    from cdp import wiring
    from cdp.ingest.pipeline import DroppedFile, ingest_range
    from cdp.ingest.ranges import whole_object

    if hasattr(os, "sched_setaffinity"):  # one core: IngestFileFunction's 2,048 MB buys one vCPU (a full one from 1,769 MB)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    key = f"orders/{path.name}"
    requests = _answer_every_call_in_process({key: path})
    os.environ.update({
        "PROFILES_TABLE": "profiles", "LEDGER_TABLE": "ledger", "EVENT_BUS_NAME": "bus",
        "JOURNEY_TRIGGER_HORIZON_DAYS": "30", "DEFAULT_PHONE_REGION": "GB", "QUARANTINE_BUCKET": "quarantine",
        "CURATED_BUCKET": "curated", "LARGE_FILE_THRESHOLD_BYTES": str(1 << 40), "INGEST_RANGE_BYTES": str(1 << 28),
        "ERASURE_SALT_PARAMETER": "/cdp/erasure-salt",
        "PROFILE_BATCHES_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/profile-batches"})
    wiring.reset()
    started, cpu_started = time.perf_counter(), time.process_time()
    report = ingest_range(
        wiring.ingest_ports(), DroppedFile("raw", key, "v1", "etag"), wiring.ingest_settings(), datetime.now(UTC),
        whole_object(),
    )
    return {"rows": report.rows_in, "accepted": report.rows_accepted, "quarantined": report.rows_quarantined,
            "batches": report.batches, "profile_batches": report.profile_batches,
            "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started,
            "requests": dict(sorted(requests.items()))}


MEASURES = {"clean-path": _measure_clean_path, "bare-read-csv": _measure_bare_read_csv,
            "file-path": _measure_file_path}


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


def one_request_at_a_time_seconds(cpu_seconds: float, requests: dict[str, int], file_mb: float) -> float:
    """A pessimistic bound: the CPU time plus every request's latency (LATENCY_MS) one after another, with nothing
    overlapped, plus reading the object (S3_READ_MB_PER_S)."""
    waits = sum(count * _latency_seconds(operation) for operation, count in requests.items() if operation != "GetObject")
    return cpu_seconds + waits + file_mb / S3_READ_MB_PER_S


def large_file(size_mb: int) -> dict[str, Any]:
    """The 1 GB question: IngestFileFunction's whole work on a synthetic orders CSV of about size_mb, with the
    network simulated (see _measure_file_path), in its own process for an honest peak RSS, against the function's
    own memory and timeout in template.yaml; and pyarrow's bare read_csv of the same file, which holds it whole."""
    function = load_template()["Resources"]["IngestFileFunction"]["Properties"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders-large.csv"
        started = time.perf_counter()
        lines = write_orders_csv(path, size_mb << 20, CUSTOMERS * 100)
        written = time.perf_counter() - started
        ours = _in_subprocess("file-path", path)
        bare = _in_subprocess("bare-read-csv", path)
        size = path.stat().st_size
    pessimistic = one_request_at_a_time_seconds(ours["cpu_seconds"], ours["requests"], size / (1 << 20))
    return {"file_mb": round(size / (1 << 20)), "order_lines": lines, "generated_in_seconds": round(written, 1),
            "rows": ours["rows"], "accepted": ours["accepted"], "quarantined": ours["quarantined"],
            "batches": ours["batches"], "profile_batches_queued": ours["profile_batches"],
            "seconds": round(ours["seconds"], 1), "cpu_seconds": round(ours["cpu_seconds"], 1),
            "rows_per_s": round(ours["rows"] / ours["seconds"]), "peak_rss_mb": ours["peak_rss_mb"],
            "requests": ours["requests"], "seconds_one_request_at_a_time": round(pessimistic),
            "ingest_file_function": {"memory_mb": function["MemorySize"], "timeout_s": function["Timeout"]},
            "fits_one_lambda": ours["seconds"] < function["Timeout"] and ours["peak_rss_mb"] < function["MemorySize"],
            "simulated": {"latency_ms": LATENCY_MS, "s3_read_mb_per_s": S3_READ_MB_PER_S},
            "bare_read_csv_seconds": round(bare["seconds"], 1), "bare_read_csv_peak_rss_mb": bare["peak_rss_mb"],
            "note": "IngestFileFunction's whole work in-process on this machine's CPU, every AWS request built and "
                    "serialised by botocore and answered after a simulated latency; profile updates run on "
                    "ApplyProfileBatchFunction, one queued batch each (see profile_application_projection)"}


def profile_application_projection(local_stack: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """A projection, not a measure: ApplyProfileBatchFunction's DynamoDB time for the large file's queued batches,
    at the consumer's requests per order line measured on the local stack, LATENCY_MS each, PARALLEL_PROFILES in
    flight per consumer, ProfileApplyConcurrency consumers at once."""
    from cdp.adapters.profile_batches import PARALLEL_PROFILES

    consumers = int(load_template()["Parameters"]["ProfileApplyConcurrency"]["Default"])
    per_line = sum(local_stack["dynamodb_requests_by_function"]["ApplyProfileBatchFunction"].values()) / local_stack["rows"]
    lines_per_batch = large["accepted"] / max(large["profile_batches_queued"], 1)
    batch_seconds = per_line * lines_per_batch * LATENCY_MS["dynamodb"] / 1000 / PARALLEL_PROFILES
    waves = -(-large["profile_batches_queued"] // consumers)
    return {"projection": True, "measured_on_rows": local_stack["rows"],
            "requests_per_order_line": round(per_line, 3), "order_lines_per_batch": round(lines_per_batch),
            "seconds_per_batch": round(batch_seconds), "consumers": consumers,
            "minutes_for_the_file": round(waves * batch_seconds / 60, 1),
            "note": "network time only, per consumer; each batch must fit the consumer's 900 s timeout"}


def _with_large_file(results: dict[str, Any], size_mb: int) -> dict[str, Any]:
    """The results with the large-file figure and its profile-application projection (unchanged when size_mb is 0)."""
    if not size_mb:
        return results
    measured = large_file(size_mb)
    # requests per line from 2,000 lines over as many customers: the large file's 33,000-line batches over 1M
    # customers touch about one customer per line too (the 20k measure's 10k customers recur within a batch)
    local_stack = ingest_through_local_stack(orders_csv(2_000, 2_000))
    return {**results, "large_file_single_function": measured,
            "profile_application_projection": profile_application_projection(local_stack, measured)}


def ingest_through_local_stack(data: bytes) -> dict[str, Any]:
    """The whole file path on moto, triggered by a real put to the raw bucket: IngestFileFunction, then
    ApplyProfileBatchFunction for each queued batch; counts DynamoDB requests and writes, also by function."""
    from cdp_local.stack import LocalStack

    writes: Counter[str] = Counter()
    items: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    by_function: dict[str, Counter[str]] = {}
    with LocalStack(function_output=io.StringIO()) as stack:
        import boto3

        functions = {stack.physical_id(logical_id): logical_id for logical_id in stack.functions}

        def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            requests[operation] += 1
            function = functions.get(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), "outside a function")
            by_function.setdefault(function, Counter())[operation] += 1
            if operation in WRITE_OPERATIONS:
                writes[operation] += 1
                batched = sum(len(requests) for requests in params.get("RequestItems", {}).values())
                items[operation] += len(params.get("TransactItems", [])) or batched or 1

        boto3.DEFAULT_SESSION or boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("provide-client-params.dynamodb", count)  # type: ignore[union-attr]
        started = time.perf_counter()
        stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/bench.csv", Body=data)
        elapsed = time.perf_counter() - started
        boto3.DEFAULT_SESSION.events.unregister("provide-client-params.dynamodb", count)  # type: ignore[union-attr]
        failures = [failure.error for failure in stack.async_failures]
    rows = data.count(b"\n") - 1
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed),
            "dynamodb_write_requests": dict(writes), "write_requests_per_order": round(sum(writes.values()) / rows, 3),
            "dynamodb_items_written": dict(items), "items_written_per_order": round(sum(items.values()) / rows, 3),
            "dynamodb_requests": dict(requests),
            "dynamodb_requests_by_function": {name: dict(counts) for name, counts in sorted(by_function.items())},
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


DEMO_CUSTOMERS = 120  # `make demo`'s default shop


def demo_figure(customers: int = DEMO_CUSTOMERS) -> dict[str, Any]:
    """`make demo` as a newcomer runs it: the sample shop through every stage of the local stack; wall and CPU
    seconds (the machine may be shared: CPU is the steadier figure) and the Step Functions executions it ran."""
    from cdp_local.runner import run_pipeline
    from cdp_local.sample_data import generate

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "sample_data"
        generate(data, as_of=datetime.now(UTC).date(), customers=customers)
        report = run_pipeline(data, Path(folder) / "function-logs.jsonl", progress=lambda line: None)
    executions = sum(journey["started"] for journey in report["journeys"].values())
    executions += sum(machine["started"] for machine in report["state_machines"].values())
    return {"seconds": report["seconds"], "cpu_seconds": report["cpu_seconds"], "customers": customers,
            "executions": executions, "load_average_1m": round(os.getloadavg()[0], 1)}  # fmt: skip


# figures `make bench ONLY=<name>` measures alone (bench.json then holds that figure only), given the arguments
SEPARATE_FIGURES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "clv": lambda arguments: clv_fit(),
    "segments": lambda arguments: segments_figure(arguments.scale),
    "sending": lambda arguments: sending_figure(),
    "realtime_segments": lambda arguments: realtime_segments_figure(),
    "journeys": lambda arguments: journeys_figure(),
    "cost": lambda arguments: cost_figure(),
    "campaign": lambda arguments: campaign_figure(),
    "demo": lambda arguments: demo_figure(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench.json")
    parser.add_argument("--large-file-mb", type=int, default=LARGE_FILE_MB,
                        help="size of the synthetic CSV for the single-function large-file figure (0: skip it)")
    parser.add_argument("--only-large-file", action="store_true", help="measure the large-file figure alone")
    parser.add_argument("--only", choices=sorted(SEPARATE_FIGURES), help="measure this figure alone")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="data scale of the segments figure (1: 1M customers, 10M order lines, 20M events)")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        figures = MEASURES[arguments.measure](arguments.path)
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(figures))
        return
    if arguments.only:
        arguments.out.write_text(json.dumps({arguments.only: SEPARATE_FIGURES[arguments.only](arguments)}, indent=2) + "\n")
        print(arguments.out.read_text())
        return
    data = orders_csv(ORDER_ROWS, CUSTOMERS)
    if arguments.only_large_file:
        results: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
        arguments.out.write_text(json.dumps(_with_large_file(results, arguments.large_file_mb), indent=2) + "\n")
        print(arguments.out.read_text())
        return
    with tempfile.TemporaryDirectory() as folder:
        clean_path_file = Path(folder) / "orders-1m.csv"
        clean_path_file.write_bytes(orders_csv(CLEAN_PATH_ROWS, CUSTOMERS * 10))
        clean_path_figures = clean_path(clean_path_file)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clean_path_1m_order_lines": clean_path_figures,
    }
    # before the local-stack measures grow this process: a child's ru_maxrss starts from its parent's at fork
    results = _with_large_file(results, arguments.large_file_mb)
    results.update({
        "cold_import_ms": cold_imports(),
        "http_tracking_warm": http_tracking(),
        "ingest_20k_orders_local_stack": ingest_through_local_stack(data),
        "ingest_customers_local_stack": requests_per_customer(customers_csv(CUSTOMER_ROWS), CUSTOMER_ROWS),
    })
    results.update({name: measure(arguments) for name, measure in SEPARATE_FIGURES.items()})
    arguments.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
