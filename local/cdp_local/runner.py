"""Runs the whole pipeline on a folder of exports through the local stack, and reports what happened."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack

TRACKING_FOLDER = "tracking"
TRACKING_BATCH_SIZE = 100
LOCAL_SOURCE_ID = "local-demo"
DEMO_SHOP = "demo.myshopify.com"
DEMO_SHOP_SECRET = (
    "shpss_local_demo_webhook_secret"  # local only: the sample webhooks in events/shopify are signed with it
)

Progress = Callable[[str], None]


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _scan(stack: LocalStack, table_logical_id: str) -> Iterator[dict[str, Any]]:
    paginator = stack.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=stack.physical_id(table_logical_id)):
        for item in page["Items"]:
            yield {name: next(iter(value.values())) for name, value in item.items()}


def create_local_source(stack: LocalStack) -> str:
    """Register the demo tracking source in the stack and return its write key."""
    from cdp.adapters.sources import create_source

    return create_source(stack.physical_id("ProfilesTable"), LOCAL_SOURCE_ID)


def register_demo_shop(stack: LocalStack) -> tuple[str, str]:
    """Register the demo Shopify shop's webhook secret where the tracking function looks for it; (domain, secret)."""
    from cdp.adapters.sources import register_shop

    register_shop(f"/{stack.stack_name}/shopify/", DEMO_SHOP, DEMO_SHOP_SECRET)
    return DEMO_SHOP, DEMO_SHOP_SECRET


def http_api(stack: LocalStack) -> Any:
    """The template's HTTP API over this stack (a LocalHttpApi)."""
    from cdp_local.http_api import LocalHttpApi

    return LocalHttpApi(stack.template, stack.invoke, LOCAL_CREDENTIALS, stack.region)


def drop_files(stack: LocalStack, data_dir: Path, progress: Progress) -> int:
    """Put every export file into the raw bucket, as a user would; the bucket's trigger does the rest."""
    files = [path for path in sorted(data_dir.rglob("*")) if path.is_file() and TRACKING_FOLDER not in path.parts]
    bucket = stack.physical_id("RawBucket")
    for path in files:
        key = path.relative_to(data_dir).as_posix()
        started = time.monotonic()
        stack.client("s3").put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        progress(f"  dropped {key} ({path.stat().st_size:,} bytes) - ingested in {time.monotonic() - started:.1f}s")
    return len(files)


def basic_authorization(write_key: str) -> str:
    """The Authorization header Segment's libraries send: the write key as the HTTP Basic username."""
    import base64

    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def post_tracking_events(stack: LocalStack, data_dir: Path, write_key: str, progress: Progress) -> int:
    """Send the Segment messages in tracking/*.jsonl to POST /v1/batch, authenticated with the write key."""
    api = http_api(stack)
    authorization = basic_authorization(write_key)
    sent = 0
    for path in sorted((data_dir / TRACKING_FOLDER).glob("*.jsonl")):
        messages = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for start in range(0, len(messages), TRACKING_BATCH_SIZE):
            body = json.dumps({"batch": messages[start : start + TRACKING_BATCH_SIZE]}).encode()
            response = api.handle(
                "POST",
                "/v1/batch",
                {"content-type": "application/json", "authorization": authorization, "host": "localhost"},
                body,
            )
            if response.status != 200:
                progress(f"  POST /v1/batch answered {response.status}: {response.body[:200]!r}")
            sent += len(messages[start : start + TRACKING_BATCH_SIZE])
        progress(f"  posted {len(messages)} tracking messages from {path.name}")
    return sent


def _failure_cause(stack: LocalStack, execution_arn: str) -> str:
    """The first task failure in an execution's history, which says why a journey failed."""
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
    for event in history:
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails")
        if details:
            return f"{details.get('error')}: {details.get('cause', '')[:500]}"
    return "unknown"


DEAD_LETTER_SAMPLES = 5
DEAD_LETTER_KEYS = ("deadLetterTargetArn", "DeadLetterQueue", "DeadLetterConfig")


def _dead_letter_targets(node: Any) -> set[str]:
    """The logical ids of every queue the template names as a dead-letter target: an SQS redrive policy's
    deadLetterTargetArn, a function's DeadLetterQueue TargetArn, an event target's DeadLetterConfig Arn."""
    if isinstance(node, list):
        return set().union(*map(_dead_letter_targets, node))
    if not isinstance(node, dict):
        return set()
    found = set().union(*map(_dead_letter_targets, node.values()))
    for name in DEAD_LETTER_KEYS:
        target = node.get(name)
        if isinstance(target, dict):
            arn = target.get("TargetArn", target.get("Arn", target))
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                found.add(arn["Fn::GetAtt"][0])
    return found


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """Every dead-letter queue holding messages: how many, and the first few bodies (which batch or event failed).
    Any entry means work the run accepted was not done: the run has failed."""
    sqs = stack.client("sqs")
    queues = []
    for logical_id in sorted(_dead_letter_targets(stack.template["Resources"])):
        url = stack.physical_id(logical_id)
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        count = sum(int(value) for value in attributes.values())
        if count:
            sample = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=DEAD_LETTER_SAMPLES, VisibilityTimeout=0)
            bodies = [message["Body"][:500] for message in sample.get("Messages", [])]
            queues.append({"queue": logical_id, "messages": count, "samples": bodies})
    return queues


