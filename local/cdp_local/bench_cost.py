"""The `cost` bench figure: what a month of AWS costs a shop of 1k, 100k and 1M customers.

Billable requests per unit of work are measured on the template-driven local stack, stage by stage, on the demo's
sample data: per customer signed up (file ingest, profile, welcome journey), per order line, per tracking event
(one HTTP request each), per message (the sending service's function, invoked directly), and per customer per
scheduled run (segments, measurement). Each stage runs until what it started has finished, so a journey, a queued
message or a send is counted once, in the stage whose input caused it; the sends themselves are priced per message.
DynamoDB request units come from each request's parameters, Step Functions transitions from the executions'
histories, CloudWatch Logs from what the handlers write, Lambda GB-seconds from a duration model (Meter) fitted on
each invocation's own thread CPU time, not wall time, so a busy machine barely moves it. The month is those units x
ACTIVITY x PRICES (us-east-1 list prices, each with its source and the day it was read). The hosted peers' public
pricing for the same audience is given beside it (PEERS), from their pages as read.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from botocore.client import BaseClient
from moto.core.botocore_stubber import BotocoreStubber

from cdp_local.template import function_events, load_template, resources_of_type

SAMPLE_CUSTOMERS = 120
MESSAGES_MEASURED = 40
SIZES = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000}
AWS_WAIT_SECONDS = 0.010  # network wait of one AWS request made by a Lambda, added to its billed duration
LAMBDA_PLATFORM_LOG_BYTES = 3 * (26 + 110)  # START, END and REPORT lines Lambda writes per invocation
CLOUDWATCH_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs bills 26 bytes of metadata per log event
# Lambda polls each SQS event source with 5 long polls (20 s) at once even when the queue is empty: ReceiveMessage
# requests a month per queue, whatever the traffic
SECONDS_PER_MONTH = 30 * 24 * 3600
IDLE_POLLS_PER_QUEUE_MONTH = 5 * SECONDS_PER_MONTH / 20

ACTIVITY = {
    "new_customers_per_customer_month": 0.05,
    "orders_per_customer_month": 0.25,
    "tracking_events_per_customer_month": 20,
    "emails_per_customer_month": 8,
    "sms_per_customer_month": 0.2,
    "segment_runs_per_month": 720,  # ComputeSegmentsFunction: cron(5 * * * ? *)
    "measurement_runs_per_month": 30,  # MeasureMarketingFunction: cron(30 5 * * ? *)
    "xray_traced_share": 0.05,  # X-Ray's default sampling rule: one request a second, then 5%
    "stored_kb_per_customer": 20,  # profile items, ledger records, curated Parquet, raw exports
}


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str
    read_on: str


READ_ON = "2026-12-03"
AWS_LIST = "AWS list price, us-east-1 (the service's pricing page is not in the searchable store; assumed as of "
PRICES = {
    "dynamodb_write_request_unit": Price(0.625e-6, "WRU (on-demand, standard table)",
                                         "airbyte.com/data-engineering-resources/dynamodb-pricing (after the Nov 2024 cut)", READ_ON),
    "dynamodb_read_request_unit": Price(0.125e-6, "RRU (on-demand, standard table)",
                                        "airbyte.com/data-engineering-resources/dynamodb-pricing (after the Nov 2024 cut)", READ_ON),
    "dynamodb_storage_gb_month": Price(0.25, "GB-month", AWS_LIST + READ_ON + ")", READ_ON),
    "lambda_request": Price(0.20e-6, "request", "aws.amazon.com/lambda/pricing (via cloudchipr.com/blog/aws-lambda-pricing)", READ_ON),
    "lambda_gb_second_arm": Price(0.0000133334, "GB-second, arm64, first 7.5 billion",
                                  "aws.amazon.com/lambda/pricing (via cloudchipr.com/blog/aws-lambda-pricing)", READ_ON),
    "step_functions_transition": Price(0.025e-3, "state transition (Standard)", "aws.amazon.com/step-functions/pricing", READ_ON),
    "sqs_request": Price(0.40e-6, "request (standard queue, 64 KB chunk)",
                         "cloudburn.io/blog/amazon-sqs-pricing (us-east-1, March 2026)", READ_ON),
    "s3_put_request": Price(0.005e-3, "PUT/COPY/POST/LIST request", AWS_LIST + READ_ON + ")", READ_ON),
    "s3_get_request": Price(0.0004e-3, "GET and other request", AWS_LIST + READ_ON + ")", READ_ON),
    "s3_storage_gb_month": Price(0.023, "GB-month (S3 Standard, first 50 TB)", AWS_LIST + READ_ON + ")", READ_ON),
    "ses_email": Price(0.10e-3, "email sent", "cloudcostkit.com/guides/aws-ses-pricing; " + AWS_LIST + READ_ON + ")", READ_ON),
    "sms_us": Price(0.00883, "SMS to a US number (base price + carrier fee)", AWS_LIST + READ_ON + ")", READ_ON),
    "sns_publish": Price(0.50e-6, "SNS publish to a topic (64 KB chunk)", AWS_LIST + READ_ON + ")", READ_ON),
    "eventbridge_event": Price(1.00e-6, "custom event published",
                               "blog.awsfundamentals.com/aws-eventbridge-pricing-guide", READ_ON),
    "firehose_gb": Price(0.029 + 0.018 + 0.020, "GB ingested in 5 KB records: ingestion + format conversion + "
                         "dynamic partitioning", AWS_LIST + READ_ON + ")", READ_ON),
    "http_api_request": Price(1.00e-6, "API Gateway HTTP API request (first 300 million)", AWS_LIST + READ_ON + ")", READ_ON),
    "cloudwatch_logs_gb": Price(0.50, "GB ingested (Standard log class)",
                                "c3x.dev/blog/cloudwatch-logs-cost-optimization (us-east-1, June 2026)", READ_ON),
    "xray_trace": Price(5.00e-6, "trace recorded", AWS_LIST + READ_ON + ")", READ_ON),
}  # fmt: skip

PEERS = {
    "Segment (Connections, Team plan)": {
        "pricing": "$120/month including 10,000 monthly tracked users, then $0.012 (10k-25k), $0.011 (25k-100k), "
                   "$0.010 (100k+) per MTU; Business plan by quote",
        "source": "getlago.com/docs/templates/hybrid/segment and docs.amberflo.io/page/segment-style-hybrid-per-user-pricing",
        "read_on": READ_ON,
    },
    "Customer.io (Journeys)": {
        "pricing": "Essentials plan fee plus $0.009 per profile and $0.12 per 1,000 emails over the plan; Premium from "
                   "$0.004 per profile (custom)",
        "source": "docs.customer.io/accounts-and-workspaces/how-we-bill",
        "read_on": READ_ON,
    },
    "Klaviyo": {
        "pricing": "billed by active (emailable, unsuppressed) profiles, email sends up to 10x the plan's profiles; free "
                   "to 250 profiles and 500 emails; tier prices only on klaviyo.com/pricing (not in the stored pages)",
        "source": "help.klaviyo.com/hc/en-us/articles/16318901845403; filipkonecny.com/2026/03/15/klaviyo-pricing",
        "read_on": READ_ON,
    },
    "Braze": {
        "pricing": "no public list price: annual contracts on monthly active users, data points and message volume",
        "source": "braze.com/docs/user_guide/data_and_analytics/data_points; Braze investor presentation (contract "
                  "components)",
        "read_on": READ_ON,
    },
}


def segment_team_monthly_usd(customers: int) -> float:
    """Segment's Team plan for `customers` monthly tracked users (every customer active in the month)."""
    tiers = ((10_000, 0.0), (25_000, 0.012), (100_000, 0.011), (float("inf"), 0.010))
    cost, floor = 120.0, 0
    for ceiling, rate in tiers:
        cost += max(0, min(customers, ceiling) - floor) * rate
        floor = int(min(ceiling, 1e18))
        if customers <= ceiling:
            break
    return round(cost, 2)


