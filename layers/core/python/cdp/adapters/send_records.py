"""Send records, deferred messages and the suppression list in ProfilesTable (DynamoDB), for the sending service.

Send record `PROFILE#<id>` / `MESSAGE#<request key>`: written only conditionally, so a record that is `sent`,
`claimed` or `unknown` is never overwritten (a claim also needs no such record; its outcome needs the claim's token).
Deferred message `DEFERRED` / `<until>#<request key>` holds the request's JSON until the minute sweeper re-sends it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import plain
from cdp.keys import (
    DEFERRED_PARTITION,
    MESSAGE_PREFIX,
    deferred_message_key,
    message_record_key,
    profile_pk,
    suppression_key,
)
from cdp.messaging.ports import MessageRequest, SendOutcome, record_status

OPEN = "attribute_not_exists(pk) OR #status IN (:skipped, :deferred, :failed)"
OPEN_VALUES = {":skipped": "skipped", ":deferred": "deferred", ":failed": "failed"}
COUNTED = ("sent", "claimed", "unknown")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class SendRecordTable:
    """`SendRecords` over ProfilesTable."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def _conditional_put(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> dict[str, Any] | None:
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                old = error.response.get("Item")  # in wire format: errors are not deserialised by the resource
                return plain(old) if old else {"status": "claimed"}
            raise
        return None

    @staticmethod
    def _record(request: MessageRequest, now: datetime) -> dict[str, Any]:
        return {
            **message_record_key(request.profile_id, request.key()),
            "profile_id": request.profile_id, "origin": request.origin, "origin_name": request.origin_name,
            "step": request.step, "occurrence": request.occurrence, "variant": request.variant,
            "channel": request.channel, "purpose": request.purpose, "template": request.template,
            "priority": request.priority, "decided_at": _when(now),
        }  # fmt: skip

    def claim(self, request: MessageRequest, token: str, now: datetime) -> dict[str, Any] | None:
        item = {**self._record(request, now), "status": "claimed", "claim_token": token, "claimed_at": _when(now),
                "attempted_at": _when(now)}  # fmt: skip
        return self._conditional_put(item, OPEN, OPEN_VALUES)

    def settle(self, request: MessageRequest, outcome: SendOutcome, now: datetime) -> dict[str, Any] | None:
        item = {**self._record(request, now), "status": record_status(outcome), "reason": outcome.reason}
        if outcome.defer_until is not None:
            item["defer_until"] = _when(outcome.defer_until)
        return self._conditional_put(item, OPEN, OPEN_VALUES)

    def finish(self, request: MessageRequest, token: str, outcome: SendOutcome, now: datetime) -> None:
        names = {"#status": "status"}
        values: dict[str, Any] = {":status": record_status(outcome), ":reason": outcome.reason, ":now": _when(now),
                                  ":token": token}  # fmt: skip
        update = "SET #status = :status, reason = :reason, decided_at = :now"
        if outcome.message_id is not None:
            update += ", provider_message_id = :id, sent_at = :now"
            values[":id"] = outcome.message_id
        self.table.update_item(
            Key=message_record_key(request.profile_id, request.key()),
            UpdateExpression=update,
            ConditionExpression="claim_token = :token",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def mark_unknown(self, request: MessageRequest, token: str, now: datetime) -> bool:
        try:
            self.table.update_item(
                Key=message_record_key(request.profile_id, request.key()),
                UpdateExpression="SET #status = :unknown, reason = :unknown, decided_at = :now",
                ConditionExpression="#status = :claimed AND claim_token = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":unknown": "unknown", ":claimed": "claimed", ":token": token,
                                           ":now": _when(now)},  # fmt: skip
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def recent_marketing_sends(self, profile_id: str, channel: str, since: datetime) -> list[datetime]:
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :messages)",
            "FilterExpression": "purpose = :marketing AND channel = :channel AND attempted_at >= :since "
                                "AND #status IN (:sent, :claimed, :unknown)",
            "ProjectionExpression": "attempted_at",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": profile_pk(profile_id), ":messages": MESSAGE_PREFIX, ":marketing": "marketing",
                ":channel": channel, ":since": _when(since), ":sent": "sent", ":claimed": "claimed",
                ":unknown": "unknown",
            },
            "ConsistentRead": True,
        }  # fmt: skip
        times: list[datetime] = []
        while True:
            page = self.table.query(**request)
            times += [datetime.fromisoformat(item["attempted_at"]) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return times
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record(self, profile_id: str, request_key: str) -> dict[str, Any] | None:
        """The send record as stored (tests and the run report read it)."""
        item: dict[str, Any] | None = self.table.get_item(
            Key=message_record_key(profile_id, request_key), ConsistentRead=True
        ).get("Item")
        return item


def address_digest(channel: str, address: str) -> str:
    """sha256 of the normalised address (emails lower-cased; phones and endpoints as they are, trimmed)."""
    normalised = address.strip().lower() if channel == "email" else address.strip()
    return hashlib.sha256(normalised.encode()).hexdigest()


class SuppressionTable:
    """`SuppressionList` items `SUPPRESSED#<channel>#<digest>` / `SUPPRESSED` with their `reason`."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def reason(self, profile_id: str, channel: str, address: str) -> str | None:
        item = self.table.get_item(Key=suppression_key(channel, address_digest(channel, address))).get("Item")
        return str(item["reason"]) if item else None

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None:
        self.table.put_item(Item={**suppression_key(channel, address_digest(channel, address)), "reason": reason,
                                  "profile_id": profile_id, "channel": channel, "at": _when(at)})  # fmt: skip


class DeferredMessageTable:
    """`DeferredMessages` items `DEFERRED` / `<until>#<request key>` with the request's JSON."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def defer(self, request: MessageRequest, until: datetime) -> None:
        self.table.put_item(Item={**deferred_message_key(_when(until), request.key()),
                                  "request": request.model_dump_json(), "until": _when(until)})  # fmt: skip

    def due(self, now: datetime, limit: int) -> Sequence[tuple[MessageRequest, datetime]]:
        page = self.table.query(
            KeyConditionExpression="pk = :pk AND sk <= :now",
            ExpressionAttributeValues={":pk": DEFERRED_PARTITION, ":now": _when(now) + "~"},
            Limit=limit,
            ConsistentRead=True,
        )
        return [(MessageRequest.model_validate_json(item["request"]), datetime.fromisoformat(item["until"]))
                for item in page["Items"]]  # fmt: skip

    def done(self, request: MessageRequest, until: datetime) -> None:
        self.table.delete_item(Key=deferred_message_key(_when(until), request.key()))
