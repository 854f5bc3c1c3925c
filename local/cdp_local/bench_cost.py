"""The `cost` bench figure: what a month of AWS costs a shop of 1k, 100k and 1M customers.

Billable requests per unit of work are measured on the template-driven local stack, stage by stage, on the demo's
sample data: per customer signed up (file ingest, profile, welcome journey), per order line, per tracking event
(HTTP API), per message (the sending service's function, invoked directly), and per customer per
scheduled run (segments, measurement, each invoked directly). DynamoDB request units are counted per item from each request's
parameters, Step Functions transitions from the executions' histories, Lambda GB-seconds from each function's own
time here plus a network wait per AWS request, times its memory in template.yaml. The month is then those units x
ACTIVITY x PRICES (us-east-1 list prices, each with its source and the day it was read). The hosted peers' public
pricing for the same audience is given beside it (PEERS), from their pages as read.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from cdp_local.operation_profile import OperationProfile, profiling_aws_operations
from cdp_local.template import load_template

SAMPLE_CUSTOMERS = 120
MESSAGES_MEASURED = 40
SIZES = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000}
AWS_WAIT_SECONDS = 0.010  # network wait of one AWS request inside a Lambda, added to its billed duration

ACTIVITY = {
    "new_customers_per_customer_month": 0.05,
    "orders_per_customer_month": 0.25,
    "tracking_events_per_customer_month": 20,
    "emails_per_customer_month": 8,
    "sms_per_customer_month": 0.2,
    "segment_runs_per_month": 720,  # ComputeSegmentsFunction: cron(5 * * * ? *)
    "measurement_runs_per_month": 30,  # MeasureMarketingFunction: cron(30 5 * * ? *)
    "tracking_events_per_http_request": 1,  # analytics.js sends one call per event; server libraries batch
    "log_kb_per_invocation": 1.0,
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
    "sqs_request": Price(0.40e-6, "request (standard queue, 64 KB chunk)", AWS_LIST + READ_ON + ")", READ_ON),
    "s3_put_request": Price(0.005e-3, "PUT/COPY/POST/LIST request", AWS_LIST + READ_ON + ")", READ_ON),
    "s3_get_request": Price(0.0004e-3, "GET and other request", AWS_LIST + READ_ON + ")", READ_ON),
    "s3_storage_gb_month": Price(0.023, "GB-month (S3 Standard, first 50 TB)", AWS_LIST + READ_ON + ")", READ_ON),
    "ses_email": Price(0.10e-3, "email sent", "cloudcostkit.com/guides/aws-ses-pricing; " + AWS_LIST + READ_ON + ")", READ_ON),
    "sms_us": Price(0.00883, "SMS to a US number (base price + carrier fee)", AWS_LIST + READ_ON + ")", READ_ON),
    "eventbridge_event": Price(1.00e-6, "custom event published",
                               "blog.awsfundamentals.com/aws-eventbridge-pricing-guide", READ_ON),
    "firehose_gb": Price(0.029 + 0.018 + 0.020, "GB ingested in 5 KB records: ingestion + format conversion + "
                         "dynamic partitioning", AWS_LIST + READ_ON + ")", READ_ON),
    "http_api_request": Price(1.00e-6, "API Gateway HTTP API request (first 300 million)", AWS_LIST + READ_ON + ")", READ_ON),
    "cloudwatch_logs_gb": Price(0.50, "GB of logs ingested", AWS_LIST + READ_ON + ")", READ_ON),
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
            "DeleteMessageBatch": "sqs"},
    "ses": {"SendEmail": "ses_email", "SendRawEmail": "ses_email"},
    "sesv2": {"SendEmail": "ses_email"},
    "sns": {"Publish": "sms"},
    "stepfunctions": {"StartExecution": "step_functions_start"},
}  # fmt: skip


@dataclass
class Tally:
    """Billable units counted in one stage."""

    units: dict[str, float]
    lambda_seconds: dict[str, float]
    lambda_invocations: Counter[str]


@contextmanager
def counting_request_units() -> Iterator[dict[str, float]]:
    """DynamoDB request units, EventBridge entries and Firehose records, from each request's parameters."""
    units: dict[str, float] = defaultdict(float)

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        service, operation = event_name.split(".")[1:3]
        if service == "dynamodb":
            if operation in ("PutItem", "UpdateItem", "DeleteItem"):
                units["dynamodb_wru"] += 1
            elif operation == "BatchWriteItem":
                units["dynamodb_wru"] += sum(len(items) for items in params.get("RequestItems", {}).values())
            elif operation == "TransactWriteItems":
                units["dynamodb_wru"] += 2 * len(params.get("TransactItems", []))
            elif operation == "GetItem":
                units["dynamodb_rru"] += 1 if params.get("ConsistentRead") else 0.5
            elif operation == "BatchGetItem":
                units["dynamodb_rru"] += sum(len(r.get("Keys", [])) for r in params.get("RequestItems", {}).values())
            elif operation in ("Query", "Scan"):
                units["dynamodb_rru"] += 1  # per page of up to 4 KB read: a lower bound for big partitions
            elif operation == "TransactGetItems":
                units["dynamodb_rru"] += 2 * len(params.get("TransactItems", []))
        elif service in ("events", "eventbridge") and operation == "PutEvents":
            units["eventbridge_events"] += len(params.get("Entries", []))
        elif service == "firehose" and operation in ("PutRecordBatch", "PutRecord"):
            units["firehose_records"] += len(params.get("Records", [1]))

    boto3.DEFAULT_SESSION.events.register("provide-client-params.*.*", count)  # type: ignore[union-attr]
    try:
        yield units
    finally:
        boto3.DEFAULT_SESSION.events.unregister("provide-client-params.*.*", count)  # type: ignore[union-attr]


