"""Reads every profile for scoring and writes segment results: profile attributes and membership items."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cdp.adapters.clients import dynamodb_table
from cdp.profiles.keys import PROFILE_SK, profile_key, segment_member_key
from cdp.segments.rfm import PROFILE_SCHEMA

SCORED_ATTRIBUTES = (
    "profile_id", "created_at", "signed_up_at", "first_order_at", "last_order_at", "orders_count", "revenue", "rfm",
    "lifecycle_stage",
)  # fmt: skip


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _first_seen(item: dict[str, Any]) -> datetime | None:
    """When the person was first seen: signup or first order, whichever came first; else when we made the profile
    (a history import creates profiles today for people who signed up years ago)."""
    known = [_timestamp(item.get(name)) for name in ("signed_up_at", "first_order_at")]
    moments = [moment for moment in known if moment is not None]
    return min(moments) if moments else _timestamp(item.get("created_at"))


class SegmentStore:
    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def load_profiles(self) -> tuple[pa.Table, dict[str, dict[str, Any]]]:
        """All profiles as a scoring table, and what each currently holds (rfm, lifecycle_stage)."""
        rows: list[dict[str, Any]] = []
        current: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {
            "FilterExpression": "sk = :profile",
            "ExpressionAttributeValues": {":profile": PROFILE_SK},
            "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(SCORED_ATTRIBUTES))),
            "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(SCORED_ATTRIBUTES)},
        }
        while True:
            page = self.table.scan(**request)
            for item in page["Items"]:
                rows.append({
                    "profile_id": item["profile_id"],
                    "first_seen_at": _first_seen(item),
                    "last_order_at": _timestamp(item.get("last_order_at")),
                    "orders_count": int(item.get("orders_count", 0)),
                    "revenue": float(item.get("revenue", 0)),
                })  # fmt: skip
                current[item["profile_id"]] = {"rfm": item.get("rfm"), "lifecycle_stage": item.get("lifecycle_stage")}
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return pa.Table.from_pylist(rows, schema=PROFILE_SCHEMA), current

    def save_scores(self, profile_id: str, rfm: dict[str, Any], lifecycle_stage: str, computed_at: datetime) -> None:
        self.table.update_item(
            Key=profile_key(profile_id),
            UpdateExpression="SET rfm = :rfm, lifecycle_stage = :stage, segments_computed_at = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":rfm": {k: Decimal(v) if isinstance(v, int) else v for k, v in rfm.items()},
                ":stage": lifecycle_stage,
                ":at": computed_at.isoformat(),
            },
        )

    def move_memberships(self, entered: list[tuple[str, str]], exited: list[tuple[str, str]]) -> None:
        """Put (segment, profile) memberships entered and delete those exited, in batches."""
        with self.table.batch_writer() as batch:
            for segment, profile_id in exited:
                batch.delete_item(Key=segment_member_key(segment, profile_id))
            for segment, profile_id in entered:
                batch.put_item(Item={**segment_member_key(segment, profile_id), "profile_id": profile_id})