def customer_io_overage_usd(customers: int, emails: float, included_profiles: int = 5_000,
                            included_emails: int = 1_000_000) -> float:
    """Customer.io Essentials' published overage rates beyond a plan's inclusions (the plan fee itself not added)."""
    return round(max(0, customers - included_profiles) * 0.009 + max(0.0, emails - included_emails) / 1000 * 0.12, 2)


# ------------------------------------------------------------------ measuring billable units
BILLABLE = {
    "s3": {"PutObject": "s3_put", "CopyObject": "s3_put", "ListObjectsV2": "s3_put", "ListObjectVersions": "s3_put",
           "DeleteObjects": "s3_put", "GetObject": "s3_get", "HeadObject": "s3_get"},
    "sqs": {"SendMessage": "sqs", "SendMessageBatch": "sqs", "ReceiveMessage": "sqs", "DeleteMessage": "sqs",
            "DeleteMessageBatch": "sqs", "ChangeMessageVisibility": "sqs"},
    "ses": {"SendEmail": "ses_email", "SendRawEmail": "ses_email"},
    "sesv2": {"SendEmail": "ses_email"},
    "stepfunctions": {"StartExecution": "step_functions_starts"},
}  # fmt: skip
SENDING_FUNCTION = "SendMessageFunction"  # its invocations, and what they cause, are priced per message
SCHEDULED = {"first_segment_run": "segment_runs_per_month", "segment_run": "segment_runs_per_month",
             "measurement_run": "measurement_runs_per_month"}  # fmt: skip
