"""The record of each journey message per profile and step: claimed before sending, so nothing is sent twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.journeys.ports import JourneyStep
from cdp.keys import journey_message_key


class JourneyMessages:
    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def get(self, profile_id: str, journey: str, step: str) -> dict[str, Any] | None:
        return self.table.get_item(Key=journey_message_key(profile_id, journey, step)).get("Item")

    def _put_if(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_suppressed(self, step: JourneyStep, reason: str, now: datetime) -> None:
        """Note why a message was not sent (never over a message that was sent, nor over another execution's claim;
        over this execution's own claim, so a send refused after claiming does not stay `sending`)."""
        self._put_if(
            {**self._record(step, now), "status": "suppressed", "reason": reason},
            "attribute_not_exists(pk) OR #status = :suppressed OR (#status = :sending AND execution_id = :execution)",
            {":suppressed": "suppressed", ":sending": "sending", ":execution": step.execution_id},
        )

    def claim(self, step: JourneyStep, now: datetime) -> bool:
        """Reserve the send for this execution; False if it was sent, or is being sent by another execution."""
        return self._put_if(
            {**self._record(step, now), "status": "sending"},
            "attribute_not_exists(pk) OR #status = :suppressed OR (#status = :sending AND execution_id = :execution)",
            {":suppressed": "suppressed", ":sending": "sending", ":execution": step.execution_id},
        )

    @staticmethod
    def _record(step: JourneyStep, now: datetime) -> dict[str, Any]:
        return {
            **journey_message_key(step.profile_id, step.journey, step.step),
            "profile_id": step.profile_id,
            "journey": step.journey,
            "step": step.step,
            "channel": step.channel,
            "execution_id": step.execution_id,
            "decided_at": now.isoformat(),
        }

    def mark_sent(self, profile_id: str, journey: str, step: str, provider_message_id: str, now: datetime) -> None:
        self.table.update_item(
            Key=journey_message_key(profile_id, journey, step),
            UpdateExpression="SET #status = :sent, provider_message_id = :id, sent_at = :now REMOVE reason",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sent": "sent", ":id": provider_message_id, ":now": now.isoformat()},
        )
