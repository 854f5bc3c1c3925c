"""Runs the whole pipeline on a folder of exports through the local stack, and reports what happened."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

from cdp_local.journey_report import journeys_section
from cdp_local.operation_profile import OperationProfile, profiling_aws_operations
from cdp_local.stack import ACCOUNT_ID, LOCAL_CREDENTIALS, LocalStack, threads_switching_rarely

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


def _scan(
    stack: LocalStack, table_logical_id: str, projection: str, key_begins_with: tuple[str, str]
) -> Iterator[dict[str, Any]]:
    """One pass over a table: the items whose key attribute (`pk` or `sk`) begins with the prefix, only the named
    attributes (each `#name`)."""
    paginator = stack.client("dynamodb").get_paginator("scan")
    key_name, prefix = key_begins_with
    names = {name: name.removeprefix("#") for name in projection.replace(" ", "").split(",")}
    pages = paginator.paginate(
        TableName=stack.physical_id(table_logical_id),
        ProjectionExpression=", ".join(names),
        FilterExpression="begins_with(#key, :prefix)",
        ExpressionAttributeNames={**names, "#key": key_name},
        ExpressionAttributeValues={":prefix": {"S": prefix}},
    )
    for page in pages:
        for item in page["Items"]:
            yield {name: next(iter(value.values())) for name, value in item.items()}


def _file_items(stack: LocalStack, key: str) -> Iterator[dict[str, Any]]:
    """The file ledger's items of one dropped object (its versions, ranges and applied batches): one partition."""
    from cdp.keys import file_key

    paginator = stack.client("dynamodb").get_paginator("query")
    pages = paginator.paginate(
        TableName=stack.physical_id("LedgerTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": file_key(stack.physical_id("RawBucket"), key, "")["pk"]}},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page["Items"]:
            yield {name: next(iter(value.values())) for name, value in item.items()}


def _profiles_table(stack: LocalStack) -> list[dict[str, Any]]:
    """Every item of the profiles table, as plain values: the one pass the report's sections share."""
    from cdp.adapters.dynamodb import plain

    paginator = stack.client("dynamodb").get_paginator("scan")
    return [plain(item) for page in paginator.paginate(TableName=stack.physical_id("ProfilesTable"))
            for item in page["Items"]]  # fmt: skip


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
    files = [path for path in sorted(data_dir.rglob("*"))
             if path.is_file() and TRACKING_FOLDER not in path.parts and CAMPAIGNS_FOLDER not in path.parts]  # fmt: skip
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
PEEK_VISIBILITY_SECONDS = 60  # long enough to read a whole dead-letter queue once before showing it again
PROFILE_BATCHES_DEAD_LETTERS = "ProfileBatchesDeadLetterQueue"
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


