"""Journey entry records in ProfilesTable (conditional writes), and the journeys' Step Functions executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.adapters.state_machines import start_execution
from cdp.journeys.ports import EntryCondition
from cdp.keys import journey_entry_key


def _conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class JourneyEntryRecords:
    """`PROFILE#<id>` / `JOURNEY#<name>`: the active run's execution name, variant, entry time and outcome."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def enter(self, entry: dict[str, Any], condition: EntryCondition) -> str | None:
        allowed = "attribute_not_exists(pk) OR (execution_name = :run AND trigger_id = :trigger)"
        values: dict[str, Any] = {":run": condition.execution_name, ":trigger": condition.trigger_id}
        if condition.reentry_after is not None:
            allowed += " OR ((active = :inactive OR active_until < :now) AND entered_at <= :reentry_after)"
            values.update({":inactive": False, ":now": condition.now.isoformat(),
                           ":reentry_after": condition.reentry_after.isoformat()})  # fmt: skip
        try:
            self.table.put_item(
                Item={**journey_entry_key(entry["profile_id"], entry["journey"]), **entry},
                ConditionExpression=allowed,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise
            previous = self.get(entry["profile_id"], entry["journey"]) or {}
            still_active = previous.get("active") and previous.get("active_until", "") >= condition.now.isoformat()
            return "already_active" if still_active else "reentry"
        return None

    def get(self, profile_id: str, journey: str) -> dict[str, Any] | None:
        return self.table.get_item(Key=journey_entry_key(profile_id, journey), ConsistentRead=True).get("Item")

    def end(self, profile_id: str, journey: str, execution_name: str, outcome: str, now: datetime) -> bool:
        try:
            self.table.update_item(
                Key=journey_entry_key(profile_id, journey),
                UpdateExpression="SET active = :inactive, ended_at = :now, outcome = :outcome",
                ConditionExpression="execution_name = :run",
                ExpressionAttributeValues={
                    ":inactive": False,
                    ":now": now.isoformat(),
                    ":outcome": outcome,
                    ":run": execution_name,
                },  # fmt: skip
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise
            return False
        return True


class JourneyExecutions:
    """Each journey's state machine is `<prefix><journey>` (the template names them so)."""

    def __init__(self, state_machine_arn_prefix: str) -> None:
        self.prefix = state_machine_arn_prefix

    def start(self, journey: str, execution_name: str, run_input: dict[str, Any]) -> None:
        start_execution(f"{self.prefix}{journey}", execution_name, run_input)

    def stop(self, journey: str, execution_name: str, cause: str) -> None:
        execution_arn = f"{self.prefix}{journey}".replace(":stateMachine:", ":execution:") + f":{execution_name}"
        try:
            client("stepfunctions").stop_execution(executionArn=execution_arn, error="JourneyStopped", cause=cause)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
