"""`make bench ONLY=journeys`: state transitions per execution of each journey's main path (every message sent),
from the execution history, with each journey's real ASL run in the template's local stack (waits skipped)."""

from __future__ import annotations

import json
from typing import Any

from cdp.journeys.definition import shipped_definitions

from cdp_local.journey_report import transitions
from cdp_local.journeys_build import resource_name
from cdp_local.stack import LocalStack

CUSTOMERS_CSV = "customer_id,email,phone,first_name,country,signup_at,email_consent,sms_consent\n"


def _trigger_detail(journey: str, profile_id: str) -> tuple[str, str, dict[str, Any]]:
    match = shipped_definitions()[journey].trigger[0]
    detail = {name: values[0] for name, values in match.detail.items()}
    return match.source, match.event, {"profile_id": profile_id, "event": match.event, "properties": {}, **detail}


def journeys_figure() -> dict[str, Any]:
    """`{journey: {transitions, status}}` for one run of each journey, a consenting customer not held out."""
    from cdp.messaging.assignment import assign

    names = sorted(shipped_definitions())
    with LocalStack() as stack:
        rows = [f"B{n},b{n}@example.com,+447700900{n:03d},Bea,GB,2020-01-01T00:00:00Z,true,true" for n in range(60)]
        stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="customers/bench.csv",
                                      Body=(CUSTOMERS_CSV + "\n".join(rows) + "\n").encode())  # fmt: skip
        stack.wait_for_executions(timeout=120)
        table = stack.client("dynamodb")
        profiles = [
            item["profile_id"]["S"]
            for page in table.get_paginator("scan").paginate(TableName=stack.physical_id("ProfilesTable"))
            for item in page["Items"]
            if item["pk"]["S"].startswith("IDENTITY#customer_id#B")
        ]
        router = stack.client("lambda").get_function_configuration(FunctionName=stack.physical_id("RouteJourneyEventsFunction"))
        bus = router["Environment"]["Variables"]["EVENT_BUS_NAME"]
        entries = []
        for journey in names:
            experiment = shipped_definitions()[journey].experiment
            profile_id = next(p for p in profiles if assign(p, journey, experiment.holdout_percent, experiment.variants) != "holdout")
            profiles.remove(profile_id)
            source, detail_type, detail = _trigger_detail(journey, profile_id)
            entries.append({"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail),
                            "EventBusName": bus})  # fmt: skip
        for start in range(0, len(entries), 10):
            stack.client("events").put_events(Entries=entries[start : start + 10])
        stack.wait_for_executions(timeout=300)
        figure = {}
        for journey in names:
            executions = stack.executions(resource_name(journey))
            figure[journey] = {
                "transitions_per_execution": [transitions(stack, e["executionArn"]) for e in executions],
                "status": [e["status"] for e in executions],
            }
        return figure