def _peek_all(sqs: Any, url: str) -> list[str]:
    """Every visible message body of a queue, left in it: received out of sight, then made visible again."""
    bodies, handles = [], []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_VISIBILITY_SECONDS
    ).get("Messages", []):
        bodies += [message["Body"] for message in messages]
        handles += [message["ReceiptHandle"] for message in messages]
    for start in range(0, len(handles), 10):
        entries = [{"Id": str(number), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                   for number, handle in enumerate(handles[start : start + 10])]  # fmt: skip
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    return bodies


def _batches_by_file(bodies: list[str]) -> list[dict[str, Any]]:
    """The profile batches among dead-lettered bodies, per source object version: `{key, version, batches}`."""
    batches: dict[tuple[str, str], list[int]] = {}
    for body in bodies:
        try:
            message = json.loads(body)
            source, number = message["source"], int(message["batch"])
            batches.setdefault((str(source["key"]), str(source["version"])), []).append(number)
        except (ValueError, TypeError, KeyError):
            continue  # not a batch message: it is still counted and sampled
    return [{"key": key, "version": version, "batches": sorted(numbers)}
            for (key, version), numbers in sorted(batches.items())]  # fmt: skip


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """Every dead-letter queue holding messages: how many, the first few bodies (which batch or event failed) and,
    for queued profile batches, every batch by the file it came from. Any entry means work the run accepted was
    not done: the run has failed."""
    sqs = stack.client("sqs")
    queues = []
    for logical_id in sorted(_dead_letter_targets(stack.template["Resources"])):
        url = stack.physical_id(logical_id)
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        count = sum(int(value) for value in attributes.values())
        if count:
            bodies = _peek_all(sqs, url)
            entry = {"queue": logical_id, "messages": count,
                     "samples": [body[:500] for body in bodies[:DEAD_LETTER_SAMPLES]]}  # fmt: skip
            if logical_id == PROFILE_BATCHES_DEAD_LETTERS:
                entry["profile_batches"] = _batches_by_file(bodies)
            queues.append(entry)
    return queues


def _dead_lettered_batches(queues: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """(key, version) -> the numbers of that file version's profile batches in the dead-letter queue."""
    return {(file["key"], file["version"]): file["batches"]
            for queue in queues for file in queue.get("profile_batches", ())}  # fmt: skip


def _dropped_keys(stack: LocalStack) -> Iterator[str]:
    paginator = stack.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=stack.physical_id("RawBucket")):
        for summary in page.get("Contents", []):
            yield summary["Key"]


def build_report(stack: LocalStack) -> dict[str, Any]:
    """Everything the run did, read back from the stack: the file ledger's partition of each object in the raw
    bucket (not a scan of the ledger, which holds a record per row), one pass over the profiles table (profiles,
    segment members, send records, journey entries, loyalty, coupon offers) and the executions."""
    ledger_items = [item for key in _dropped_keys(stack) for item in _file_items(stack, key)]
    dead = dead_letters(stack)
    dead_batches = _dead_lettered_batches(dead)
    profile_items = _profiles_table(stack)
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
        if resource["Type"] == "AWS::Serverless::StateMachine" and not logical_id.endswith("JourneyStateMachine")
    ]
    state_machines = {}
    for logical_id in machines:
        executions = stack.executions(logical_id)
        failed = [execution for execution in executions if execution["status"] in ("FAILED", "TIMED_OUT", "ABORTED")]
        state_machines[logical_id] = {
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
                "profile_batches_dead_lettered": dead_batches.get((report["key"], report["version"]), []),
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
        "state_machines": state_machines,
        "journeys": journeys_section(stack, profile_items),
        "messages": {
            "email": sum(item["status"] == "sent" and item["channel"] == "email" for item in sends),
            "sms": sum(item["status"] == "sent" and item["channel"] == "sms" for item in sends),
            "push": sum(item["status"] == "sent" and item["channel"] == "push" for item in sends),
            "webhook": sum(item["status"] == "sent" and item["channel"] == "webhook" for item in sends),
            "skipped": dict(Counter(item["reason"] for item in sends if item["status"] == "skipped")),
            "deferred": sum(item["status"] == "deferred" for item in sends),
        },
        "loyalty": loyalty_report(profile_items),
        "coupons": coupons_report(profile_items),
        "segments_live": live_segments_report(profile_items),
        "async_failures": [failure.__dict__ for failure in stack.async_failures],
        "dead_letters": dead,
    }


