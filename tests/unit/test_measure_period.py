"""The scheduled report reads only the message partitions its period needs: over runs on several days, with curated
Parquet in (moto) S3 spread over many days, it equals the same report computed from every partition, its
attributions equal those over all history, and it reads fewer objects and bytes."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cdp.adapters.clients import client
from cdp.adapters.curated_tables import CuratedParquet
from cdp.measure.attribution import MESSAGE_SCHEMA, TIMESTAMP, attribute
from cdp.measure.orders import ORDER_LINE_SCHEMA, followed_through_merges, order_table
from cdp.measure.report import MeasurementParts, measure_marketing
from cdp.measure.rules import MeasurementRules
from measure_tables import CUSTOMER_SCHEMA, DAY, HOUR, NOW, FakeOwners, FakeSnapshots, message
from measure_tables import ORDER_LINE_SCHEMA as EXPORTED_LINE_SCHEMA
from moto import mock_aws

BUCKET = "curated"
PEOPLE = 20
FIRST_DAY = NOW - 150 * DAY


@dataclass
class Reads:
    """GetObject calls and the bytes they returned."""

    objects: int = 0
    bytes: int = 0

    def count(self, parsed: dict[str, Any], **_: Any) -> None:
        self.objects += 1
        self.bytes += int(parsed.get("ContentLength") or 0)


class EveryPartition(CuratedParquet):
    """The curated tables read whole, whatever day the caller starts from: the full recompute."""

    def read(self, entity: str, schema: pa.Schema, since: date | None = None) -> pa.Table:
        return super().read(entity, schema)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    client.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        counter = Reads()
        client("s3").meta.events.register("after-call.s3.GetObject", counter.count)
        yield counter
    client.cache_clear()


def _put(entity: str, day: date, name: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    client("s3").put_object(Bucket=BUCKET, Key=f"{entity}/dt={day}/{name}.parquet", Body=buffer.getvalue())


def _store_signups(people: int = PEOPLE) -> None:
    """The shop's customers, signed up over the first 30 days, one object per signup day."""
    rng = random.Random(5)
    signups = [{"customer_id": f"C{n}", "email": None, "signup_at": FIRST_DAY + rng.uniform(0, 30) * DAY}
               for n in range(people)]  # fmt: skip
    for day in sorted({row["signup_at"].date() for row in signups}):
        _put("customers", day, "signups", [row for row in signups if row["signup_at"].date() == day], CUSTOMER_SCHEMA)


def _store_days(days: range, people: int = PEOPLE) -> None:
    """Each day's sends of two alternating campaigns (a fifth held out, half the messaged clicking) and ten orders,
    one object per entity and day as the delivery streams write them (a late evening's events on the next day)."""
    for number in days:
        rng = random.Random(number)
        start = FIRST_DAY + number * DAY
        rows, lines = [], []
        for person in rng.sample(range(people), 8):
            profile, at = f"P{person}", start + rng.uniform(0, 20) * HOUR
            campaign = f"daily_{number % 2}"
            key = f"campaign#{campaign}#send#{number}#{profile}"
            if rng.random() < 0.2:
                rows.append(message(profile, "holdout", at, campaign, key=key))
                continue
            rows += [message(profile, event, at + offset * HOUR, campaign, key=key)
                     for event, offset in (("assigned", 0), ("sent", 0), ("delivered", 0.1))]
            if rng.random() < 0.5:
                rows.append(message(profile, "clicked", at + rng.uniform(0.2, 6) * HOUR, campaign, key=key))
        for order_number in range(10):
            ordered_at = start + rng.uniform(0, 23.9) * HOUR
            lines.append({"order_id": f"O{number}-{order_number}", "line_id": "1",
                          "customer_id": f"C{rng.randrange(people)}", "ordered_at": ordered_at,
                          "line_amount": Decimal(rng.randrange(5, 90)), "status": "completed"})  # fmt: skip
        for day in sorted({row["at"].date() for row in rows}):
            _put("messages", day, f"batch-{number}", [row for row in rows if row["at"].date() == day], MESSAGE_SCHEMA)
        _put("orders", start.date(), f"export-{number}", lines, EXPORTED_LINE_SCHEMA)


def _parts(tables: CuratedParquet) -> MeasurementParts:
    return MeasurementParts(tables, FakeSnapshots(), FakeOwners(merged={"P3": "P4"}))


def test_a_run_over_a_period_equals_the_full_recompute_and_reads_fewer_objects(reads: Reads) -> None:
    # Given: a report of the latest 30 days, and curated messages and orders arriving day by day
    _store_signups()
    rules = MeasurementRules(report_days=30)
    everything = EveryPartition(BUCKET)
    stored = 0
    for run_day in (45, 100, 150):  # When: the scheduled run on three days, each after that day's data
        _store_days(range(stored, run_day))
        stored, now = run_day, FIRST_DAY + run_day * DAY
        reads.objects = reads.bytes = 0
        pruned = measure_marketing(_parts(CuratedParquet(BUCKET)), rules, now)
        pruned_reads = (reads.objects, reads.bytes)
        reads.objects = reads.bytes = 0
        full = measure_marketing(_parts(everything), rules, now)
        # Then: the same report as from every partition, for less reading
        assert pruned == full
        assert pruned_reads[0] < reads.objects and pruned_reads[1] < reads.bytes
        # and the period's conversions are the attributions over all history whose touch is in the period
        start = pa.scalar(now - 30 * DAY, TIMESTAMP)
        owners = FakeOwners(merged={"P3": "P4"})
        every_message = followed_through_merges(everything.read("messages", MESSAGE_SCHEMA), owners)
        orders = order_table(everything.read("orders", ORDER_LINE_SCHEMA), owners)
        over_history = attribute(orders, every_message, rules.touches)
        in_period = over_history.filter(pc.greater_equal(over_history.column("touched_at"), start))
        assert pruned["attributed_orders"] == in_period.num_rows > 0
        assert pruned["headline"]["revenue"] == round(pc.sum(in_period.column("revenue")).as_py(), 2)
        # and the funnels count the period's messages only
        sent = every_message.filter(pc.and_(pc.equal(every_message.column("event"), "sent"),
                                            pc.greater_equal(every_message.column("at"), start)))  # fmt: skip
        assert pruned["headline"]["counts"]["sent"] == len(pc.unique(sent.column("message_key"))) > 0
        # and uplift is measured (a campaign whose only holdout merged into a messaged profile has none that day)
        assert pruned["uplift"] and {entry["origin_name"] for entry in pruned["uplift"]} <= {"daily_0", "daily_1"}


def test_without_a_period_the_run_reads_and_counts_every_message(reads: Reads) -> None:
    _store_signups()
    _store_days(range(40))
    rules = MeasurementRules(report_days=None)
    report = measure_marketing(_parts(CuratedParquet(BUCKET)), rules, NOW)
    every_message = EveryPartition(BUCKET).read("messages", MESSAGE_SCHEMA)
    sent = every_message.filter(pc.equal(every_message.column("event"), "sent"))
    assert report["period_from"] is None
    assert report["headline"]["counts"]["sent"] == len(pc.unique(sent.column("message_key")))