OBJECT_READS = ("s3_get", "s3_get_bytes", "lambda_gb_seconds_reading_objects")


def request_units(service: str, operation: str, params: dict[str, Any]) -> dict[str, float]:
    """The billable units of one AWS request, from its parameters (DynamoDB items of up to 1 KB written / 4 KB read)."""
    if service == "dynamodb":
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return {"dynamodb_wru": 1}
        if operation == "BatchWriteItem":
            return {"dynamodb_wru": sum(len(items) for items in params.get("RequestItems", {}).values())}
        if operation == "TransactWriteItems":
            return {"dynamodb_wru": 2 * len(params.get("TransactItems", []))}
        if operation == "GetItem":
            return {"dynamodb_rru": 1 if params.get("ConsistentRead") else 0.5}
        if operation == "BatchGetItem":
            return {"dynamodb_rru": sum(len(r.get("Keys", [])) for r in params.get("RequestItems", {}).values())}
        if operation in ("Query", "Scan"):
            return {"dynamodb_rru": 1}  # per page of up to 4 KB read: a lower bound for big partitions
        if operation == "TransactGetItems":
            return {"dynamodb_rru": 2 * len(params.get("TransactItems", []))}
        return {}
    if service == "events" and operation == "PutEvents":
        return {"eventbridge_events": len(params.get("Entries", []))}
    if service == "sns" and operation == "Publish":
        return {"sms" if params.get("PhoneNumber") else "sns_publish": 1}
    if service == "firehose" and operation in ("PutRecordBatch", "PutRecord"):
        return {"firehose_records": len(params.get("Records", [1]))}
    kind = BILLABLE.get(service, {}).get(operation)
    return {kind: 1} if kind else {}


