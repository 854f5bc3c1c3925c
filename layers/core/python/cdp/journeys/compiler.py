"""Compiles a journey definition to Amazon States Language, and draws it as a Mermaid flowchart.

The ASL is small on purpose, because Standard workflows bill per state transition: the journey router computes
each send step's whole MessageRequest (variant's template, expiry, guards, context) and each wait's seconds at
entry, so a send is one Task (`Payload.$: $.messages.<step>`) plus one Choice that loops through a Wait while the
sending service answers `deferred`, and a wait is one Wait (`SecondsPath: $.waits.<step>`). Every path ends in
`Finish`, one DynamoDB UpdateItem (an optimised integration, no Lambda) that marks the entry record inactive;
a failing task is retried, then caught by `FinishFailed`. Holdout entries never start an execution.

A coupon step is one Task (`functions/issue_coupon`, the occasion is the execution and the step, so a retried task
answers the code it already issued; its `carriers`, the channel and purpose of the sends carrying the code, let it
refuse a person none of them can reach) and one Choice (refused: the step's `if_refused`, else the end). Its code
reaches the sends that name it without another state: their payload is the precomputed request with its `context`
merged with the coupon's (`States.JsonMerge`, shallow, as AWS allows).
"""

from __future__ import annotations

import json
from typing import Any

from cdp.journeys.definition import (
    BranchStep,
    Condition,
    CouponStep,
    EventMatch,
    ExitStep,
    JourneyDefinition,
    SendStep,
    Step,
    WaitStep,
)
from cdp.messaging.requests import MessageRequest

FINISH = "Finish"
FINISH_FAILED = "FinishFailed"
FAILED = "Failed"
REPLACED = "Replaced"
LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.TaskFailed",
]
SEND_FUNCTION = "${SendMessageFunctionArn}"
COUPON_FUNCTION = "${IssueCouponFunctionArn}"
PROFILES_TABLE = "${ProfilesTableName}"
SUBSTITUTIONS = ("SendMessageFunctionArn", "ProfilesTableName")  # what every journey's template entry substitutes
COUPON_SUBSTITUTION = "IssueCouponFunctionArn"  # substituted too where a journey issues coupons
TASK_RETRY = [{"ErrorEquals": LAMBDA_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}]


def substitutions(definition: JourneyDefinition) -> tuple[str, ...]:
    """The `${...}` placeholders of this journey's ASL, which its template entry substitutes."""
    return (*SUBSTITUTIONS, COUPON_SUBSTITUTION) if definition.coupon_steps() else SUBSTITUTIONS


def state_name(step_name: str) -> str:
    return "".join(part.capitalize() for part in step_name.split("_"))


def compile_definition(definition: JourneyDefinition) -> dict[str, Any]:
    """The journey's state machine definition (ASL), with `${...}` placeholders for its `substitutions`."""
    states: dict[str, Any] = {}
    for step in definition.steps:
        if not isinstance(step, ExitStep):
            states.update(_states_of(definition, step))
    states[FINISH] = _mark_ended(definition, "completed", end=True)
    states[FINISH_FAILED] = {**_mark_ended(definition, "failed", end=False), "Next": FAILED}
    states[FAILED] = {"Type": "Fail", "Error": "JourneyStepFailed", "Cause": "A step kept failing after its retries."}
    states[REPLACED] = {"Type": "Succeed", "Comment": "The entry record names a newer run (this one was stopped)."}
    if len(states) != len({name.lower() for name in states}):
        raise ValueError(f"{definition.name}: two steps compile to the same state name")
    return {
        "Comment": definition.description,
        "StartAt": _target(definition, definition.steps[0].name),
        "States": states,
    }


def _target(definition: JourneyDefinition, step_name: str | None) -> str:
    """The state a step name leads to (an exit step, or no step, ends the run)."""
    if step_name is None or isinstance(definition.step(step_name), ExitStep):
        return FINISH
    return state_name(step_name)


def _next_of(definition: JourneyDefinition, step: SendStep | WaitStep | CouponStep) -> str:
    following = definition.following(step)
    return _target(definition, following[0] if following else None)


def _states_of(definition: JourneyDefinition, step: Step) -> dict[str, Any]:
    name = state_name(step.name)
    if isinstance(step, WaitStep):
        return {name: {"Type": "Wait", "SecondsPath": f"$.waits.{step.name}", "Next": _next_of(definition, step)}}
    if isinstance(step, BranchStep):
        return {
            name: {
                "Type": "Choice",
                "Choices": [_choice(condition, _target(definition, condition.next)) for condition in step.when],
                "Default": _target(definition, step.otherwise),
            }
        }
    if isinstance(step, CouponStep):
        return _coupon_states(definition, step)
    assert isinstance(step, SendStep)
    return _send_states(definition, step)


