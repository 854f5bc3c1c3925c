"""`make journey-dry-run JOURNEY=<name> FROM=YYYY-MM-DD TO=YYYY-MM-DD [CURATED=dir]`: replay curated history through
one journey's definition without sending (`cdp.journeys.dry_run`), and print what it would have done as JSON.

History is read from a curated folder (`make demo` leaves one in build/curated, or copy the curated bucket's
prefixes): `events/` and `orders/` Parquet (behaviour and each order as `Order Completed`), `customers/` (signups
as `Customer Signed Up`, and each person's address, consent columns and time zone) and
`segment_memberships/dt=*/run=*/` snapshots (a profile present in a run and absent from the one before entered the
segment then). Persons are named by customer id, else email, else anonymous id.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from cdp.journeys.definition import shipped_definitions
from cdp.journeys.dry_run import HistoryEvent, SendRules, dry_run
from cdp.journeys.router import BusEvent


def _rows(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.rglob("*.parquet")) if folder.is_dir() else []
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def _person(row: dict[str, Any]) -> str | None:
    return row.get("customer_id") or row.get("email") or row.get("anonymous_id")


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event(at: datetime, event_id: str, source: str, name: str, detail: dict[str, Any]) -> HistoryEvent:
    return HistoryEvent(at, BusEvent(event_id, source, name, detail))


def behaviour(curated: Path) -> list[HistoryEvent]:
    """Tracked events (except orders, which come from order lines) and orders as `Order Completed`."""
    history = []
    for row in _rows(curated / "events"):
        person = _person(row)
        if person and row.get("event") != "Order Completed":
            properties = json.loads(row["properties"]) if row.get("properties") else {}
            history.append(_event(_aware(row["occurred_at"]), str(row["event_id"]), "cdp.tracking", row["event"],
                                  {"profile_id": person, "event": row["event"], "properties": properties}))  # fmt: skip
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(curated / "orders"):
        orders[str(row["order_id"])].append(row)
    for order_id, lines in orders.items():
        person = _person(lines[0])
        if person:
            properties = {"order_id": order_id, "products": [{"sku": line.get("sku")} for line in lines]}
            history.append(_event(_aware(lines[0]["ordered_at"]), f"order:{order_id}", "cdp.tracking", "Order Completed",
                                  {"profile_id": person, "event": "Order Completed", "properties": properties}))  # fmt: skip
    return history


def customers(curated: Path) -> tuple[list[HistoryEvent], dict[str, dict[str, Any]]]:
    """Signups, and each person's snapshot (address, consent, time zone)."""
    history, profiles = [], {}
    for row in _rows(curated / "customers"):
        person = _person(row)
        if not person:
            continue
        consent = {f"{channel}:marketing": {"granted": bool(row[column])}
                   for channel, column in (("email", "email_consent"), ("sms", "sms_consent")) if row.get(column) is not None}  # fmt: skip
        profiles[person] = {"profile_id": person, "email": row.get("email"), "phone": row.get("phone"),
                            "timezone": row.get("timezone"), "consent": consent}  # fmt: skip
        if row.get("signup_at"):
            history.append(_event(_aware(row["signup_at"]), f"signup:{person}", "cdp.profiles", "Customer Signed Up",
                                  {"profile_id": person, "backfill": False}))  # fmt: skip
    return history, profiles


def segment_entries(curated: Path) -> list[HistoryEvent]:
    """`Segment Entered` from consecutive membership snapshots (at the later snapshot's day)."""
    history: list[HistoryEvent] = []
    previous: set[tuple[str, str]] | None = None
    for run in sorted((curated / "segment_memberships").glob("dt=*/run=*")):
        members = {(row["segment"], row["profile_id"]) for row in _rows(run)}
        at = datetime.combine(date.fromisoformat(run.parent.name.removeprefix("dt=")), time(0), UTC)
        for segment, profile_id in sorted(members - (previous or set())) if previous is not None else []:
            history.append(_event(at, f"{run.name}:{segment}:{profile_id}", "cdp.segments", "Segment Entered",
                                  {"profile_id": profile_id, "segment": segment}))  # fmt: skip
        previous = members
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journey", required=True, choices=sorted(shipped_definitions()))
    parser.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    parser.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    parser.add_argument("--curated", type=Path, default=Path("build/curated"))
    arguments = parser.parse_args(argv)
    if not arguments.curated.is_dir():
        parser.error(
            f"{arguments.curated} is not a folder of curated Parquet (run `make demo` first, or give CURATED=)"
        )
    signups, profiles = customers(arguments.curated)
    history = [*behaviour(arguments.curated), *signups, *segment_entries(arguments.curated)]
    start = datetime.combine(arguments.start, time(0), UTC)
    end = datetime.combine(arguments.end, time(0), UTC)
    report = dry_run(shipped_definitions()[arguments.journey], history, profiles, SendRules(), start, end)
    print(json.dumps({"from": str(arguments.start), "to": str(arguments.end), **report.as_dict()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