def _difference(after: OperationProfile, before: dict[str, tuple[int, float]]) -> tuple[Counter[str], dict[str, float]]:
    counts: Counter[str] = Counter()
    seconds: dict[str, float] = {}
    for name, tally in after.tallies.items():
        count, wall = before.get(name, (0, 0.0))
        if tally.count - count:
            counts[name] = tally.count - count
            seconds[name] = tally.seconds - wall
    return counts, seconds


def _snapshot(profile: OperationProfile) -> dict[str, tuple[int, float]]:
    return {name: (tally.count, tally.seconds) for name, tally in profile.tallies.items()}


def _billable(counts: Counter[str], seconds: dict[str, float], units: dict[str, float], memory: dict[str, int]) -> Tally:
    """Turn one stage's operation counts into billable units."""
    billed: dict[str, float] = defaultdict(float, units)
    aws_requests = 0
    invocations: Counter[str] = Counter()
    lambda_seconds: dict[str, float] = {}
    for name, count in counts.items():
        if name.startswith("lambda:"):
            logical_id = name.removeprefix("lambda:")
            invocations[logical_id] += count
            lambda_seconds[logical_id] = seconds[name]
            continue
        service, _, operation = name.partition(".")
        aws_requests += count if service not in ("events", "stepfunctions", "logs", "glue") or operation == "PutEvents" else 0
        kind = BILLABLE.get(service, {}).get(operation)
        if kind:
            billed[kind] += count
    billed["lambda_requests"] = sum(invocations.values())
    gb_seconds = sum(lambda_seconds[fn] * memory.get(fn, 512) / 1024 for fn in lambda_seconds)
    average_memory_gb = (sum(memory.get(fn, 512) * n for fn, n in invocations.items()) / 1024 / max(1, billed["lambda_requests"]))
    billed["lambda_gb_seconds"] = gb_seconds + aws_requests * AWS_WAIT_SECONDS * average_memory_gb
    return Tally(billed, lambda_seconds, invocations)


