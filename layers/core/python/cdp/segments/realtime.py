"""Segments one profile decides alone, evaluated in pure Python on the profile item the moment it changes.

A segment is *live* when every condition in it reads only what the profile item holds: attributes, aggregates,
consent, loyalty, predictions, recency, and other live segments. Behaviour windows (`event`, `orders`), computed
tags and `top_percent` need other rows or the whole population: those segments wait for the scheduled job.
The RFM scores are population quintiles; a live segment may still test them, against the quintile cut points the
last scheduled run stored (`RfmCutPoints`): without stored cut points such a test is false.

Evaluation follows the batch evaluator (cdp.segments.evaluate) operator by operator, so the job and the live path
agree: a test on a missing value is false and `not` makes it true. Beside membership, `next_change` says when the
truth of a segment can next change by the clock alone (a `within_last` window running out, a `more_than_ago`
becoming true, a birthday starting at local midnight): the timers (cdp.segments.timers) fire then.

Never imports pyarrow: the HTTP tracking Lambda runs it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from cdp.errors import ConcurrentChange
from cdp.events import DomainEvent
from cdp.loyalty.rules import load_rules
from cdp.loyalty.status import balance, is_member
from cdp.retry import backoff
from cdp.segments.definitions import Condition, Duration, SegmentDefinition, SegmentDocument, segment_references
from cdp.segments.lifecycle import next_stage_change, stage, whole_days_since
from cdp.segments.live_ports import LiveSegmentStore, MembershipChange, RfmCutPoints, Timer, Trigger
from cdp.segments.local_time import is_anniversary, local_today, next_anniversary_change, next_day_of_month_change
from cdp.segments.timers import bucket_of
from cdp.segments.vocabulary import PROFILE_FIELDS, RFM_FIELDS

SEGMENT_EVENTS_SOURCE = "cdp.segments"
WRITE_ATTEMPTS = 10
TICK = timedelta(microseconds=1)  # "true strictly after X" first holds at X + TICK
FIRST_SEEN_ATTRIBUTES = ("signed_up_at", "first_order_at", "first_cancelled_at")
PREDICTION_NAMES = {"p_alive": "p_alive", "expected_orders_90d": "expected_purchases_90d",
                    "expected_purchases_90d": "expected_purchases_90d", "clv_12m": "predicted_clv",
                    "predicted_clv": "predicted_clv", "next_order_at": "next_order_at",
                    "next_run_out_at": "next_run_out_at"}  # fmt: skip
LOYALTY_NAMES = {"points": "points_balance", "tier": "loyalty_tier", "points_expiring": "points_next_expiry",
                 "points_expire_at": "points_next_expiry_at"}  # the loyalty section's names, where it is kept
TIME_PREDICTIONS = ("next_order_at", "next_run_out_at")
CONSENT_FIELDS = {"email_consent": "email:marketing", "sms_consent": "sms:marketing", "push_consent": "push:marketing"}


# ---------------------------------------------------------------------- which segments are live


def not_live_reason(condition: Condition, live: Mapping[str, bool]) -> str | None:
    """Why this condition cannot be decided from one profile (None: it can); `live` holds the verdicts of the
    segments already classified."""
    kind = condition.kind
    if kind in ("event", "orders"):
        return f"reads {kind} in a window"
    if kind == "segment":
        return None if live.get(str(condition.segment)) else f"refers to segment {condition.segment!r}, which is not live"
    if kind == "field":
        if condition.field not in PROFILE_FIELDS:
            return f"reads the computed tag {condition.field!r}"
        if condition.op == "top_percent":
            return "top_percent ranks the whole population"
        return None
    children = [*(condition.all or ()), *(condition.any or ()), *((condition.not_,) if condition.not_ else ())]
    return next((reason for child in children if (reason := not_live_reason(child, live))), None)


def classify(document: SegmentDocument) -> dict[str, str | None]:
    """Every segment's reason for not being live, None for the live ones (segments after those they refer to)."""
    reasons: dict[str, str | None] = {}

    def place(segment: SegmentDefinition) -> None:
        if segment.name in reasons:
            return
        for reference in segment_references(segment.where):
            place(document.segment(reference))
        reasons[segment.name] = not_live_reason(segment.where, {name: reason is None for name, reason in reasons.items()})

    for segment in document.segments:
        place(segment)
    return {segment.name: reasons[segment.name] for segment in document.segments}