@contextmanager
def _timing_invocations(stack: LocalStack, profile: OperationProfile) -> Iterator[None]:
    """Count and time each function invocation as `lambda:<LogicalId>` (its own time, AWS calls excluded)."""
    invoke = stack.invoke

    def timed_invoke(logical_id: str, event: Any) -> Any:
        with profile.timing(f"lambda:{logical_id}"):
            return invoke(logical_id, event)

    with mock.patch.object(stack, "invoke", timed_invoke):
        yield


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
    started, cpu_started = time.monotonic(), time.process_time()
    function_log.parent.mkdir(parents=True, exist_ok=True)
    operations = OperationProfile()
    with (
        function_log.open("w", encoding="utf-8") as function_output,
        threads_switching_rarely(),
        profiling_aws_operations(operations),
        LocalStack(wait_scale=0.0, parameters={"LogLevel": log_level}, function_output=function_output) as stack,
        _timing_invocations(stack, operations),
    ):
        progress(f"local stack up in {time.monotonic() - started:.1f}s ({len(stack.physical_ids)} resources)")
        progress("dropping files into the raw bucket:")
        drop_files(stack, data_dir, progress)
        if (data_dir / TRACKING_FOLDER).is_dir():
            progress("sending tracking events to the HTTP API:")
            post_tracking_events(stack, data_dir, create_local_source(stack), progress)
        progress(f"running schedules: {stack.run_schedules()} target(s) fired")
        progress(issue_demo_gifts(stack))
        progress("waiting for journeys to finish (waits shortened)...")
        stack.wait_for_executions(timeout=journey_timeout)
        progress(redeem_welcome_codes(stack))
        progress(order_above_next_tier(stack))
        progress(f"the next hour's schedules: {stack.run_schedules()} target(s) fired")
        stack.wait_for_executions(timeout=journey_timeout)
        campaigns = run_campaigns(stack, data_dir, progress)
        report = build_report(stack)
        report["campaigns"] = campaigns
        report.update(segment_run_report(stack))
        report["measurement"] = measure_marketing(stack)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    report["aws_operations"] = operations.as_dict()
    progress(f"done in {time.monotonic() - started:.1f}s; function logs and metrics in {function_log}")
    return report


def _counted(counts: dict[str, int], limit: int = 4) -> str:
    """`a 3, b 2, ... (n more)`: the largest counts first."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{name} {count:,}" for name, count in ranked[:limit])
    return shown + (f", ... ({len(ranked) - limit} more)" if len(ranked) > limit else "")


def summary(report: dict[str, Any]) -> str:
    """A dozen lines a person reads: rows in and out, profiles, segments, journeys, messages, time."""
    files = report["files"]
    rows_in = sum(file["rows_in"] for file in files)
    accepted = sum(file["rows_accepted"] for file in files)
    reasons: Counter[str] = Counter()
    for file in files:
        reasons.update(file["quarantine_reasons"])
    refused = [f"{file['key']} ({file['file_error']})" for file in files if file["file_error"]]
    messages = report["messages"]
    lines = [
        f"files:       {len(files)} ingested" + (f", refused: {', '.join(refused)}" if refused else ""),
        f"rows:        {rows_in:,} in, {accepted:,} accepted, {rows_in - accepted:,} quarantined"
        + (f" ({_counted(dict(reasons))})" if reasons else ""),
        f"profiles:    {report['profiles']:,} (profile batches applied: "
        f"{sum(file['profile_batches_applied'] for file in files)} of {sum(file['profile_batches'] for file in files)})",
        f"segments:    {len(report['segments'])}" + (f" ({_counted(report['segments'])})" if report["segments"] else ""),
        *(
            f"journey:     {name} started {j['started']}, completed {j['completed']}, goal {j['exited_on_goal']}, "
            f"holdout {j['holdout']}, sent {j['sent']}, skipped {sum(j['skipped'].values())}"
            + (f" ({_counted(j['skipped'], 2)})" if j["skipped"] else "") + f", failed {j['failed']}"
            for name, j in report["journeys"].items()
        ),
        f"messages:    {messages['email']:,} email, {messages['sms']:,} sms, {messages['push']:,} push, "
        f"{messages['webhook']:,} webhook, {messages['deferred']:,} deferred, {sum(messages['skipped'].values()):,} skipped"
        + (f" ({_counted(messages['skipped'])})" if messages["skipped"] else ""),
        f"loyalty:     {report['loyalty']['members']:,} members ({_counted(report['loyalty']['tiers'])}), "
        f"{report['loyalty']['points_balance']:,} points held, {report['loyalty']['points_expiring']:,} expiring soon",
        *(
            f"coupon:      {offer} issued {c['issued']}, redeemed {c['redeemed']}, refused {sum(c['refused'].values())}"
            + (f" ({_counted(c['refused'])})" if c["refused"] else "")
            for offer, c in report["coupons"].items()
        ),
        *(
            f"campaign:    {name} audience {c['audience']:,}, holdout {c['holdout']:,}, sent {c['sent']:,}, "
            f"skipped {sum(c['skipped'].values()):,}, deferred {c['deferred']:,}, failed {c['failed']:,}"
            for name, c in report.get("campaigns", {}).items()
        ),
        f"failures:    {len(report['async_failures'])} asynchronous invocation(s) failed",
        *(
            f"FAILED:      {queue['messages']} message(s) in dead-letter queue {queue['queue']} (see the report)"
            for queue in report["dead_letters"]
        ),
        *(
            f"FAILED:      {file['key']}: profile batch(es) {', '.join(map(str, file['profile_batches_dead_lettered']))}"
            " dead-lettered, their rows are not on profiles"
            for file in files
            if file.get("profile_batches_dead_lettered")
        ),
    ]
    if report.get("personas"):
        lines.insert(4, f"personas:    {len(report['personas'])} segments described; profiles not profiled "
                        f"(refused): {report.get('not_profiled', 0)}")
    if "seconds" in report:
        lines.append(f"time:        {report['seconds']:,.1f} s wall, {report['cpu_seconds']:,.1f} s CPU")
    return "\n".join(lines)


def live_segments_report(profile_items: list[dict[str, Any]]) -> dict[str, int]:
    """Memberships the live segments wrote: entered in real time by the records path, and by a timer's sweep."""
    triggers = Counter(item.get("trigger") for item in profile_items if item["pk"].startswith("SEGMENT#"))
    return {"realtime_entries": triggers["realtime"], "timer_fired": triggers["timer"]}