def _transitions(stack: Any) -> int:
    """Step Functions state transitions of every execution so far (states entered, as billed)."""
    total = 0
    client = stack.client("stepfunctions")
    machines = [logical for logical, r in stack.template["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"]
    for logical_id in machines:
        for execution in stack.executions(logical_id):
            history = client.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
            total += sum(event["type"].endswith("StateEntered") for event in history)
    return total


def measure_units(customers: int = SAMPLE_CUSTOMERS) -> dict[str, Any]:
    """Billable units per customer signed up, per order line, per tracking event, per message, and per customer per
    segment run (a second run: the first writes every membership) and per measurement run, from one staged run of the local stack on sample data."""
    from datetime import date

    from cdp_local.runner import create_local_source, post_tracking_events
    from cdp_local.sample_data import generate
    from cdp_local.stack import LocalStack

    template = load_template()
    memory = {logical: resource["Properties"].get("MemorySize", template["Globals"]["Function"]["MemorySize"])
              for logical, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"}  # fmt: skip
    stages: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        counts = generate(data, as_of=date.today(), customers=customers)
        profile = OperationProfile()
        from cdp_local.runner import _timing_invocations

        with (
            profiling_aws_operations(profile),
            LocalStack(wait_scale=0.0, function_output=io.StringIO()) as stack,
            _timing_invocations(stack, profile),
            counting_request_units() as units,
        ):
            bucket = stack.physical_id("RawBucket")

            def stage(name: str, work: Any) -> None:
                before, units_before = _snapshot(profile), dict(units)
                work()
                operation_counts, seconds = _difference(profile, before)
                added = {kind: value - units_before.get(kind, 0.0) for kind, value in units.items()}
                stages[name] = _billable(operation_counts, seconds, added, memory)

            def drop(key: str) -> None:
                stack.client("s3").put_object(Bucket=bucket, Key=key, Body=(data / key).read_bytes())

            def customers_stage() -> None:
                drop("customers/customers.csv")
                stack.wait_for_executions(timeout=600)

            stage("customer", customers_stage)
            journey_transitions = _transitions(stack)
            stage("order_line", lambda: drop("orders/orders.csv.gz"))
            write_key = create_local_source(stack)
            stage("tracking_event", lambda: post_tracking_events(stack, data, write_key, lambda line: None))

            tick = {"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
                    "account": "123456789012", "time": "2026-12-01T05:30:00Z", "region": stack.region,
                    "resources": [], "detail": {}}  # fmt: skip
            stack.invoke("ComputeSegmentsFunction", tick)  # the first run writes every membership; later runs the changes
            stage("segment_run", lambda: stack.invoke("ComputeSegmentsFunction", tick))
            stage("measurement_run", lambda: stack.invoke("MeasureMarketingFunction", tick))
            profile_ids = [item["pk"]["S"].removeprefix("PROFILE#") for item in stack.client("dynamodb").scan(
                TableName=stack.physical_id("ProfilesTable"), FilterExpression="sk = :sk",
                ExpressionAttributeValues={":sk": {"S": "PROFILE"}}, ProjectionExpression="pk")["Items"]][:MESSAGES_MEASURED]  # fmt: skip

            def messages_stage() -> None:
                for number, profile_id in enumerate(profile_ids):
                    stack.invoke("SendMessageFunction", {
                        "profile_id": profile_id, "origin": "campaign", "origin_name": "bench", "step": "send",
                        "occurrence": f"bench-{number}", "channel": "email", "template": "welcome_email",
                    })  # fmt: skip

            stage("message", messages_stage)
            executions = sum(len(stack.executions(logical)) for logical, r in stack.template["Resources"].items()
                             if r["Type"] == "AWS::Serverless::StateMachine")  # fmt: skip
    per_unit_divisors = {"customer": counts["customers"], "order_line": counts["orders"],
                         "tracking_event": counts["tracking_events"], "message": max(1, len(profile_ids)),
                         "segment_run": counts["customers"], "measurement_run": counts["customers"]}  # fmt: skip
    per_unit = {name: {kind: value / per_unit_divisors[name] for kind, value in tally.units.items()}
                for name, tally in stages.items()}  # fmt: skip
    per_unit["message"]["step_functions_transitions"] = journey_transitions / max(1, executions)
    return {"sample": counts, "messages_measured": len(profile_ids),
            "per_unit": {name: {kind: round(value, 4) for kind, value in sorted(units_.items())}
                         for name, units_ in per_unit.items()}}  # fmt: skip


# ------------------------------------------------------------------ the month
def monthly_units(per_unit: dict[str, dict[str, float]], customers: int) -> dict[str, float]:
    """Billable units in a month for `customers` at ACTIVITY."""
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
    month["ses_email"] = customers * ACTIVITY["emails_per_customer_month"]
    month["sms"] = customers * ACTIVITY["sms_per_customer_month"]
    month["http_api_requests"] = volumes["tracking_event"] / ACTIVITY["tracking_events_per_http_request"]
    return month


def monthly_bill(month: dict[str, float], customers: int) -> dict[str, float]:
    """Dollars per service for one month's units."""
    lambda_requests = month["lambda_requests"] + month["http_api_requests"] * 2  # the authorizer and the handler
    stored_gb = customers * ACTIVITY["stored_kb_per_customer"] / 1e6
    bill = {
        "dynamodb": month["dynamodb_wru"] * PRICES["dynamodb_write_request_unit"].usd
        + month["dynamodb_rru"] * PRICES["dynamodb_read_request_unit"].usd
        + stored_gb / 2 * PRICES["dynamodb_storage_gb_month"].usd,
        "lambda": lambda_requests * PRICES["lambda_request"].usd
        + month["lambda_gb_seconds"] * PRICES["lambda_gb_second_arm"].usd,
        "step_functions": month["step_functions_transitions"] * PRICES["step_functions_transition"].usd,
        "sqs": month["sqs"] * PRICES["sqs_request"].usd,
        "s3": month["s3_put"] * PRICES["s3_put_request"].usd + month["s3_get"] * PRICES["s3_get_request"].usd
        + stored_gb / 2 * PRICES["s3_storage_gb_month"].usd,
        "firehose": month["firehose_records"] * 5 / 1e6 * PRICES["firehose_gb"].usd,
        "eventbridge": month["eventbridge_events"] * PRICES["eventbridge_event"].usd,
        "api_gateway": month["http_api_requests"] * PRICES["http_api_request"].usd,
        "ses": month["ses_email"] * PRICES["ses_email"].usd,
        "sms": month["sms"] * PRICES["sms_us"].usd,
        "cloudwatch_logs": lambda_requests * ACTIVITY["log_kb_per_invocation"] / 1e6 * PRICES["cloudwatch_logs_gb"].usd,
        "xray": lambda_requests * ACTIVITY["xray_traced_share"] * PRICES["xray_trace"].usd,
    }
    return {service: round(usd, 2) for service, usd in bill.items()}


def cost_figure() -> dict[str, Any]:
    """The bench's `cost` entry."""
    measured = measure_units()
    bills = {}
    for label, customers in SIZES.items():
        bill = monthly_bill(monthly_units(measured["per_unit"], customers), customers)
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
        "assumptions": {"region": "us-east-1", "activity": ACTIVITY, "aws_wait_seconds_per_request": AWS_WAIT_SECONDS,
                        "prices": {name: price.__dict__ for name, price in PRICES.items()},
                        "free_tiers": "not deducted", "peers": PEERS},  # fmt: skip
        "measured": measured,
    }


if __name__ == "__main__":
    print(json.dumps(cost_figure(), indent=2))