class LogVolume(io.TextIOBase):
    """Where the handlers' output goes: counts the bytes and lines CloudWatch Logs would ingest, keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self.lines += text.count("\n")
        return len(text)

    def written(self) -> tuple[int, int]:
        return self.bytes, self.lines


@dataclass
class _Frame:
    """An open Lambda invocation or AWS request on one thread: what it used itself, nested frames excluded."""

    function: str | None  # the function's logical id; None for an AWS request served by moto
    cpu_started: float
    log_started: tuple[int, int]  # bytes and lines written so far
    nested_cpu: float = 0.0
    nested_log: tuple[int, int] = (0, 0)
    requests: int = 0
    object_reads: int = 0


@dataclass
class StageUsage:
    """Billable units and Lambda use of one stage, split by who pays: the stage itself, or its messages."""

    units: dict[str, dict[str, float]] = field(default_factory=lambda: {"own": defaultdict(float), "send": defaultdict(float)})
    functions: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))


class Meter:
    """Counts every AWS request and Lambda invocation of the local stack, each under the stage running and once.

    A Lambda's billed duration is its handler's own thread CPU time (what moto does to answer its requests and
    what the functions it causes do excluded), plus AWS_WAIT_SECONDS per AWS request it makes, rounded up to the
    millisecond as Lambda bills: thread CPU time does not grow while the thread waits for a core, a lock or the
    GIL, so a loaded machine changes it little, where wall time grew many-fold. Everything that runs inside the
    sending function (SES, SNS, its writes and records) is priced per message, whichever stage started it.
    """

    def __init__(self, memory_mb: dict[str, int], function_output: LogVolume) -> None:
        self.memory_mb = memory_mb
        self.output = function_output
        self.stage = "setup"
        self.usage: dict[str, StageUsage] = defaultdict(StageUsage)
        self._frames = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> list[_Frame]:
        return self._frames.__dict__.setdefault("stack", [])

    def _payer(self) -> str:
        return "send" if any(frame.function == SENDING_FUNCTION for frame in self._stack()) else "own"

    @contextmanager
    def frame(self, function: str | None) -> Iterator[None]:
        stack = self._stack()
        payer = "send" if function == SENDING_FUNCTION else self._payer()
        frame = _Frame(function, time.thread_time(), self.output.written())
        stack.append(frame)
        try:
            yield
        finally:
            cpu = time.thread_time() - frame.cpu_started
            log = tuple(now - then for now, then in zip(self.output.written(), frame.log_started, strict=True))
            stack.pop()
            if stack:
                stack[-1].nested_cpu += cpu
                stack[-1].nested_log = (stack[-1].nested_log[0] + log[0], stack[-1].nested_log[1] + log[1])
            if function is not None:
                own_bytes, own_lines = log[0] - frame.nested_log[0], log[1] - frame.nested_log[1]
                ingested = own_bytes + own_lines * CLOUDWATCH_EVENT_OVERHEAD_BYTES + LAMBDA_PLATFORM_LOG_BYTES
                self._record_invocation(function, payer, cpu - frame.nested_cpu, ingested, frame)

    def _record_invocation(self, function: str, payer: str, cpu: float, log_bytes: int, frame: _Frame) -> None:
        billed_ms = math.ceil((max(cpu, 0.0) + frame.requests * AWS_WAIT_SECONDS) * 1000)
        gb = self.memory_mb[function] / 1024
        reading = frame.object_reads * AWS_WAIT_SECONDS * gb  # waiting for S3 objects: grows with the objects read
        with self._lock:
            usage = self.usage[self.stage]
            usage.units[payer]["lambda_requests"] += 1
            usage.units[payer]["lambda_gb_seconds"] += billed_ms / 1000 * gb - reading
            usage.units[payer]["lambda_gb_seconds_reading_objects"] += reading
            usage.units[payer]["log_bytes"] += log_bytes
            tally = usage.functions[function]
            tally["invocations"] += 1
            tally["billed_ms"] += billed_ms
            tally["cpu_ms"] += cpu * 1000
            tally["aws_requests"] += frame.requests

    def count_request(self, service: str, operation: str, params: dict[str, Any]) -> None:
        stack = self._stack()
        answering = bool(stack) and stack[-1].function is None  # made by moto answering another request
        if answering and (service, operation) == ("s3", "PutObject"):
            return  # the local delivery stream's object per batch: Firehose's buffered objects are priced apart
        if stack and not answering:
            stack[-1].requests += 1
            stack[-1].object_reads += (service, operation) == ("s3", "GetObject")
        with self._lock:
            usage = self.usage[self.stage].units[self._payer()]
            for kind, value in request_units(service, operation, params).items():
                usage[kind] += value

    def count_bytes_read(self, size: int) -> None:
        """Bytes read from S3 (free within the region; shows what the scheduled runs read)."""
        with self._lock:
            self.usage[self.stage].units[self._payer()]["s3_get_bytes"] += size

    @contextmanager
    def metering(self, stack: Any) -> Iterator[Meter]:
        """Count while the local stack runs: boto3 calls, moto's answers, each function's handler."""
        meter = self
        original_call = BaseClient._make_api_call
        original_answer = BotocoreStubber.process_request
        original_handler_of = stack._handler_of

        def counted_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            polled = (service, operation) == ("sqs", "ReceiveMessage")
            if not polled:
                meter.count_request(service, operation, params)
            answer = original_call(client, operation, params)
            if polled and answer.get("Messages"):  # an empty poll is one of Lambda's idle polls, priced apart
                meter.count_request(service, operation, params)
            if (service, operation) == ("s3", "GetObject"):
                meter.count_bytes_read(answer.get("ContentLength", 0))
            return answer

        def answered(stubber: BotocoreStubber, request: Any) -> Any:
            with meter.frame(None):
                return original_answer(stubber, request)

        def handler_of(logical_id: str) -> Any:
            handler = original_handler_of(logical_id)

            def metered(event: Any, context: Any) -> Any:
                with meter.frame(logical_id):
                    return handler(event, context)

            return metered

        with (mock.patch.object(BaseClient, "_make_api_call", counted_call),
              mock.patch.object(BotocoreStubber, "process_request", answered),
              mock.patch.object(stack, "_handler_of", handler_of)):  # fmt: skip
            yield self


def _transitions(stack: Any, executions: list[str]) -> int:
    """Step Functions state transitions of these executions (states entered, as billed)."""
    client = stack.client("stepfunctions")
    pages = (page["events"] for arn in executions
             for page in client.get_paginator("get_execution_history").paginate(executionArn=arn))  # fmt: skip
    return sum(event["type"].endswith("StateEntered") for events in pages for event in events)


def _execution_arns(stack: Any) -> set[str]:
    machines = [logical for logical, r in stack.template["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"]
    return {execution["executionArn"] for logical_id in machines for execution in stack.executions(logical_id)}


def _post_one_event_per_request(stack: Any, data: Path, write_key: str) -> int:
    """Each tracking message as its own HTTP request to /v1/<type>, as analytics.js sends them; returns how many."""
    from cdp_local.runner import TRACKING_FOLDER, basic_authorization, http_api

    api = http_api(stack)
    headers = {"content-type": "application/json", "authorization": basic_authorization(write_key), "host": "localhost"}
    posted = 0
    for path in sorted((data / TRACKING_FOLDER).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                message = json.loads(line)
                api.handle("POST", f"/v1/{message['type']}", headers, line.encode())
                posted += 1
    return posted


def measure_units(customers: int = SAMPLE_CUSTOMERS) -> dict[str, Any]:
    """Billable units per customer signed up, per order line, per tracking event, per message, and per customer per
    segment run (a second run: the first writes every membership) and per measurement run, from one staged run of
    the local stack on sample data. Each stage runs until what it started is done (journeys, queued messages), so
    whatever it caused is counted in it and in no other."""
    from cdp_local.runner import create_local_source
    from cdp_local.sample_data import generate
    from cdp_local.stack import LocalStack

    template = load_template()
    memory = {logical: resource["Properties"].get("MemorySize", template["Globals"]["Function"]["MemorySize"])
              for logical, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"}  # fmt: skip
    divisors: dict[str, int] = {}
    transitions: dict[str, int] = {}
    outcomes: Counter[str] = Counter()
    output = LogVolume()
    meter = Meter(memory, output)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        counts = generate(data, as_of=date.today(), customers=customers)
        with LocalStack(wait_scale=0.0, function_output=output) as stack, meter.metering(stack):  # type: ignore[arg-type]
            bucket = stack.physical_id("RawBucket")

            def stage(name: str, work: Callable[[], int]) -> None:
                before = _execution_arns(stack)
                meter.stage = name
                divisors[name] = work()
                stack.wait_for_executions(timeout=600)
                stack.deliver_queued_messages()
                meter.stage = "setup"
                transitions[name] = _transitions(stack, sorted(_execution_arns(stack) - before))

            def drop(key: str, rows: int) -> int:
                stack.client("s3").put_object(Bucket=bucket, Key=key, Body=(data / key).read_bytes())
                return rows

            tick = {"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
                    "account": "123456789012", "time": "2026-12-01T05:30:00Z", "region": stack.region,
                    "resources": [], "detail": {}}  # fmt: skip

            def scheduled(function: str) -> Callable[[], int]:
                def run() -> int:
                    stack.invoke(function, tick)
                    return int(counts["customers"])

                return run

            stage("customer", lambda: drop("customers/customers.csv", counts["customers"]))
            stage("order_line", lambda: drop("orders/orders.csv.gz", counts["orders"]))
            write_key = create_local_source(stack)
            stage("tracking_event", lambda: _post_one_event_per_request(stack, data, write_key))
            stage("first_segment_run", scheduled("ComputeSegmentsFunction"))  # writes every membership: not priced
            stage("segment_run", scheduled("ComputeSegmentsFunction"))
            stage("measurement_run", scheduled("MeasureMarketingFunction"))
            profile_ids = [item["pk"]["S"].removeprefix("PROFILE#") for item in stack.client("dynamodb").scan(
                TableName=stack.physical_id("ProfilesTable"), FilterExpression="sk = :sk",
                ExpressionAttributeValues={":sk": {"S": "PROFILE"}}, ProjectionExpression="pk")["Items"]][:MESSAGES_MEASURED]  # fmt: skip

            def messages() -> int:
                for number, profile_id in enumerate(profile_ids):
                    outcome = stack.invoke(SENDING_FUNCTION, {
                        "profile_id": profile_id, "origin": "campaign", "origin_name": "bench", "step": "send",
                        "occurrence": f"bench-{number}", "channel": "email", "template": "welcome_email",
                        "context": {"coupon_code": "WELCOME10"},
                    })  # fmt: skip
                    outcomes[f"{outcome['status']}:{outcome['reason']}"] += 1
                return len(profile_ids)

            stage("message", messages)
    return {"sample": counts, "message_outcomes": dict(outcomes),
            "stages": {name: _per_unit(meter.usage[name], divisors[name], transitions[name], name)
                       for name in divisors}}  # fmt: skip


def _per_unit(usage: StageUsage, divisor: int, transitions: int, name: str) -> dict[str, Any]:
    """One stage's figures per unit of its activity: what it pays itself (with its sends when it is the sending
    stage), the messages it caused (priced per message, not here), and each function's invocations and billed
    milliseconds, so a reader can check them. A scheduled run's object reads (and the Lambda time spent waiting
    for them) are per run: they grow with the curated objects stored, not with the customers."""
    send = dict(usage.units["send"])
    own = defaultdict(float, usage.units["own"])
    own["step_functions_transitions"] += transitions
    for kind, value in send.items() if name == "message" else ():
        own[kind] += value
    per_run = {kind: round(own.pop(kind), 4) for kind in OBJECT_READS if kind in own} if name in SCHEDULED else {}
    functions = {name: {"invocations_per_unit": round(tally["invocations"] / divisor, 4),
                        "billed_ms_per_invocation": round(tally["billed_ms"] / tally["invocations"], 1),
                        "cpu_ms_per_invocation": round(tally["cpu_ms"] / tally["invocations"], 1),
                        "aws_requests_per_invocation": round(tally["aws_requests"] / tally["invocations"], 1)}
                 for name, tally in sorted(usage.functions.items())}  # fmt: skip
    return {
        "units_measured": divisor,
        "per_unit": {kind: round(value / divisor, 4) for kind, value in sorted(own.items()) if value},
        "per_run": per_run,
        "messages_caused_per_unit": round(send.get("lambda_requests", 0.0) / divisor, 4),
        "functions": functions,
    }


# ------------------------------------------------------------------ the month
def monthly_units(
    per_unit: dict[str, dict[str, float]], customers: int, per_run: dict[str, dict[str, float]] | None = None
) -> dict[str, float]:
    """Billable units in a month for `customers` at ACTIVITY (the messages stated are all messages, journeys' too),
    with the scheduled runs' `per_run` units once per run."""
    volumes = {
        "customer": customers * ACTIVITY["new_customers_per_customer_month"],
        "order_line": customers * ACTIVITY["orders_per_customer_month"] * 2,  # about two lines an order
        "tracking_event": customers * ACTIVITY["tracking_events_per_customer_month"],
        "message": customers * (ACTIVITY["emails_per_customer_month"] + ACTIVITY["sms_per_customer_month"]),
        "segment_run": customers * ACTIVITY["segment_runs_per_month"],
        "measurement_run": customers * ACTIVITY["measurement_runs_per_month"],
    }
    month: dict[str, float] = defaultdict(float)
    for unit, volume in volumes.items():
        for kind, value in per_unit[unit].items():
            month[kind] += value * volume
    for stage, units in (per_run or {}).items():
        if stage in SCHEDULED and stage != "first_segment_run":
            for kind, value in units.items():
                month[kind] += value * ACTIVITY[SCHEDULED[stage]]
    month["ses_email"] = customers * ACTIVITY["emails_per_customer_month"]
    month["sms"] = customers * ACTIVITY["sms_per_customer_month"]
    month["http_api_requests"] = volumes["tracking_event"]  # one request per event, as analytics.js sends them
    month["sqs"] += len(function_events(load_template(), "SQS")) * IDLE_POLLS_PER_QUEUE_MONTH
    month["s3_put"] += delivery_stream_objects_per_month()
    return month


def delivery_stream_objects_per_month() -> float:
    """The objects the delivery streams write in a month: each flushes its buffer every buffering interval (one day's
    partition at a time); the 128 MB size limit is not reached at these volumes."""
    streams = resources_of_type(load_template(), "AWS::KinesisFirehose::DeliveryStream").values()
    intervals = [stream["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"]
                 for stream in streams]  # fmt: skip
    return sum(SECONDS_PER_MONTH / interval for interval in intervals)


def monthly_bill(month: dict[str, float], customers: int) -> dict[str, float]:
    """Dollars per service for one month's units."""
    stored_gb = customers * ACTIVITY["stored_kb_per_customer"] / 1e6
    bill = {
        "dynamodb": month["dynamodb_wru"] * PRICES["dynamodb_write_request_unit"].usd
        + month["dynamodb_rru"] * PRICES["dynamodb_read_request_unit"].usd
        + stored_gb / 2 * PRICES["dynamodb_storage_gb_month"].usd,
        "lambda": month["lambda_requests"] * PRICES["lambda_request"].usd
        + (month["lambda_gb_seconds"] + month["lambda_gb_seconds_reading_objects"]) * PRICES["lambda_gb_second_arm"].usd,
        "step_functions": month["step_functions_transitions"] * PRICES["step_functions_transition"].usd,
        "sqs": month["sqs"] * PRICES["sqs_request"].usd,
        "s3": month["s3_put"] * PRICES["s3_put_request"].usd + month["s3_get"] * PRICES["s3_get_request"].usd
        + stored_gb / 2 * PRICES["s3_storage_gb_month"].usd,
        "firehose": month["firehose_records"] * 5 / 1e6 * PRICES["firehose_gb"].usd,
        "eventbridge": month["eventbridge_events"] * PRICES["eventbridge_event"].usd,
        "api_gateway": month["http_api_requests"] * PRICES["http_api_request"].usd,
        "ses": month["ses_email"] * PRICES["ses_email"].usd,
        "sms": month["sms"] * PRICES["sms_us"].usd,
        "sns": month["sns_publish"] * PRICES["sns_publish"].usd,
        "cloudwatch_logs": month["log_bytes"] / 2**30 * PRICES["cloudwatch_logs_gb"].usd,
        "xray": month["lambda_requests"] * ACTIVITY["xray_traced_share"] * PRICES["xray_trace"].usd,
    }
    return {service: round(usd, 2) for service, usd in bill.items()}


def cost_figure() -> dict[str, Any]:
    """The bench's `cost` entry."""
    return priced(measure_units())


def priced(measured: dict[str, Any]) -> dict[str, Any]:
    """The month's bills for SIZES from what `measure_units` measured, with the assumptions."""
    per_unit = {name: stage["per_unit"] for name, stage in measured["stages"].items()}
    per_run = {name: stage.get("per_run", {}) for name, stage in measured["stages"].items()}
    bills = {}
    for label, customers in SIZES.items():
        bill = monthly_bill(monthly_units(per_unit, customers, per_run), customers)
        total = round(sum(bill.values()), 2)
        emails = customers * ACTIVITY["emails_per_customer_month"]
        bills[label] = {"customers": customers, "monthly_usd": total, "per_1k_customers_usd": round(total / customers * 1000, 2),
                        "without_sms_usd": round(total - bill["sms"], 2), "by_service": bill,
                        "peers": {"segment_team_usd": segment_team_monthly_usd(customers),
                                  "customer_io_essentials_overage_usd": customer_io_overage_usd(customers, emails)}}  # fmt: skip
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "per_1k_customers_month_usd": {label: bill["per_1k_customers_usd"] for label, bill in bills.items()},
        "monthly_usd": {label: bill["monthly_usd"] for label, bill in bills.items()},
        "bills": bills,
        "assumptions": {"region": "us-east-1", "activity": ACTIVITY,
                        "lambda_duration": "per invocation: the handler's own thread CPU time + "
                                           f"{AWS_WAIT_SECONDS * 1000:g} ms per AWS request it makes, rounded up to 1 ms; "
                                           "init (cold start) time not included",
                        "scheduled_object_reads": "a scheduled run's S3 object reads (and Lambda's wait for them) "
                                                  "priced per run as measured on the sample's objects, not per "
                                                  "customer: they grow with the curated objects stored (Firehose "
                                                  "flushes at most every 300 s: up to 288 objects a day a stream)",
                        "cloudwatch_logs": "the handlers' output as written at the template's log level, + 26 bytes "
                                           "per line, + Lambda's START/END/REPORT lines",
                        "prices": {name: price.__dict__ for name, price in PRICES.items()},
                        "free_tiers": "not deducted", "peers": PEERS},  # fmt: skip
        "measured": measured,
    }


if __name__ == "__main__":
    print(json.dumps(cost_figure(), indent=2))