# ------------------------------------------------------------------ loyalty and coupons
DEMO_VIP_GIFT_PROFILES = 8  # more than the VIP gift's pool of five codes, to show the cap refusing
DEMO_REDEEMING_ORDERS = 10  # at most this many orders in the shop's next export redeem a welcome code


def issue_demo_gifts(stack: LocalStack) -> str:
    """Issue the VIP gift, through the journey step's function, to more people than its pool holds (each asked twice,
    as a retried step: the second answer is the same code)."""
    answers: Counter[str] = Counter()
    for _customer_id, profile_id in _customers(stack)[:DEMO_VIP_GIFT_PROFILES]:
        for _attempt in range(2):
            request = {"offer": "vip_gift", "profile_id": profile_id, "occasion_key": "demo:vip_gift"}
            answers[stack.invoke("IssueCouponFunction", request)["reason"]] += 1
    return f"VIP gifts issued through the coupon step: {_counted(dict(answers))}"


def redeem_welcome_codes(stack: LocalStack) -> str:
    """The shop's next orders export uses welcome codes the welcome journeys issued: up to ten orders redeem, one is below
    the offer's minimum, one reuses a code already redeemed."""
    owners = {profile_id: customer_id for customer_id, profile_id in _customers(stack)}
    codes = sorted((owners[item["profile_id"]], item["code"])
                   for item in _scan(stack, "ProfilesTable", "#profile_id, #code", ("sk", "COUPON#welcome10#"))
                   if item.get("profile_id") in owners)  # fmt: skip
    redeeming = min(DEMO_REDEEMING_ORDERS, len(codes) - 2)
    if redeeming < 1:
        return f"{len(codes)} welcome codes issued by the journeys: too few to show redemptions"
    at = datetime.now(UTC).isoformat()  # after every issue (a code is not valid before it)
    uses = [(customer_id, code, "25.00") for customer_id, code in codes[:redeeming]]
    uses += [(*codes[redeeming], "10.00"), (codes[redeeming + 1][0], codes[0][1], "40.00")]
    lines = ["order_id,line_id,customer_id,ordered_at,currency,quantity,unit_price,status,coupon"]
    lines += [f"DEMO-{n},1,{customer_id},{at},GBP,1,{amount},completed,{code}" for n, (customer_id, code, amount) in
              enumerate(uses)]  # fmt: skip
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/demo-coupon-orders.csv",
                                  Body=("\n".join(lines) + "\n").encode())  # fmt: skip
    stack.deliver_queued_messages()
    return f"{len(codes)} welcome codes issued by the journeys; {len(uses)} orders of the next export used them"


