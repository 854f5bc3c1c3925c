"""In-memory measurement sources (curated tables, segment snapshots, identifier owners) and row builders, plus a
seeded synthetic shop whose campaigns and journeys have real effects, for the report and browser tests."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cdp.canonical import Identifier
from cdp.measure.attribution import MESSAGE_SCHEMA, ORDER_SCHEMA, TIMESTAMP
from cdp.measure.ports import SegmentRun
from cdp.measure.report import MeasurementParts

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)

ORDER_LINE_SCHEMA = pa.schema([
    ("order_id", pa.string()), ("line_id", pa.string()), ("customer_id", pa.string()), ("email", pa.string()),
    ("phone", pa.string()), ("anonymous_id", pa.string()), ("ordered_at", TIMESTAMP),
    ("line_amount", pa.decimal128(18, 4)), ("status", pa.string()), ("coupon", pa.string()),
    ("discount", pa.decimal128(18, 4)),
])  # fmt: skip
CUSTOMER_SCHEMA = pa.schema([("customer_id", pa.string()), ("email", pa.string()), ("signup_at", TIMESTAMP)])
FEEDBACK_SCHEMA = pa.schema([("kind", pa.string()), ("score", pa.int64()), ("responded_at", TIMESTAMP)])
MEMBER_SCHEMA = pa.schema([("segment", pa.string()), ("profile_id", pa.string())])


def message(profile_id: str, event: str, at: datetime, origin_name: str = "spring_sale", origin: str = "campaign",
            variant: str = "main", key: str | None = None, channel: str = "email") -> dict[str, Any]:
    """One curated `messages` row; the key defaults to one message per profile and origin."""
    return {"message_key": key or f"{origin}#{origin_name}#send#run1#{profile_id}", "profile_id": profile_id,
            "origin": origin, "origin_name": origin_name, "step": "send", "variant": variant, "occurrence": "run1",
            "channel": channel, "purpose": "marketing", "template": "offer", "event": event, "reason": event,
            "at": at, "provider_message_id": None}  # fmt: skip


def messages(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=MESSAGE_SCHEMA)


def order(order_id: str, profile_id: str, at: datetime, revenue: float, coupon: str | None = None,
          discount: float | None = None) -> dict[str, Any]:
    return {"order_id": order_id, "profile_id": profile_id, "ordered_at": at, "revenue": revenue, "coupon": coupon,
            "discount": discount}  # fmt: skip


def orders(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=ORDER_SCHEMA)


@dataclass
class FakeTables:
    """Curated rows per entity (the `CuratedTables` port)."""

    entities: dict[str, pa.Table] = field(default_factory=dict)

    def read(self, entity: str, schema: pa.Schema, since: date | None = None) -> pa.Table:
        table = self.entities.get(entity, schema.empty_table())
        return pa.table({field.name: table.column(field.name).cast(field.type) if field.name in table.column_names
                         else pa.nulls(table.num_rows, field.type) for field in schema}, schema=schema)  # fmt: skip


@dataclass
class FakeSnapshots:
    """Segment runs: (run, computed_at, members) (the `SegmentSnapshots` port)."""

    stored: list[tuple[SegmentRun, datetime, pa.Table]] = field(default_factory=list)
    personas: list[dict[str, Any]] = field(default_factory=list)

    def add(self, run_id: str, at: datetime, members: Iterable[tuple[str, str]]) -> None:
        table = pa.Table.from_pylist([{"segment": s, "profile_id": p} for s, p in members], schema=MEMBER_SCHEMA)
        self.stored.append((SegmentRun(run_id, at.date(), f"segment_memberships/dt={at.date()}/run={run_id}"), at, table))

    def runs(self) -> list[SegmentRun]:
        return [run for run, _, _ in self.stored]

    def members(self, run: SegmentRun) -> pa.Table:
        return next(table for stored, _, table in self.stored if stored == run)

    def computed_at(self, run: SegmentRun) -> datetime:
        return next(at for stored, at, _ in self.stored if stored == run)

    def latest(self) -> dict[str, Any]:
        return {"run_id": self.stored[-1][0].run_id, "personas": self.personas} if self.stored else {}


@dataclass
class FakeOwners:
    """customer_id `C<n>` and email `c<n>@example.com` belong to profile `P<n>`; `merged` maps old to survivor."""

    merged: dict[str, str] = field(default_factory=dict)

    def find_bound(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]:
        bound = {}
        for kind, value in identifiers:
            if kind == "customer_id" and value.startswith("C"):
                bound[(kind, value)] = "P" + value[1:]
            elif kind == "email" and value.startswith("c") and value.endswith("@example.com"):
                bound[(kind, value)] = "P" + value[1:].removesuffix("@example.com")
        return bound

    def live_profile_ids(self, profile_ids: Iterable[str]) -> dict[str, str | None]:
        return {profile_id: self.merged.get(profile_id, profile_id) for profile_id in profile_ids}


def shop(customers: int = 3000, seed: int = 7) -> MeasurementParts:
    """A synthetic shop: a year of signups and orders, a two-variant campaign with a 10% holdout that lifts
    conversion, a welcome journey with a holdout and a weaker effect, NPS and CSAT answers, and two segment runs a
    month apart, with personas in the latest run's summary."""
    rng = random.Random(seed)
    lines, people, answers, rows = [], [], [], []
    campaign_at = NOW - 12 * DAY
    for number in range(customers):
        signup = NOW - timedelta(days=rng.uniform(0, 360))
        people.append({"customer_id": f"C{number}", "email": f"c{number}@example.com", "signup_at": signup})
        profile = f"P{number}"
        base = 0.35
        moment = signup + timedelta(days=rng.uniform(0, 20))
        order_number = 0
        while moment < NOW and rng.random() < base + 0.3 * (order_number == 0):
            amount = Decimal(f"{rng.lognormvariate(3.6, 0.5):.2f}")
            coupon = "WELCOME10" if order_number == 0 and rng.random() < 0.3 else None
            lines.append({"order_id": f"O{number}-{order_number}", "line_id": "1", "customer_id": f"C{number}",
                          "email": None, "phone": None, "anonymous_id": None, "ordered_at": moment,
                          "line_amount": amount, "status": "completed", "coupon": coupon,
                          "discount": Decimal(5) if coupon else None})  # fmt: skip
            order_number += 1
            moment += timedelta(days=rng.expovariate(1 / 45))
        # the campaign: 10% holdout, variants a and b; messaged people buy more within five days
        draw = rng.random()
        group = "holdout" if draw < 0.1 else ("a" if draw < 0.55 else "b")
        assigned_at = campaign_at + timedelta(minutes=rng.uniform(0, 30))
        rows.append(message(profile, "holdout" if group == "holdout" else "assigned", assigned_at,
                            variant="main" if group == "holdout" else group))  # fmt: skip
        buy_chance = {"holdout": 0.04, "a": 0.06, "b": 0.075}[group]
        if group != "holdout":
            events = ["sent"]
            if rng.random() < 0.97:
                events.append("delivered")
                if rng.random() < 0.4:
                    events.append("opened")
                    if rng.random() < 0.25:
                        events.append("clicked")
                if rng.random() < 0.004:
                    events.append("unsubscribed")
                if rng.random() < 0.0008:
                    events.append("complained")
            else:
                events.append("bounced")
            for offset, event in enumerate(events):
                rows.append(message(profile, event, assigned_at + (offset + 1) * 10 * timedelta(minutes=1), variant=group))
        if rng.random() < buy_chance:
            lines.append({"order_id": f"O{number}-campaign", "line_id": "1", "customer_id": f"C{number}",
                          "email": None, "phone": None, "anonymous_id": None,
                          "ordered_at": assigned_at + timedelta(hours=rng.uniform(2, 100)),
                          "line_amount": Decimal(f"{rng.lognormvariate(3.8, 0.4):.2f}"), "status": "completed",
                          "coupon": "SPRING15" if group != "holdout" and rng.random() < 0.5 else None,
                          "discount": None})  # fmt: skip
        # the welcome journey, for signups of the last 60 days
        if signup > NOW - 60 * DAY:
            held = rng.random() < 0.2
            key = f"journey#welcome#email_1#{number}"
            rows.append(message(profile, "holdout" if held else "assigned", signup, "welcome", "journey", key=key))
            if not held:
                for offset, event in enumerate(["sent", "delivered", "opened"][: rng.choice([1, 2, 2, 3])]):
                    rows.append(message(profile, event, signup + (offset + 1) * HOUR, "welcome", "journey", key=key))
        if rng.random() < 0.15:
            kind = rng.choice(["nps", "csat"])
            score = rng.choice([10, 9, 9, 8, 7, 6, 3, 10]) if kind == "nps" else rng.choice([5, 4, 4, 3, 2, 5])
            answers.append({"kind": kind, "score": score, "responded_at": NOW - timedelta(days=rng.uniform(0, 150))})
    snapshots = FakeSnapshots()
    rfm = ["rfm_champions", "rfm_loyal_customers", "rfm_potential_loyalists", "rfm_at_risk", "rfm_hibernating", "rfm_lost"]
    lifecycle = ["lifecycle_active", "lifecycle_dormant", "lifecycle_churned", "lifecycle_new"]
    states = [(rng.randrange(len(rfm)), rng.randrange(len(lifecycle))) for _ in range(customers)]
    for run_id, at in (("run-1", NOW - 35 * DAY), ("run-2", NOW - 20 * DAY), ("run-3", NOW - HOUR)):
        members = []
        for number, (score, stage) in enumerate(states):
            members += [(rfm[score], f"P{number}"), (lifecycle[stage], f"P{number}")]
        snapshots.add(run_id, at, members)
        states = [(min(len(rfm) - 1, max(0, score + rng.choice([-1, 0, 0, 0, 1]))), rng.choice([stage, stage, stage, 0]))
                  for score, stage in states]  # fmt: skip
    tables = FakeTables({
        "orders": pa.Table.from_pylist(lines, schema=ORDER_LINE_SCHEMA),
        "customers": pa.Table.from_pylist(people, schema=CUSTOMER_SCHEMA),
        "feedback": pa.Table.from_pylist(answers, schema=FEEDBACK_SCHEMA),
        "messages": pa.Table.from_pylist(rows, schema=MESSAGE_SCHEMA),
    })  # fmt: skip
    snapshots.personas = [
        {"name": "Loyal regulars", "size": int(customers * 0.18), "description": "Order monthly, high spend"},
        {"name": "Deal seekers", "size": int(customers * 0.27), "description": "Half their orders carry a coupon"},
        {"name": "One-and-done", "size": int(customers * 0.41), "description": "One order, months ago"},
    ]
    return MeasurementParts(tables, snapshots, FakeOwners())


def column(table: pa.Table, name: str) -> list[Any]:
    return pc.cast(table.column(name), table.schema.field(name).type).to_pylist()