def _coupon_states(definition: JourneyDefinition, step: CouponStep) -> dict[str, Any]:
    """Issue the coupon (or find the one this run already has), then: refused leads to `if_refused` or the end."""
    name = state_name(step.name)
    payload = {"offer": step.offer, "profile_id.$": "$.profile_id",
               "occasion_key.$": f"States.Format('journey:{{}}:{step.name}', $$.Execution.Name)",
               "carriers": carriers(definition, step)}  # fmt: skip
    return {
        name: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": COUPON_FUNCTION, "Payload": payload},
            "ResultSelector": {
                "status.$": "$.Payload.status",
                "reason.$": "$.Payload.reason",
                "context": {"coupon_code.$": "$.Payload.code", "coupon_expires_at.$": "$.Payload.expires_at"},
            },
            "ResultPath": f"$.coupons.{step.name}",
            "Retry": TASK_RETRY,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FINISH_FAILED}],
            "Next": f"{name}Issued",
        },
        f"{name}Issued": {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": f"$.coupons.{step.name}.status",
                    "StringEquals": "refused",
                    "Next": _target(definition, step.if_refused),
                }
            ],
            "Default": _next_of(definition, step),
        },
    }


def carriers(definition: JourneyDefinition, step: CouponStep) -> list[dict[str, str]]:
    """The channel and purpose of each distinct send carrying the coupon's code: it is issued only to a person one of
    them can reach."""
    pairs = {(send.channel, send.purpose): None for send in definition.send_steps() if send.coupon == step.name}
    return [{"channel": channel, "purpose": purpose} for channel, purpose in pairs]


def _send_payload(step: SendStep) -> dict[str, Any]:
    """The task's payload: the router's request, its context merged with the coupon's code when the step has one."""
    request = f"$.messages.{step.name}"
    if step.coupon is None:
        return {"Payload.$": request}
    fields = {f"{field}.$": f"{request}.{field}" for field in MessageRequest.model_fields if field != "context"}
    merged = f"States.JsonMerge({request}.context, $.coupons.{step.coupon}.context, false)"
    return {"Payload": {**fields, "context.$": merged}}


def _send_states(definition: JourneyDefinition, step: SendStep) -> dict[str, Any]:
    """Send, then: deferred (frequency cap, quiet hours) waits the seconds the service named and asks again with
    the same request (the same exactly-once key); any other outcome goes on."""
    name = state_name(step.name)
    return {
        name: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": SEND_FUNCTION, **_send_payload(step)},
            "ResultSelector": {
                "status.$": "$.Payload.status",
                "reason.$": "$.Payload.reason",
                "wait_seconds.$": "$.Payload.wait_seconds",
            },
            "ResultPath": f"$.steps.{step.name}",
            "Retry": TASK_RETRY,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FINISH_FAILED}],
            "Next": f"{name}Deferred",
        },
        f"{name}Deferred": {
            "Type": "Choice",
            "Choices": [
                {"Variable": f"$.steps.{step.name}.status", "StringEquals": "deferred", "Next": f"{name}WaitAgain"}
            ],
            "Default": _next_of(definition, step),
        },
        f"{name}WaitAgain": {"Type": "Wait", "SecondsPath": f"$.steps.{step.name}.wait_seconds", "Next": name},
    }


def _choice(condition: Condition, target: str) -> dict[str, Any]:
    """A Choice rule; the field must be present (a step not taken on this path, a missing context key: false)."""
    variable = f"$.{condition.field}"
    if condition.present is not None:
        return {"Variable": variable, "IsPresent": condition.present, "Next": target}
    if condition.any_of is not None:
        test: dict[str, Any] = {"Or": [{"Variable": variable, "StringEquals": value} for value in condition.any_of]}
    elif condition.at_least is not None:
        test = {"Variable": variable, "NumericGreaterThanEquals": condition.at_least}
    elif isinstance(condition.equals, bool):
        test = {"Variable": variable, "BooleanEquals": condition.equals}
    elif isinstance(condition.equals, int):
        test = {"Variable": variable, "NumericEquals": condition.equals}
    else:
        test = {"Variable": variable, "StringEquals": condition.equals}
    return {"And": [{"Variable": variable, "IsPresent": True}, test], "Next": target}