def order_above_next_tier(stack: LocalStack) -> str:
    """The shop's next export also holds one member's large order, so the next loyalty review moves them up a tier
    (the first review only places members; the tier-upgrade journey congratulates moves up)."""
    from cdp.keys import PROFILE_PREFIX, PROFILE_SK

    owners = {profile_id: customer_id for customer_id, profile_id in _customers(stack)}
    tiers = {item["pk"].removeprefix(PROFILE_PREFIX): item.get("loyalty_tier")
             for item in _scan(stack, "ProfilesTable", "#pk, #sk, #loyalty_tier, #redirect_to", ("sk", PROFILE_SK))
             if item["sk"] == PROFILE_SK and "redirect_to" not in item}  # fmt: skip
    below_top = sorted(customer_id for profile_id, customer_id in owners.items()
                       if tiers.get(profile_id) in {"member", "silver"})  # fmt: skip
    if not below_top:
        return "no member below the gold tier to move up"
    at = datetime.now(UTC).isoformat()
    lines = ["order_id,line_id,customer_id,ordered_at,currency,quantity,unit_price,status",
             f"DEMO-TIER,1,{below_top[0]},{at},GBP,1,900.00,completed"]  # fmt: skip
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/demo-large-order.csv",
                                  Body=("\n".join(lines) + "\n").encode())  # fmt: skip
    stack.deliver_queued_messages()
    return f"one member below gold ({below_top[0]}) placed a 900.00 order in the next export"


def _customers(stack: LocalStack) -> list[tuple[str, str]]:
    """(customer id, profile id) of every customer, by customer id."""
    prefix = "IDENTITY#customer_id#"
    return sorted((item["pk"].removeprefix(prefix), item["profile_id"])
                  for item in _scan(stack, "ProfilesTable", "#pk, #profile_id", ("pk", prefix)))  # fmt: skip


def loyalty_report(profile_items: list[dict[str, Any]]) -> dict[str, Any]:
    """Members per tier and points, as the last loyalty review left them (live profiles: merged ones redirect)."""
    from cdp.keys import PROFILE_SK
    from cdp.loyalty.status import is_member

    members = [item for item in profile_items
               if item["sk"] == PROFILE_SK and "redirect_to" not in item and is_member(item)]  # fmt: skip
    return {
        "members": len(members),
        "tiers": dict(sorted(Counter(str(item.get("loyalty_tier")) for item in members).items())),
        "points_issued": int(sum(sum((item.get("points_expiries") or {}).values()) for item in members)),
        "points_spent": int(sum(sum((item.get("points_spent") or {}).values()) for item in members)),
        "points_balance": int(sum(item.get("points_balance") or 0 for item in members)),
        "points_expiring": int(sum(item.get("points_expiring") or 0 for item in members)),
    }


def coupons_report(profile_items: list[dict[str, Any]]) -> dict[str, Any]:
    """Per offer: codes issued and redeemed, refusals by reason (issue and redemption attempts)."""
    from cdp.adapters.coupon_store import offer_totals

    report: dict[str, Any] = {}
    for offer, counts in sorted(offer_totals(profile_items).items()):
        refused = {name.removeprefix("refused_"): n for name, n in counts.items() if name.startswith("refused_")}
        report[offer] = {"issued": counts.get("issued", 0), "redeemed": counts.get("redeemed", 0), "refused": refused}
    return report


