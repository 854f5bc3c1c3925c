"""The demo and run report's `journeys` section: per journey, its runs, goal exits and holdouts (from the entry
records and executions), and its sends per step (from the send records), plus the transitions per run."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from cdp.journeys.definition import shipped_definitions

from cdp_local.journeys_build import resource_name
from cdp_local.stack import LocalStack

ENDED_EARLY = ("FAILED", "TIMED_OUT")


def transitions(stack: LocalStack, execution_arn: str) -> int:
    """State transitions of one execution (what a Standard workflow bills), from its history."""
    paginator = stack.client("stepfunctions").get_paginator("get_execution_history")
    return sum(
        event["type"].endswith("StateEntered")
        for page in paginator.paginate(executionArn=execution_arn)
        for event in page["events"]
    )


def journeys_section(stack: LocalStack, profile_items: list[dict[str, Any]]) -> dict[str, Any]:
    """`{journey: {started, completed, exited_on_goal, exited, holdout, failed, sent, skipped, deferred, steps,
    transitions}}`; `transitions` is the most any completed run took."""
    section: dict[str, Any] = {}
    for name, definition in shipped_definitions().items():
        executions = stack.executions(resource_name(name))
        entries = [item for item in profile_items if item["sk"] == f"JOURNEY#{name}"]
        outcomes = Counter(item.get("outcome") for item in entries)
        sends = [item for item in profile_items if item["sk"].startswith(f"MESSAGE#journey#{name}#")]
        steps = {}
        for step in definition.send_steps():
            mine = [item for item in sends if item["sk"].split("#")[3] == step.name]
            steps[step.name] = {
                "sent": sum(item["status"] == "sent" for item in mine),
                "skipped": dict(Counter(item["reason"] for item in mine if item["status"] == "skipped")),
                "deferred": sum(item["status"] == "deferred" for item in mine),
            }
        completed = [execution for execution in executions if execution["status"] == "SUCCEEDED"]
        section[name] = {
            "started": len(executions),
            "completed": len(completed),
            "exited_on_goal": outcomes["goal"],
            "exited": outcomes["exit"],
            "holdout": outcomes["holdout"],
            "failed": sum(execution["status"] in ENDED_EARLY for execution in executions),
            "sent": sum(step["sent"] for step in steps.values()),
            "skipped": dict(sum((Counter(step["skipped"]) for step in steps.values()), Counter())),
            "deferred": sum(step["deferred"] for step in steps.values()),
            "steps": steps,
            "transitions": max((transitions(stack, e["executionArn"]) for e in completed[:20]), default=0),
        }
    return json.loads(json.dumps(section))