def build_report(stack: LocalStack) -> dict[str, Any]:
    """Everything the run did, read back from the stack's own tables and executions."""
    ledger_items = list(_scan(stack, "LedgerTable"))
    profile_items = list(_scan(stack, "ProfilesTable"))
    files = {
        (item["pk"], item["sk"]): json.loads(item["report"])
        for item in ledger_items
        if item["pk"].startswith("FILE#") and "report" in item
    }
    applied = {
        (item["pk"], item["sk"].removesuffix("#PROFILES")): len(item["applied_batches"])
        for item in ledger_items
        if item["pk"].startswith("FILE#") and item["sk"].endswith("#PROFILES")
    }
    sends = [item for item in profile_items if item["sk"].startswith("MESSAGE#")]
    machines = [
        logical_id
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    ]
    journeys = {}
    for logical_id in machines:
        executions = stack.executions(logical_id)
        failed = [execution for execution in executions if execution["status"] in ("FAILED", "TIMED_OUT", "ABORTED")]
        journeys[logical_id] = {
            "started": len(executions),
            "completed": sum(execution["status"] == "SUCCEEDED" for execution in executions),
            "failed": len(failed),
            "failures": [_failure_cause(stack, execution["executionArn"]) for execution in failed[:5]],
        }
    return {
        "files": [
            {
                **{
                    name: report[name]
                    for name in (
                        "key",
                        "entity",
                        "rows_in",
                        "rows_accepted",
                        "rows_quarantined",
                        "quarantine_reasons",
                        "file_error",
                        "file_error_detail",
                        "profile_batches",
                    )
                },
                "profile_batches_applied": applied.get((pk, sk), 0),
            }
            for (pk, sk), report in sorted(files.items(), key=lambda file: file[1]["key"])
        ],
        "profiles": sum(item["sk"] == "PROFILE" for item in profile_items),
        "segments": dict(
            sorted(
                Counter(
                    item["pk"].removeprefix("SEGMENT#") for item in profile_items if item["pk"].startswith("SEGMENT#")
                ).items()
            )
        ),
        "journeys": journeys,
        "messages": {
            "email": sum(item["status"] == "sent" and item["channel"] == "email" for item in sends),
            "sms": sum(item["status"] == "sent" and item["channel"] == "sms" for item in sends),
            "suppressed": dict(Counter(item["reason"] for item in sends if item["status"] == "suppressed")),
        },
        "async_failures": [failure.__dict__ for failure in stack.async_failures],
        "dead_letters": dead_letters(stack),
    }


def run_pipeline(
    data_dir: Path,
    function_log: Path,
    progress: Progress = print_progress,
    journey_timeout: float = 600,
    log_level: str = "WARNING",
) -> dict[str, Any]:
    """Stand the stack up, ingest `data_dir`, run the schedules, let journeys finish (waits shortened), report.

    The functions' own output (structured logs, metrics) goes to `function_log`, as it would to CloudWatch Logs.
    """
    started = time.monotonic()
    function_log.parent.mkdir(parents=True, exist_ok=True)
    with (
        function_log.open("w", encoding="utf-8") as function_output,
        LocalStack(wait_scale=0.0, parameters={"LogLevel": log_level}, function_output=function_output) as stack,
    ):
        progress(f"local stack up in {time.monotonic() - started:.1f}s ({len(stack.physical_ids)} resources)")
        progress("dropping files into the raw bucket:")
        drop_files(stack, data_dir, progress)
        if (data_dir / TRACKING_FOLDER).is_dir():
            progress("sending tracking events to the HTTP API:")
            post_tracking_events(stack, data_dir, create_local_source(stack), progress)
        progress(f"running schedules: {stack.run_schedules()} target(s) fired")
        progress("waiting for journeys to finish (waits shortened)...")
        stack.wait_for_executions(timeout=journey_timeout)
        report = build_report(stack)
    progress(f"done in {time.monotonic() - started:.1f}s; function logs and metrics in {function_log}")
    return report


def summary(report: dict[str, Any]) -> str:
    rows_in = sum(file["rows_in"] for file in report["files"])
    accepted = sum(file["rows_accepted"] for file in report["files"])
    lines = [
        f"files: {len(report['files'])}  rows in: {rows_in:,}  accepted: {accepted:,}  quarantined: {rows_in - accepted:,}",
        f"profiles: {report['profiles']:,}  (batches applied: "
        f"{sum(file['profile_batches_applied'] for file in report['files'])} of "
        f"{sum(file['profile_batches'] for file in report['files'])} queued)",
        "segments: " + ", ".join(f"{name}={size}" for name, size in report["segments"].items()),
        "journeys: "
        + ", ".join(
            f"{name} started={j['started']} completed={j['completed']}" for name, j in report["journeys"].items()
        ),
        f"messages: email={report['messages']['email']} sms={report['messages']['sms']} "
        f"suppressed={report['messages']['suppressed']}",
        *(
            f"FAILED: {queue['messages']} message(s) in dead-letter queue {queue['queue']} (see the report)"
            for queue in report["dead_letters"]
        ),
    ]
    return "\n".join(lines)