def segment_run_report(stack: LocalStack) -> dict[str, Any]:
    """The last segment run's personas, refusals and predictions, from the report beside its membership snapshot."""
    bucket = stack.physical_id("CuratedBucket")
    s3 = stack.client("s3")
    try:
        latest = json.loads(s3.get_object(Bucket=bucket, Key="segment_memberships/latest.json")["Body"].read())
        folder = latest["key"].rsplit("/", 1)[0]
        run = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}/report.json")["Body"].read())
    except s3.exceptions.NoSuchKey:
        return {"personas": {}}
    return {"personas": run["personas"], "not_profiled": run["not_profiled"], "predictions": run["predictions"],
            "segment_snapshot": latest["key"]}


# ---- campaigns: posted through the IAM-signed API, fired as EventBridge Scheduler would, reported per variant
CAMPAIGNS_FOLDER = "campaigns"


def signed_headers(stack: LocalStack, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    """The headers of a request SigV4-signed for execute-api with the stack's credentials (IAM routes)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=f"http://localhost{path}", data=body,
                         headers={"host": "localhost", "content-type": "application/json"})  # fmt: skip
    SigV4Auth(Credentials(*LOCAL_CREDENTIALS), "execute-api", stack.region).add_auth(request)
    return dict(request.headers.items())


def export_audience(data_dir: Path, segment: str, out_dir: Path, progress: Progress = print_progress) -> dict[str, Any]:
    """Run the pipeline on `data_dir`, then export `segment` through its IAM route as `<segment>.csv` (contacts) and
    `<segment>.sha256.csv` (hashes) in `out_dir`; answers the route's counts."""
    with LocalStack(wait_scale=0.0) as stack:
        drop_files(stack, data_dir, progress)
        if (data_dir / TRACKING_FOLDER).is_dir():
            post_tracking_events(stack, data_dir, create_local_source(stack), progress)
        progress(f"running schedules: {stack.run_schedules()} target(s) fired")
        api = http_api(stack)
        counts: dict[str, Any] = {}
        out_dir.mkdir(parents=True, exist_ok=True)
        for chosen, suffix in (("csv", ".csv"), ("sha256", ".sha256.csv")):
            path = f"/v1/segments/{segment}/audience?format={chosen}"
            response = api.handle("GET", path, signed_headers(stack, "GET", path), b"")
            body = response.body if isinstance(response.body, bytes) else str(response.body or "").encode()
            if response.status == 303:  # too large to answer inline: stored, and linked
                body = linked_export(stack, json.loads(body)["url"])
            elif response.status != 200:
                return {"status": response.status, "error": body.decode(errors="replace")}
            (out_dir / f"{segment}{suffix}").write_bytes(body)
            counts = {name.lower().removeprefix("x-audience-"): value for name, value in (response.headers or {}).items()
                      if name.lower().startswith("x-audience-")}  # fmt: skip
        return {"status": 200, "files": [str(out_dir / f"{segment}{suffix}") for suffix in (".csv", ".sha256.csv")],
                **counts}


def linked_key(stack: LocalStack, url: str) -> str:
    """The exports bucket's key a pre-signed audience link points to (path- or virtual-host-style URL)."""
    bucket = stack.physical_id("PrivacyExportsBucket")
    return unquote(urlsplit(url).path.lstrip("/").removeprefix(f"{bucket}/"))


def linked_export(stack: LocalStack, url: str) -> bytes:
    """What a pre-signed audience link fetches, read from the local exports bucket."""
    stored = stack.client("s3").get_object(Bucket=stack.physical_id("PrivacyExportsBucket"), Key=linked_key(stack, url))
    return bytes(stored["Body"].read())


def measure_marketing(stack: LocalStack) -> dict[str, Any]:
    """Run the scheduled marketing measurement once more, now that every journey is done, and read its report."""
    written = stack.invoke("MeasureMarketingFunction", {
        "version": "0", "id": "local-run", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT_ID, "region": stack.region, "resources": [],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "detail": {},
    })  # fmt: skip
    body = stack.client("s3").get_object(Bucket=stack.physical_id("CuratedBucket"), Key=written["json"])["Body"].read()
    return dict(json.loads(body))


def write_report_page(report: dict[str, Any], path: Path) -> Path:
    """The run's marketing report as one self-contained HTML page at `path` (personas from the run's report)."""
    from cdp.measure.html import render

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report["measurement"], report.get("personas") or ()), encoding="utf-8")
    return path


