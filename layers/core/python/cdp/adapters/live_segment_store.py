"""DynamoDB side of live segments: one transaction per profile decision, minute buckets of timers, the sweep's mark.

Items (ProfilesTable): the profile's `memberships` (segment -> {at, trigger}), `segment_timers` (segment -> minute)
and `memberships_version`; `SEGMENT#<name>` / `PROFILE#<id>` (profile_id, entered_at, trigger), the same items the
scheduled job writes; `TIMER#<minute>` / `<segment>#<profile id>`; `TIMERS` / `SWEPT` (swept_minute); the job's RFM cut
points under `SEGMENTS#RFM` / `CUT_POINTS`, read at most every CUT_POINTS_SECONDS per container.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import TRANSACTION_LIMIT, live_item, only_conditions_failed, transact, wire
from cdp.errors import ConcurrentChange
from cdp.keys import RFM_CUT_POINTS_KEY, TIMERS_SWEPT_KEY, profile_key, segment_member_key, timer_key, timer_pk
from cdp.segments.live_ports import MembershipChange, RfmCutPoints, Timer

CUT_POINTS_SECONDS = 300.0


@dataclass(frozen=True)
class ProfileUpdateParts:
    """The clauses a membership change adds to an update of the profile item, with their placeholders' values."""

    sets: list[str]
    adds: list[str]
    conditions: list[str]
    values: dict[str, Any]


def membership_update(change: MembershipChange) -> ProfileUpdateParts:
    """SET the `memberships` and `segment_timers` maps, ADD one to `memberships_version`, only if the version is
    still the one the change was decided on (placeholders `:memberships`, `:timers`, `:membership_step`,
    `:memberships_version`)."""
    values: dict[str, Any] = {":memberships": change.memberships, ":timers": change.timers, ":membership_step": 1}
    if change.version is None:
        condition = "attribute_not_exists(memberships_version)"
    else:
        condition, values[":memberships_version"] = "memberships_version = :memberships_version", change.version
    return ProfileUpdateParts(["memberships = :memberships", "segment_timers = :timers"],
                              ["memberships_version :membership_step"], [condition], values)  # fmt: skip


def membership_items(table_name: str, change: MembershipChange) -> list[dict[str, Any]]:
    """The writes beside the profile's: `SEGMENT#` items of the segments entered (put) and left (deleted), timers
    moved (old ones deleted, new ones put)."""
    writes: list[dict[str, Any]] = []
    for name in change.entered:
        entry = change.memberships[name]
        item = {**segment_member_key(name, change.profile_id), "profile_id": change.profile_id,
                "entered_at": entry["at"], "trigger": entry["trigger"]}  # fmt: skip
        writes.append({"Put": {"TableName": table_name, "Item": wire(item)}})
    writes += [{"Delete": {"TableName": table_name, "Key": wire(segment_member_key(name, change.profile_id))}}
               for name in change.exited]  # fmt: skip
    writes += [{"Delete": {"TableName": table_name, "Key": wire(timer_key(*timer))}} for timer in change.timers_cleared]
    for timer in change.timers_set:
        item = {**timer_key(*timer), "segment": timer.segment, "profile_id": timer.profile_id}
        writes.append({"Put": {"TableName": table_name, "Item": wire(item)}})
    return writes


class LiveSegmentStore:
    """Live memberships and timers in the profiles table."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)
        self._cut_points: tuple[float, RfmCutPoints] | None = None

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        return live_item(self.table, profile_id)

    def cut_points(self) -> RfmCutPoints | None:
        """The last run's cut points, read again after CUT_POINTS_SECONDS; their absence (no run yet) is not kept, so
        the first run's are used as soon as it saved them."""
        if self._cut_points is None or time.monotonic() - self._cut_points[0] > CUT_POINTS_SECONDS:
            item = self.table.get_item(Key=RFM_CUT_POINTS_KEY).get("Item")
            if item is None:
                return None
            self._cut_points = (time.monotonic(), RfmCutPoints.from_item(item))
        return self._cut_points[1]

    def write(self, change: MembershipChange) -> bool:
        profile = membership_update(change)
        update = {
            "TableName": self.table.name,
            "Key": wire(profile_key(change.profile_id)),
            "UpdateExpression": f"SET {', '.join(profile.sets)} ADD {', '.join(profile.adds)}",
            "ConditionExpression": " AND ".join(["attribute_exists(pk)", "attribute_not_exists(redirect_to)",
                                                 *profile.conditions]),
            "ExpressionAttributeValues": wire(profile.values),
        }  # fmt: skip
        writes = [{"Update": update}, *membership_items(self.table.name, change)]
        if len(writes) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(writes)} writes for one profile's live segments exceed one transaction")
        try:
            transact(writes)
        except ConcurrentChange as change_error:
            if only_conditions_failed(change_error):
                return False
            raise
        return True

    def due_timers(self, minute: str) -> list[Timer]:
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": timer_pk(minute)},
            "ConsistentRead": True,
        }
        timers: list[Timer] = []
        while True:
            page = self.table.query(**request)
            timers += [Timer(minute, item["segment"], item["profile_id"]) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return timers
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def drop_timer(self, timer: Timer) -> None:
        self.table.delete_item(Key=timer_key(*timer))

    def swept_until(self) -> str | None:
        item = self.table.get_item(Key=TIMERS_SWEPT_KEY, ConsistentRead=True).get("Item")
        return str(item["swept_minute"]) if item else None

    def mark_swept(self, minute: str) -> None:
        try:
            self.table.put_item(
                Item={**TIMERS_SWEPT_KEY, "swept_minute": minute},
                ConditionExpression="attribute_not_exists(swept_minute) OR swept_minute < :minute",
                ExpressionAttributeValues={":minute": minute},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # a later sweep marked further already: the mark never moves backwards
