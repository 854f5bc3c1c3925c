"""Send records and deferred messages in ProfilesTable (DynamoDB), for the sending service and its feedback.

Send record `PROFILE#<id>` / `MESSAGE#<request key>`: written only conditionally, so a record that is `sent`,
`claimed` or `unknown` is never overwritten (a claim also needs no such record; its outcome needs the claim's token);
feedback sets each `<event>_at` on it once, and finds it by its `provider_message_id` through the sparse index
`ByProviderMessage` (only sent records carry the attribute). Frequency-cap window `PROFILE#<id>` / `CAP#<channel>`: `sends` (claim
token -> ISO time) and `version`, written only in the transaction of a marketing claim (conditional on the version
read) or when a slot is given back (version + 1).
Deferred message `DEFERRED#<bucket>` / `<until>#<request key>#<profile id>` holds the request's JSON until the minute
sweeper re-sends it; the bucket (one of `DEFERRED_BUCKETS`) is a hash of the request key and the person, so a
campaign's deferrals spread over the partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import condition_held, plain, transact, wire
from cdp.errors import ConcurrentChange
from cdp.keys import (
    BY_PROVIDER_MESSAGE_INDEX,
    DEFERRED_BUCKETS,
    MESSAGE_PREFIX,
    cap_window_key,
    deferred_message_key,
    deferred_pk,
    message_record_key,
    profile_id_of,
)
from cdp.messaging.ports import CapWindow, CapWindowChanged, MessageRequest, SendOutcome, record_status

OPEN = "attribute_not_exists(pk) OR #status IN (:skipped, :deferred, :failed)"
OPEN_VALUES = {":skipped": "skipped", ":deferred": "deferred", ":failed": "failed"}
CHECK_FAILED = "ConditionalCheckFailed"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class SendRecordTable:
    """The send records over ProfilesTable: `SendRecords` for the sending service, `SendRecordFeedback` for the
    feedback that marks them."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)
        self.table_name = profiles_table

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

    def claim(
        self, request: MessageRequest, token: str, now: datetime, window: CapWindow | None = None
    ) -> dict[str, Any] | None:
        item = {**self._record(request, now), "status": "claimed", "claim_token": token,
                "claimed_at": _when(now)}  # fmt: skip
        if window is None:
            return self._conditional_put(item, OPEN, OPEN_VALUES)
        seen = "attribute_not_exists(pk)" if window.version == 0 else "version = :seen"
        window_item = {**cap_window_key(request.profile_id, request.channel), "version": window.version + 1,
                       "sends": {other: _when(at) for other, at in window.sends.items()}}  # fmt: skip
        try:
            transact([
                {"Put": {"TableName": self.table_name, "Item": wire(item), "ConditionExpression": OPEN,
                         "ExpressionAttributeNames": {"#status": "status"},
                         "ExpressionAttributeValues": wire(OPEN_VALUES)}},
                {"Put": {"TableName": self.table_name, "Item": wire(window_item), "ConditionExpression": seen,
                         **({"ExpressionAttributeValues": wire({":seen": window.version})} if window.version else {})}},
            ])  # fmt: skip
        except ConcurrentChange as change:
            if change.reasons[:1] == (CHECK_FAILED,):
                return self.get(request.profile_id, request.key()) or {"status": "claimed"}
            raise CapWindowChanged(request.channel) from change  # the window moved, or a write raced this one
        return None

    def cap_window(self, profile_id: str, channel: str) -> CapWindow:
        item = self.table.get_item(Key=cap_window_key(profile_id, channel), ConsistentRead=True).get("Item")
        if item is None:
            return CapWindow()
        sends = {token: datetime.fromisoformat(str(at)) for token, at in (item.get("sends") or {}).items()}
        return CapWindow(sends, int(item["version"]))

    def release(self, profile_id: str, channel: str, token: str) -> None:
        condition_held(
            lambda: self.table.update_item(
                Key=cap_window_key(profile_id, channel),
                UpdateExpression="REMOVE sends.#token ADD version :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#token": token},
                ExpressionAttributeValues={":one": 1},
            )
        )

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
        values = {":unknown": "unknown", ":claimed": "claimed", ":token": token, ":now": _when(now)}
        return condition_held(
            lambda: self.table.update_item(
                Key=message_record_key(request.profile_id, request.key()),
                UpdateExpression="SET #status = :unknown, reason = :unknown, decided_at = :now",
                ConditionExpression="#status = :claimed AND claim_token = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        )

    def get(self, profile_id: str, message_key: str) -> dict[str, Any] | None:
        """The send record as stored (strongly consistent), or None."""
        item: dict[str, Any] | None = self.table.get_item(
            Key=message_record_key(profile_id, message_key), ConsistentRead=True
        ).get("Item")
        return item

    def mark(self, profile_id: str, message_key: str, event: str, at: datetime, details: dict[str, str]) -> bool:
        """Set `<event>_at` (and the details) on an existing record unless it is set; whether this call set it."""
        names = {"#at": f"{event}_at", **{f"#d{i}": name for i, name in enumerate(details)}}
        values = {":at": at.isoformat(), **{f":d{i}": value for i, value in enumerate(details.values())}}
        assignments = ", ".join(["#at = :at", *(f"#d{i} = :d{i}" for i in range(len(details)))])
        return condition_held(
            lambda: self.table.update_item(
                Key=message_record_key(profile_id, message_key),
                UpdateExpression=f"SET {assignments}",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#at)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    def find(self, provider_message_id: str) -> tuple[str, str] | None:
        """(profile id, request key) of the send record holding this provider message id, by the table's sparse
        `ByProviderMessage` index (eventually consistent: feedback arrives seconds after the send at the earliest)."""
        items = self.table.query(
            IndexName=BY_PROVIDER_MESSAGE_INDEX,
            KeyConditionExpression="provider_message_id = :id",
            ExpressionAttributeValues={":id": provider_message_id},
            Limit=1,
        )["Items"]
        if not items or not str(items[0]["sk"]).startswith(MESSAGE_PREFIX):
            return None
        return profile_id_of(str(items[0]["pk"])), str(items[0]["sk"]).removeprefix(MESSAGE_PREFIX)


class DeferredMessageTable:
    """`DeferredMessages` items `DEFERRED#<bucket>` / `<until>#<request key>#<profile id>` with the request's JSON and its `profile_id`
    (which erasure finds them by)."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def defer(self, request: MessageRequest, until: datetime) -> None:
        self.table.put_item(Item={**deferred_message_key(_when(until), request.profile_id, request.key()), "profile_id": request.profile_id,
                                  "request": request.model_dump_json(), "until": _when(until)})  # fmt: skip

    def due(self, now: datetime, limit: int) -> Sequence[tuple[MessageRequest, datetime]]:
        """The `limit` messages due first by `now`: the first `limit` of each bucket, merged in due order."""
        items = []
        for bucket in range(DEFERRED_BUCKETS):
            items += self.table.query(
                KeyConditionExpression="pk = :pk AND sk <= :now",
                ExpressionAttributeValues={":pk": deferred_pk(bucket), ":now": _when(now) + "~"},
                Limit=limit,
                ConsistentRead=True,
            )["Items"]
        first = sorted(items, key=lambda item: str(item["sk"]))[:limit]
        return [(MessageRequest.model_validate_json(item["request"]), datetime.fromisoformat(item["until"]))
                for item in first]  # fmt: skip

    def done(self, request: MessageRequest, until: datetime) -> None:
        self.table.delete_item(Key=deferred_message_key(_when(until), request.profile_id, request.key()))