def live_segments(document: SegmentDocument) -> list[SegmentDefinition]:
    """The live segments, each after the segments it refers to."""
    reasons = classify(document)
    ordered: list[SegmentDefinition] = []

    def place(segment: SegmentDefinition) -> None:
        if segment in ordered:
            return
        for reference in segment_references(segment.where):
            place(document.segment(reference))
        ordered.append(segment)

    for segment in document.segments:
        if reasons[segment.name] is None:
            place(segment)
    return ordered


# ---------------------------------------------------------------------- the profile as flat fields


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value if isinstance(value, int | float) else None


def _consent(consent: Any, key: str | None = None, purpose: str | None = None) -> bool | None:
    """The granted flag of the consent entry `key`, or of the newest entry for `purpose` on any channel."""
    if not isinstance(consent, dict):
        return None
    entries = [entry for name, entry in consent.items() if isinstance(entry, dict) and "granted" in entry
               and (name == key or (purpose is not None and name.endswith(f":{purpose}")))]  # fmt: skip
    if not entries:
        return None
    return bool(max(entries, key=lambda entry: str(entry.get("recorded_at") or ""))["granted"])


def _section(item: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = item.get(name)
    return section if isinstance(section, dict) else {}


def profile_fields(item: Mapping[str, Any], now: datetime, cut_points: RfmCutPoints | None) -> dict[str, Any]:
    """The item's values under the vocabulary's profile field names (cdp.segments.vocabulary.PROFILE_FIELDS)."""
    fields: dict[str, Any] = {}
    for name, field_type in PROFILE_FIELDS.items():
        value = item.get(name)
        if value is None or name in RFM_FIELDS:  # derived below, never the run's stored (older) values
            continue
        if field_type == "timestamp":
            fields[name] = _moment(value)
        elif field_type == "date":
            fields[name] = _day(value)
        elif field_type in ("integer", "number"):
            fields[name] = _number(value)
        elif field_type == "list":
            fields[name] = [str(entry) for entry in value] if isinstance(value, list | set | tuple) else None
        elif field_type == "string":
            fields[name] = str(value)
    first_seen = [moment for name in FIRST_SEEN_ATTRIBUTES if (moment := _moment(item.get(name)))]
    fields["first_seen_at"] = min(first_seen) if first_seen else _moment(item.get("created_at"))
    fields["signup_at"] = _moment(item.get("signed_up_at"))
    fields["last_cancelled_at"] = _moment(item.get("last_cancelled_at"))  # for the lifecycle stage only
    for name, key in CONSENT_FIELDS.items():
        fields[name] = _consent(item.get("consent"), key=key)
    fields["profiling_consent"] = _consent(item.get("consent"), purpose="profiling")
    points = balance(dict(item), load_rules(), now) if is_member(dict(item)) else None
    if points is not None and points.points_expire_at is not None:  # the first expiry within the notice period
        fields["points_next_expiry_at"] = datetime.combine(date.fromisoformat(points.points_expire_at), time(0), UTC)
        fields["points_next_expiry"] = points.points_expiring
    loyalty: Mapping[str, Any] = _section(item, "loyalty")
    for stored, name in LOYALTY_NAMES.items():
        if loyalty.get(stored) is not None:
            value = loyalty[stored]
            fields[name] = _moment(value) if name == "points_next_expiry_at" else (
                str(value) if name == "loyalty_tier" else _number(value))
    predictions: Mapping[str, Any] = _section(item, "predictions")
    for stored, name in PREDICTION_NAMES.items():
        if stored in predictions:
            fields[name] = _moment(predictions[stored]) if name in TIME_PREDICTIONS else _number(predictions[stored])
    fields.update(_rfm_fields(fields, now, cut_points))
    return {name: value for name, value in fields.items() if value is not None}


def _order_activity(fields: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The last completed order (buyers only) and the last order activity: that order, else the last cancellation."""
    last_order_at = fields.get("last_order_at") if (fields.get("orders_count") or 0) > 0 else None
    return last_order_at, last_order_at or fields.get("last_cancelled_at")


def _rfm_fields(fields: Mapping[str, Any], now: datetime, cut_points: RfmCutPoints | None) -> dict[str, Any]:
    """The lifecycle stage (cdp.segments.lifecycle) and, for buyers, recency in whole days and, against the stored
    cut points, the R, F and M scores: what the run's cdp.segments.rfm gives the same profile at the same time."""
    orders = fields.get("orders_count") or 0
    last_order_at, activity_at = _order_activity(fields)
    derived: dict[str, Any] = {"lifecycle_stage": stage(whole_days_since(fields.get("first_seen_at"), now),
                                                        whole_days_since(activity_at, now), orders)}  # fmt: skip
    recency_days = whole_days_since(last_order_at, now)
    if recency_days is None:
        return derived
    derived["recency_days"] = recency_days
    if cut_points is not None:
        derived["r_score"] = cut_points.score("recency_days", recency_days)
        derived["f_score"] = cut_points.score("orders_count", orders)
        derived["m_score"] = cut_points.score("revenue", fields.get("revenue") or 0)
    return derived


# ---------------------------------------------------------------------- evaluation


def holds(condition: Condition, fields: Mapping[str, Any], now: datetime, segments: Mapping[str, bool]) -> bool:
    """Whether a live condition holds for the profile's fields at `now`; `segments` holds the live verdicts so far."""
    kind = condition.kind
    if kind == "all":
        return all(holds(child, fields, now, segments) for child in condition.all or ())
    if kind == "any":
        return any(holds(child, fields, now, segments) for child in condition.any or ())
    if kind == "not":
        assert condition.not_ is not None
        return not holds(condition.not_, fields, now, segments)
    if kind == "segment":
        return segments[str(condition.segment)]
    if kind == "today":
        assert condition.today is not None
        return local_today(now, fields.get("timezone")).day == condition.today.day_of_month
    assert condition.field is not None and condition.op is not None
    return _field_holds(condition.op, fields.get(condition.field), condition.value, fields, now)


def _field_holds(op: str, value: Any, expected: Any, fields: Mapping[str, Any], now: datetime) -> bool:
    if op == "exists":
        return value is not None
    if op == "missing":
        return value is None
    if value is None:
        return False
    if op in ("within_last", "more_than_ago", "within_next"):
        return _time_holds(op, value, Duration.model_validate(expected), now)
    if op == "this_month":
        return bool(value.month == now.month)
    if op == "anniversary_today":
        return is_anniversary(value, local_today(now, fields.get("timezone")))
    if op == "in":
        return value in expected
    if op == "not_in":
        return value not in expected
    if op == "contains":
        return expected in value
    return bool(
        {"=": value == expected, "!=": value != expected}.get(op)
        if op in ("=", "!=")
        else {"<": value < expected, "<=": value <= expected, ">": value > expected, ">=": value >= expected}[op]
    )


def _time_holds(op: str, moment: datetime | date, duration: Duration, now: datetime) -> bool:
    """The batch evaluator's windows: within_last [now - d, now], more_than_ago before now - d, within_next
    (now, now + d]; on a date, whole days around today (UTC)."""
    delta = timedelta(minutes=duration.total_minutes)
    reference: datetime | date = now
    if not isinstance(moment, datetime):
        reference, delta = now.date(), timedelta(days=delta.days)
    if op == "within_last":
        return bool(reference - delta <= moment <= reference)  # type: ignore[operator]
    if op == "more_than_ago":
        return bool(moment < reference - delta)  # type: ignore[operator]
    return bool(reference < moment <= reference + delta)  # type: ignore[operator]


def memberships(live: list[SegmentDefinition], fields: Mapping[str, Any], now: datetime) -> dict[str, bool]:
    """Every live segment's verdict for one profile (in the order given: references first)."""
    verdicts: dict[str, bool] = {}
    for segment in live:
        verdicts[segment.name] = holds(segment.where, fields, now, verdicts)
    return verdicts


# ---------------------------------------------------------------------- when the clock alone changes a verdict


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _changes(op: str, value: Any, expected: Any, fields: Mapping[str, Any], now: datetime) -> Iterator[datetime]:
    """The instants at which a field test's verdict flips as time passes (each the first instant of the new verdict)."""
    if value is None:
        return
    if op == "this_month":
        last_day = calendar.monthrange(now.year, now.month)[1]
        yield _midnight(now.date().replace(day=last_day) + timedelta(days=1))
    elif op == "anniversary_today":
        yield next_anniversary_change(value, now, fields.get("timezone"))
    elif op in ("within_last", "more_than_ago", "within_next"):
        delta = timedelta(minutes=Duration.model_validate(expected).total_minutes)
        if isinstance(value, datetime):
            yield from {"within_last": (value, value + delta + TICK), "more_than_ago": (value + delta + TICK,),
                        "within_next": (value - delta, value)}[op]  # fmt: skip
        else:
            days = timedelta(days=delta.days)
            yield from (_midnight(day) for day in {"within_last": (value, value + days + timedelta(days=1)),
                        "more_than_ago": (value + days + timedelta(days=1),),
                        "within_next": (value - days, value)}[op])  # fmt: skip


def _next_stage_change(fields: Mapping[str, Any], now: datetime) -> datetime | None:
    return next_stage_change(fields.get("first_seen_at"), _order_activity(fields)[1], now)


def next_change(
    segment: SegmentDefinition, document: SegmentDocument, fields: Mapping[str, Any], now: datetime
) -> datetime | None:
    """The first instant after `now` at which the segment's verdict may change by the clock alone (its own time tests
    and those of the segments it refers to), or None when no time test can change it."""
    upcoming: list[datetime] = []
    pending, seen = [segment.where], {segment.name}
    while pending:
        condition = pending.pop()
        if condition.segment is not None and condition.segment not in seen:
            seen.add(condition.segment)
            pending.append(document.segment(condition.segment).where)
        pending += [*(condition.all or ()), *(condition.any or ()), *((condition.not_,) if condition.not_ else ())]
        if condition.field == "lifecycle_stage":
            upcoming += [at for at in (_next_stage_change(fields, now),) if at is not None]
        elif condition.field is not None and condition.op is not None:
            value = fields.get(condition.field)
            upcoming += [at for at in _changes(condition.op, value, condition.value, fields, now) if at > now]
        if condition.today is not None:
            upcoming.append(next_day_of_month_change(condition.today.day_of_month, now, fields.get("timezone")))
    return min(upcoming, default=None)


# ---------------------------------------------------------------------- the use case


class LiveSegments:
    """Decides one profile's live segments, writes what changed and returns the Segment Entered/Exited events.

    The write is one conditional transaction (memberships version as read): the profile's `memberships` and
    `segment_timers` maps, the `SEGMENT#<name>` / `PROFILE#<id>` items and the moved timers. When another writer got
    there first the profile is read again and decided again, so a transition is announced once. Events follow the
    write (a crash between them loses that announcement; the stored membership, with its `at` and `trigger`, stays
    right). A profile that refused profiling is in no live segment and has no timers.
    """

    def __init__(self, document: SegmentDocument, store: LiveSegmentStore) -> None:
        self.document, self.store = document, store
        self.live = live_segments(document)
        self.names = {segment.name for segment in self.live}

    def realtime_decisions(self, now: datetime) -> Callable[[Mapping[str, Any]], MembershipChange]:
        """The records path's decisions for one batch: each on a profile's new state, written in the transaction
        that writes that state (so it needs no version check of its own beyond the one that transaction makes).
        The batch's decisions share the RFM cut points as the batch starts, read once."""
        cut_points = self.store.cut_points()
        return lambda item: self.change(item, now, "realtime", cut_points)

    def announce(self, change: MembershipChange, item: Mapping[str, Any]) -> list[DomainEvent]:
        """The events of a realtime change once it is written (`item`: the state it was decided on)."""
        return transition_events(change, item, "realtime")

    def after_update(self, profiles: Mapping[str, Mapping[str, Any]], now: datetime) -> list[DomainEvent]:
        """The records path's hook for profiles written without their decision (their new state): decide each,
        trigger `realtime`, in a write of its own."""
        return [event for item in profiles.values() for event in self.decide(item, now, "realtime")]

    def on_timer(self, item: Mapping[str, Any], now: datetime) -> list[DomainEvent]:
        """The sweep's hook: decide a profile whose timer is due, on the profile as stored now."""
        return self.decide(item, now, "timer")

    def decide(self, item: Mapping[str, Any], now: datetime, trigger: Trigger) -> list[DomainEvent]:
        current: Mapping[str, Any] | None = item
        for attempt in range(WRITE_ATTEMPTS):
            if current is None or "redirect_to" in current:
                return []
            change = self.change(current, now, trigger, self.store.cut_points())
            if change.empty or self.store.write(change):
                return transition_events(change, current, trigger)
            current = self.store.profile(str(item["profile_id"]))
            backoff(attempt)
        raise ConcurrentChange(f"profile {item['profile_id']} kept changing; live segments not decided")

    def change(
        self, item: Mapping[str, Any], now: datetime, trigger: Trigger, cut_points: RfmCutPoints | None
    ) -> MembershipChange:
        """The profile's new live memberships and timers against the stored ones (RFM scores against `cut_points`)."""
        profile_id = str(item["profile_id"])
        stored = held_memberships(item)
        stored_timers: dict[str, str] = {name: str(minute) for name, minute in (item.get("segment_timers") or {}).items()}
        fields = profile_fields(item, now, cut_points)
        refused = fields.get("profiling_consent") is False
        verdicts = {name: False for name in self.names} if refused else memberships(self.live, fields, now)
        version = item.get("memberships_version")
        change = MembershipChange(
            profile_id, None if version is None else int(version),
            memberships={name: entry for name, entry in stored.items() if name not in self.names}, timers={},
        )
        for segment in self.live:
            name = segment.name
            if verdicts[name]:
                change.memberships[name] = stored.get(name) or {"at": now.isoformat(), "trigger": trigger}
                if name not in stored:
                    change.entered.append(name)
            elif name in stored:
                change.exited.append(name)
            due = None if refused else next_change(segment, self.document, fields, now)
            if due is not None:
                change.timers[name] = bucket_of(due)
        for name, minute in stored_timers.items():
            if change.timers.get(name) != minute:
                change.timers_cleared.append(Timer(minute, name, profile_id))
        for name, minute in change.timers.items():
            if stored_timers.get(name) != minute:
                change.timers_set.append(Timer(minute, name, profile_id))
        return change


def held_memberships(item: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's memberships by name: live writes keep `{name: {at, trigger}}`, the scheduled run writes the
    list of names it computed (its entries carry no time of their own)."""
    stored = item.get("memberships") or {}
    if isinstance(stored, Mapping):
        return dict(stored)
    return {str(name): {"trigger": "scheduled"} for name in stored}


def transition_events(change: MembershipChange, item: Mapping[str, Any], trigger: Trigger) -> list[DomainEvent]:
    """Segment Exited per live segment left, Segment Entered per one joined; `previous` is every segment held before."""
    previous = sorted(item.get("memberships") or {})
    transitions = [("Segment Exited", name) for name in change.exited] + [("Segment Entered", name) for name in change.entered]
    return [
        DomainEvent(
            source=SEGMENT_EVENTS_SOURCE,
            detail_type=detail_type,
            detail={"profile_id": change.profile_id, "segment": name, "previous": previous, "trigger": trigger},
        )
        for detail_type, name in transitions
    ]
