"""DynamoDB side of segments: every profile read for scoring, scores saved on profiles, membership items moved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cdp.adapters.clients import dynamodb_table
from cdp.keys import PROFILE_SK, RFM_CUT_POINTS_KEY, profile_key, segment_member_key
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.ports import PROFILE_SCHEMA, Membership, ProfileSegments

SCANNED_ATTRIBUTES = (
    "profile_id", "created_at", "signed_up_at", "first_order_at", "first_cancelled_at", "last_order_at",
    "last_cancelled_at", "orders_count", "revenue",
    "rfm", "lifecycle_stage",
)  # fmt: skip
RFM_SCORE_ATTRIBUTES = {"r": "r_score", "f": "f_score", "m": "m_score", "recency_days": "recency_days"}


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


FIRST_SEEN_ATTRIBUTES = ("signed_up_at", "first_order_at", "first_cancelled_at")


def _first_seen(item: dict[str, Any]) -> datetime | None:
    """Signup, first order or first cancellation, whichever came first (the shop's own dates); only a profile
    with none of them falls back to when the profile was made (a history import makes profiles today for people
    who signed up or bought years ago, and a customer whose only lines are cancellations bought before that)."""
    known = [moment for moment in (_moment(item.get(name)) for name in FIRST_SEEN_ATTRIBUTES) if moment]
    return min(known) if known else _moment(item.get("created_at"))


def _scoring_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "profile_id": item["profile_id"],
        "first_seen_at": _first_seen(item),
        "last_order_at": _moment(item.get("last_order_at")),
        "last_cancelled_at": _moment(item.get("last_cancelled_at")),
        "orders_count": int(item.get("orders_count", 0)),
        "revenue": float(item.get("revenue", 0)),
    }


def _stored_segments(item: dict[str, Any]) -> ProfileSegments | None:
    rfm, stage = item.get("rfm"), item.get("lifecycle_stage")
    if not rfm or not stage:
        return None
    scores = {field: int(rfm[name]) for name, field in RFM_SCORE_ATTRIBUTES.items() if name in rfm}
    return ProfileSegments(rfm_segment=rfm["segment"], lifecycle_stage=stage, **scores)


def _rfm_attribute(segments: ProfileSegments) -> dict[str, Any]:
    """{segment, r, f, m, recency_days}; a profile without orders stores only its segment."""
    scores = {name: getattr(segments, field) for name, field in RFM_SCORE_ATTRIBUTES.items()}
    return {"segment": segments.rfm_segment} | {name: value for name, value in scores.items() if value is not None}


class SegmentStore:
    """Segment results in the profiles table: attributes on each profile and SEGMENT#name / PROFILE#id items."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def _profile_items(self) -> Iterator[dict[str, Any]]:
        """Every profile item, by a paginated Scan reading only the attributes scoring needs."""
        request: dict[str, Any] = {
            "FilterExpression": "sk = :profile",
            "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(SCANNED_ATTRIBUTES))),
            "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(SCANNED_ATTRIBUTES)},
            "ExpressionAttributeValues": {":profile": PROFILE_SK},
        }
        while True:
            page = self.table.scan(**request)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load_profiles(self) -> tuple[pa.Table, dict[str, ProfileSegments]]:
        """Every profile as a scoring table, and the segments each stores (absent if never scored)."""
        rows: list[dict[str, Any]] = []
        stored: dict[str, ProfileSegments] = {}
        for item in self._profile_items():
            rows.append(_scoring_row(item))
            if segments := _stored_segments(item):
                stored[item["profile_id"]] = segments
        return pa.Table.from_pylist(rows, schema=PROFILE_SCHEMA), stored

    def save_segments(self, profile_id: str, segments: ProfileSegments, computed_at: datetime) -> None:
        self.table.update_item(
            Key=profile_key(profile_id),
            UpdateExpression="SET rfm = :rfm, lifecycle_stage = :stage, segments_computed_at = :computed_at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":rfm": _rfm_attribute(segments),
                ":stage": segments.lifecycle_stage,
                ":computed_at": computed_at.isoformat(),
            },
        )

    def save_cut_points(self, cut_points: RfmCutPoints) -> None:
        """The run's RFM quintile cut points, for the live segments to score one profile (cdp.segments.cut_points)."""
        values = {name: [None if value is None else Decimal(str(value)) for value in values]
                  for name, values in cut_points.as_item().items() if isinstance(values, list)}  # fmt: skip
        self.table.put_item(Item={**RFM_CUT_POINTS_KEY, **values, "computed_at": cut_points.computed_at})

    def move_memberships(self, entered: list[Membership], exited: list[Membership]) -> None:
        """Put the memberships entered and delete those exited, batched (25 a request, unprocessed ones retried)."""
        with self.table.batch_writer() as batch:
            for membership in exited:
                batch.delete_item(Key=segment_member_key(*membership))
            for membership in entered:
                batch.put_item(Item={**segment_member_key(*membership), "profile_id": membership.profile_id})