def _mark_ended(definition: JourneyDefinition, outcome: str, *, end: bool) -> dict[str, Any]:
    """Mark this run's entry record ended (only if the record still names this run)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": PROFILES_TABLE,
            "Key": {
                "pk": {"S.$": "States.Format('PROFILE#{}', $.profile_id)"},
                "sk": {"S": f"JOURNEY#{definition.name}"},
            },
            "UpdateExpression": "SET active = :inactive, ended_at = :now, outcome = :outcome",
            "ConditionExpression": "execution_name = :run",
            "ExpressionAttributeValues": {
                ":inactive": {"BOOL": False},
                ":now": {"S.$": "$$.State.EnteredTime"},
                ":outcome": {"S": outcome},
                ":run": {"S.$": "$$.Execution.Name"},
            },
        },
        "ResultPath": None,
        "Retry": [
            {
                "ErrorEquals": [
                    "DynamoDB.ProvisionedThroughputExceededException",
                    "DynamoDB.InternalServerErrorException",
                    "DynamoDB.ThrottlingException",
                ],
                "IntervalSeconds": 1,
                "MaxAttempts": 5,
                "BackoffRate": 2,
            }
        ],  # fmt: skip
    }
    if end:
        state["End"] = True
        state["Catch"] = [
            {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": None, "Next": REPLACED}
        ]
    return state


def compiled_text(definition: JourneyDefinition) -> str:
    """The ASL file's text, as written to statemachines/<name>.asl.json."""
    return json.dumps(compile_definition(definition), indent=2) + "\n"


# ---------------------------------------------------------------- Mermaid
def mermaid(definition: JourneyDefinition) -> str:
    """A flowchart of the journey: trigger, holdout, steps with their edges, goal and exit events."""
    lines = ["flowchart TD"]
    triggers = "<br/>".join(_event_label(match) for match in definition.trigger)
    lines.append(f'  entry(["{triggers}<br/>re-entry: {_reentry_label(definition)}"])')
    if definition.experiment.holdout_percent:
        lines.append(
            f'  entry -->|"holdout {definition.experiment.holdout_percent:g}%"| holdout(["recorded, not messaged"])'
        )
    lines.append(f"  entry --> {definition.steps[0].name}")
    for step in definition.steps:
        lines.append(f"  {step.name}{_node(step)}")
        if isinstance(step, BranchStep):
            for condition in step.when:
                lines.append(f'  {step.name} -->|"{_condition_label(condition)}"| {condition.next}')
            lines.append(f'  {step.name} -->|"otherwise"| {step.otherwise}')
        elif isinstance(step, CouponStep):
            following = definition.following(step)
            lines.append(f'  {step.name} -->|"issued"| {following[0] if following else "finish"}')
            lines.append(f'  {step.name} -->|"refused"| {step.if_refused or "finish"}')
        elif not isinstance(step, ExitStep):
            following = definition.successors(step)
            lines.append(f"  {step.name} --> {following[0] if following else 'finish'}")
    lines.append('  finish(["end of journey"])')
    stops = [
        *(f"goal: {_event_label(m)}" for m in definition.goal),
        *(f"exit: {_event_label(m)}" for m in definition.exit),
    ]
    if stops:
        lines.append(f'  stop[/"{"<br/>".join(stops)}<br/>stops the run at once"/]')
    return "\n".join(lines) + "\n"


def _node(step: Step) -> str:
    if isinstance(step, WaitStep):
        durations = (
            step.duration
            if isinstance(step.duration, str)
            else " / ".join(f"{v}: {d}" for v, d in step.duration.items())
        )
        return f'(["wait {durations}"])'
    if isinstance(step, BranchStep):
        return '{"' + step.name.replace("_", " ") + '?"}'
    if isinstance(step, ExitStep):
        return '(("exit"))'
    if isinstance(step, CouponStep):
        return f'[["coupon: {step.offer}"]]'
    templates = step.template if isinstance(step.template, str) else " / ".join(step.template.values())
    coupon = f" with {step.coupon}'s code" if step.coupon else ""
    return f'["{step.channel}: {templates}{coupon}"]'


def _event_label(match: EventMatch) -> str:
    detail = ", ".join(
        f"{name}: {'/'.join(_value_text(value) for value in values)}" for name, values in match.detail.items()
    )
    return match.event + (f" ({detail})" if detail else "")


def _value_text(value: str | int | bool) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _reentry_label(definition: JourneyDefinition) -> str:
    rule = definition.reentry
    return f"once per {rule.days} days" if rule.rule == "once_per_days" else rule.rule.replace("_", " ")


def _condition_label(condition: Condition) -> str:
    if condition.present is not None:
        return f"{condition.field} {'present' if condition.present else 'missing'}"
    if condition.any_of is not None:
        return f"{condition.field} in {'/'.join(condition.any_of)}"
    if condition.at_least is not None:
        return f"{condition.field} >= {condition.at_least:g}"
    return f"{condition.field} = {condition.equals}"
