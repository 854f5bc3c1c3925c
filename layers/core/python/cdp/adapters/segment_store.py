"""DynamoDB side of segments: the profile snapshot (a parallel Scan of profile and identity items), each profile's
segment values and memberships written conditionally on their version, the SEGMENT#name / PROFILE#id items moved.

Profile item attributes written here: `rfm`, `lifecycle_stage`, `tags`, `predictions`, `replenishment` (the computed
values; removed for a person who refused profiling), `memberships` (names), `memberships_version`,
`segments_digest`, `segments_computed_at`, and the outbox `pending_transitions` / `pending_previous` /
`pending_since` (transitions written but not yet announced; see cdp.segments.compute).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.adapters.dynamodb import plain, wire
from cdp.keys import (
    IDENTITY_SK,
    PROFILE_SK,
    RFM_CUT_POINTS_KEY,
    identifier_of_identity_pk,
    profile_key,
    segment_member_key,
)
from cdp.keys import identifier_text as text_of_identifier
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.ports import (
    SNAPSHOT_FIELDS,
    SNAPSHOT_SCHEMA,
    Membership,
    ProfileSnapshot,
    ProfileUpdate,
    StoredSegments,
    Transition,
)

VALUE_ATTRIBUTES = ("rfm", "lifecycle_stage", "tags", "predictions", "replenishment")
STATE_ATTRIBUTES = ("memberships", "memberships_version", "segments_digest", "pending_transitions",
                    "pending_previous", "pending_since")  # fmt: skip
SAME_NAME_FIELDS = tuple(
    name for name in SNAPSHOT_FIELDS
    if name not in ("first_seen_at", "signup_at", "email_consent", "sms_consent", "push_consent", "profiling_consent",
                    "points_next_expiry_at", "points_next_expiry")
)  # fmt: skip
SCANNED_ATTRIBUTES = (
    "pk", "sk", "redirect_to", "created_at", "signed_up_at", "first_cancelled_at", "last_cancelled_at", "consent",
    "points_expiries", *SAME_NAME_FIELDS, *STATE_ATTRIBUTES,
)  # fmt: skip
WRITERS = 16  # concurrent conditional writes: DynamoDB's latency, not its capacity, bounds one writer
FIRST_SEEN_ATTRIBUTES = ("signed_up_at", "first_order_at", "first_cancelled_at")


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _first_seen(item: dict[str, Any]) -> datetime | None:
    """Signup, first order or first cancellation, whichever came first (the shop's own dates); only a profile
    with none of them falls back to when the profile was made (a history import makes profiles today for people
    who signed up or bought years ago, and a customer whose only lines are cancellations bought before that)."""
    known = [moment for moment in (_moment(item.get(name)) for name in FIRST_SEEN_ATTRIBUTES) if moment]
    return min(known) if known else _moment(item.get("created_at"))


def _consent(consent: dict[str, Any], channel: str, purpose: str) -> bool | None:
    entry = consent.get(f"{channel}:{purpose}")
    return bool(entry["granted"]) if isinstance(entry, dict) and entry.get("granted") is not None else None


def _profiling_consent(consent: dict[str, Any]) -> bool | None:
    """False if any channel's profiling statement refuses, True if one grants, else unknown."""
    stated = [bool(entry["granted"]) for key, entry in consent.items()
              if key.endswith(":profiling") and isinstance(entry, dict) and entry.get("granted") is not None]
    return None if not stated else all(stated)  # fmt: skip


def _typed(name: str, value: Any) -> Any:
    field_type = SNAPSHOT_FIELDS[name]
    if value is None:
        return None
    if field_type == "timestamp":
        return _moment(value)
    if field_type == "date":
        return _day(value)
    if field_type == "integer":
        return int(value) if isinstance(value, int | float | Decimal) else None
    if field_type == "number":
        return float(value) if isinstance(value, int | float | Decimal) else None
    if field_type == "boolean":
        return value if isinstance(value, bool) else None
    if field_type == "list":
        return [str(element) for element in value] if isinstance(value, list | set | tuple) else None
    return str(value)


def _next_points_expiry(expiries: Any, now: datetime) -> tuple[datetime, int] | None:
    """The earliest expiry day from today (ISO date keys), as midnight UTC, and the points expiring then."""
    if not isinstance(expiries, dict):
        return None
    upcoming = sorted(day for day in expiries if str(day) >= now.date().isoformat())
    moment = _moment(f"{upcoming[0]}T00:00:00+00:00") if upcoming else None
    return (moment, int(expiries[upcoming[0]])) if moment else None


def snapshot_row(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A profile item as one row of the snapshot (vocabulary.PROFILE_FIELDS names)."""
    row = {name: _typed(name, item.get(name)) for name in SAME_NAME_FIELDS}
    consent: dict[str, Any] = item["consent"] if isinstance(item.get("consent"), dict) else {}
    expiry = _next_points_expiry(item.get("points_expiries"), now)
    row.update(
        first_seen_at=_first_seen(item),
        signup_at=_moment(item.get("signed_up_at")),
        last_cancelled_at=_moment(item.get("last_cancelled_at")),
        orders_count=_typed("orders_count", item.get("orders_count", 0)),
        revenue=_typed("revenue", item.get("revenue", 0)),
        profiling_consent=_profiling_consent(consent),
        points_next_expiry_at=expiry[0] if expiry else None,
        points_next_expiry=expiry[1] if expiry else None,
        **{f"{channel}_consent": _consent(consent, channel, "marketing") for channel in ("email", "sms", "push")},
    )
    return row


def stored_segments(item: dict[str, Any]) -> StoredSegments:
    pending = tuple(Transition(str(kind), str(segment)) for kind, segment in item.get("pending_transitions") or ())
    return StoredSegments(
        memberships=frozenset(item.get("memberships") or ()),
        version=int(item.get("memberships_version", 0)),
        digest=item.get("segments_digest"),
        pending=pending,
        previous=tuple(item.get("pending_previous") or ()),
        pending_since=_moment(item.get("pending_since")),
    )


SMALLEST_STORED = Decimal("1e-130")  # DynamoDB's smallest positive number; anything nearer zero is stored as 0


def _stored_number(text: str) -> Decimal:
    """A JSON number as DynamoDB can hold it: a magnitude below its smallest (a probability of 1e-300 from a model)
    becomes 0, where boto3 would refuse the whole write (decimal underflow)."""
    number = Decimal(text)
    return Decimal(0) if abs(number) < SMALLEST_STORED else number


def _dynamodb_values(value: Any) -> Any:
    """JSON values as DynamoDB takes them (numbers as Decimal; NaN and infinities, which it cannot hold, as null)."""
    return json.loads(json.dumps(value, default=str), parse_float=_stored_number, parse_constant=lambda _: None)


class SegmentStore:
    """Segment results in the profiles table: attributes on each profile and SEGMENT#name / PROFILE#id items."""

    def __init__(self, profiles_table: str, scan_segments: int = 4) -> None:
        self.table_name = profiles_table
        self.table = dynamodb_table(profiles_table)
        self.scan_segments = scan_segments

    def _scan_segment(self, segment: int) -> list[dict[str, Any]]:
        """One segment of a parallel Scan: profile and identity items, the snapshot's attributes only."""
        names = {f"#a{i}": name for i, name in enumerate(SCANNED_ATTRIBUTES)}
        pages = client("dynamodb").get_paginator("scan").paginate(
            TableName=self.table_name, Segment=segment, TotalSegments=self.scan_segments,
            FilterExpression="sk IN (:profile, :identity)", ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":profile": {"S": PROFILE_SK}, ":identity": {"S": IDENTITY_SK}},
        )  # fmt: skip
        return [plain(item) for page in pages for item in page["Items"]]

    def _items(self) -> Iterator[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=self.scan_segments) as pool:
            for items in pool.map(self._scan_segment, range(self.scan_segments)):
                yield from items

    def load_snapshot(self, now: datetime | None = None) -> ProfileSnapshot:
        """Every live profile (not merged away) as a snapshot row, its stored segment state, and the identity index."""
        moment = now or datetime.now().astimezone()
        rows: list[dict[str, Any]] = []
        stored: dict[str, StoredSegments] = {}
        identifiers: list[str] = []
        owners: list[str] = []
        for item in self._items():
            if item["sk"] == IDENTITY_SK:
                if item.get("profile_id"):
                    identifiers.append(text_of_identifier(identifier_of_identity_pk(item["pk"])))
                    owners.append(str(item["profile_id"]))
            elif "redirect_to" not in item and item.get("profile_id"):
                rows.append(snapshot_row(item, moment))
                stored[item["profile_id"]] = stored_segments(item)
        return ProfileSnapshot(
            profiles=pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA),
            stored=stored,
            identities=pa.table({"identifier": pa.array(identifiers, pa.string()),
                                 "profile_id": pa.array(owners, pa.string())}),
        )  # fmt: skip

    def save(self, updates: list[ProfileUpdate], computed_at: datetime) -> list[ProfileUpdate]:
        """Each conditional write on its own (DynamoDB has no batch of conditional updates), WRITERS at a time."""
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            written = list(pool.map(lambda update: self._save(update, computed_at), updates))
        return [update for update, won in zip(updates, written) if won]

    def _save(self, update: ProfileUpdate, computed_at: datetime) -> bool:
        values = update.values or {}
        assignments = {
            "memberships": update.memberships, "memberships_version": update.version,
            "segments_digest": update.digest, "segments_computed_at": computed_at.isoformat(),
            **{name: values[name] for name in VALUE_ATTRIBUTES if name in values},
        }  # fmt: skip
        if update.transitions:
            assignments |= {"pending_transitions": [list(t) for t in update.transitions],
                            "pending_previous": update.previous, "pending_since": computed_at.isoformat()}
        removed = [name for name in VALUE_ATTRIBUTES if name not in values]
        names = {f"#n{i}": name for i, name in enumerate([*assignments, *removed])}
        by_name = {name: key for key, name in names.items()}
        expression = "SET " + ", ".join(f"{by_name[name]} = :v{i}" for i, name in enumerate(assignments))
        if removed:
            expression += " REMOVE " + ", ".join(by_name[name] for name in removed)
        condition = "attribute_exists(pk) AND attribute_not_exists(redirect_to) AND "
        condition += ("attribute_not_exists(memberships_version)" if update.expected_version == 0
                      else "memberships_version = :expected")  # fmt: skip
        attribute_values = {f":v{i}": _dynamodb_values(value) for i, value in enumerate(assignments.values())}
        if update.expected_version:
            attribute_values[":expected"] = update.expected_version
        try:
            client("dynamodb").update_item(
                TableName=self.table_name, Key=wire(profile_key(update.profile_id)), UpdateExpression=expression,
                ConditionExpression=condition, ExpressionAttributeNames=names,
                ExpressionAttributeValues=wire(attribute_values),
            )  # fmt: skip
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_announced(self, announced: list[tuple[str, int]]) -> None:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            list(pool.map(lambda pair: self._clear_outbox(*pair), announced))

    def _clear_outbox(self, profile_id: str, version: int) -> None:
        try:
            client("dynamodb").update_item(
                TableName=self.table_name, Key=wire(profile_key(profile_id)),
                UpdateExpression="REMOVE pending_transitions, pending_previous, pending_since",
                ConditionExpression="memberships_version = :version",
                ExpressionAttributeValues={":version": {"N": str(version)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def save_cut_points(self, cut_points: RfmCutPoints) -> None:
        """The run's RFM quintile cut points, for the live segments to score one profile (cdp.segments.cut_points)."""
        values = {name: [None if value is None else Decimal(str(value)) for value in values]
                  for name, values in cut_points.as_item().items() if isinstance(values, list)}  # fmt: skip
        self.table.put_item(Item={**RFM_CUT_POINTS_KEY, **values, "computed_at": cut_points.computed_at})

    def move_memberships(self, entered: list[Membership], exited: list[Membership]) -> None:
        """Put the memberships entered (`trigger` scheduled, as live segments mark theirs realtime or timer) and delete
        those exited, batched (25 a request, unprocessed ones retried)."""
        entered_at = datetime.now(UTC).isoformat()
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for membership in exited:
                batch.delete_item(Key=segment_member_key(*membership))
            for membership in entered:
                batch.put_item(Item={**segment_member_key(*membership), "profile_id": membership.profile_id,
                                     "entered_at": entered_at, "trigger": "scheduled"})  # fmt: skip