def post_campaigns(stack: LocalStack, data_dir: Path, progress: Progress) -> int:
    """Create each campaigns/*.json of the data folder through POST /v1/campaigns; returns how many were created."""
    api, created = http_api(stack), 0
    for path in sorted((data_dir / CAMPAIGNS_FOLDER).glob("*.json")):
        body = path.read_bytes()
        answer = api.handle("POST", "/v1/campaigns", signed_headers(stack, "POST", "/v1/campaigns", body), body)
        created += answer.status == 201
        progress(f"  campaign {path.name}: {answer.status}" + ("" if answer.status == 201 else f" {answer.body[:300]!r}"))
    return created


@dataclass
class _Outcomes:
    """One variant's (or a campaign's) counts over its runs."""

    assigned: int = 0
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    deferred: int = 0
    failed: int = 0

    def add(self, status: str, reason: str, count: int) -> None:
        if status == "skipped":
            self.skipped[reason] += count
        elif status in ("sent", "deferred", "failed"):
            setattr(self, status, getattr(self, status) + count)

    def as_dict(self) -> dict[str, Any]:
        return {"assigned": self.assigned, "sent": self.sent, "skipped": dict(self.skipped), "deferred": self.deferred,
                "failed": self.failed}  # fmt: skip


def campaigns_report(stack: LocalStack) -> dict[str, Any]:
    """Per campaign, its runs summed: audience, holdout, sent, skipped by reason, deferred, failed, and per variant
    (a run's outcome counters are keyed `<variant>:<status>[:<reason>]`)."""
    from cdp.adapters.campaign_store import CampaignStore

    store = CampaignStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    report = {}
    for campaign in store.all():
        runs = store.runs(campaign.name)
        variants = {variant.name: _Outcomes() for variant in campaign.variants}
        total = _Outcomes()
        for run in runs:
            planned = run.get("planned", {})
            for name, outcomes in variants.items():
                outcomes.assigned += int(planned.get(name, 0))
            for key, count in run.get("outcomes", {}).items():
                variant, status, reason = (key.split(":", 2) + [""])[:3]
                variants.setdefault(variant, _Outcomes()).add(status, reason, int(count))
                total.add(status, reason, int(count))
        report[campaign.name] = {
            "state": campaign.state,
            "runs": len(runs),
            "audience": sum(int(run.get("planned", {}).get("audience", 0)) for run in runs),
            "holdout": sum(int(run.get("planned", {}).get("holdout", 0)) for run in runs),
            **{name: value for name, value in total.as_dict().items() if name != "assigned"},
            "variants": {name: outcomes.as_dict() for name, outcomes in variants.items()},
        }
    return report


def run_campaigns(stack: LocalStack, data_dir: Path, progress: Progress) -> dict[str, Any]:
    """Create the data folder's campaigns, fire the due schedules once (as Scheduler would now), report them."""
    if (data_dir / CAMPAIGNS_FOLDER).is_dir():
        progress("creating campaigns through the API:")
        post_campaigns(stack, data_dir, progress)
    # Scheduler fires at the platform's time: the journeys' skipped waits have moved it on, and the run's sends
    # (which read that clock) would otherwise find the run expired
    for answer in stack.fire_scheduler_schedules(datetime.now(UTC) + stack.clock_offset):
        progress(f"  campaign {answer['campaign']} run {answer['run_id']}: {answer['status']}, audience "
                 f"{answer['audience']:,} {answer['groups']}")  # fmt: skip
    return campaigns_report(stack)
