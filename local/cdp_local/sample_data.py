"""Seeded generator of a realistic shop's exports (customers, orders, tracking events) with some dirty rows."""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import unicodedata
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

COUNTRIES = {  # country: (weight, currency, cities, phone formatter)
    "GB": (40, "GBP", ["London", "Leeds", "Bristol", "Glasgow"], lambda r: f"07700 {r.randint(900000, 900999)}"),
    "US": (25, "USD", ["New York", "Austin", "Seattle"], lambda r: f"(415) 555-{r.randint(1000, 9999)}"),
    "DE": (12, "EUR", ["Berlin", "Hamburg", "Munich"], lambda r: f"+49 151 {r.randint(10000000, 99999999)}"),
    "FR": (8, "EUR", ["Paris", "Lyon"], lambda r: f"06 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} 12"),
    "CN": (10, "CNY", ["Shanghai", "Beijing", "Shenzhen"], lambda r: f"138 {r.randint(1000, 9999)} {r.randint(1000, 9999)}"),
    "AU": (5, "AUD", ["Sydney", "Melbourne"], lambda r: f"+61 4{r.randint(10000000, 99999999)}"),
}
FIRST_NAMES = ["Ann", "Bob", "Chen", "Dana", "Emil", "Fatima", "Grace", "Hiro", "Isla", "Jonas", "Li", "Maya", "Noah", "Olga"]
LAST_NAMES = ["Lee", "Smith", "Wang", "Garcia", "Müller", "Martin", "Brown", "Kim", "Novak", "Rossi", "Zhang", "Evans"]
DOMAINS = ["example.com", "mail.example.org", "shop-mail.example.net"]
CATEGORIES = ["apparel", "shoes", "beauty", "home", "electronics", "toys", "sports", "books"]
CUSTOMER_COLUMNS = ["customer_id", "email", "phone", "first_name", "last_name", "country", "city", "signup_at",
                    "email_consent", "sms_consent"]
ORDER_COLUMNS = ["order_id", "customer_id", "ordered_at", "currency", "total_amount", "items", "category", "status"]
DIRTY_SHARE = 0.015


def _moment(as_of: date, rng: random.Random, earliest: datetime) -> datetime:
    end = datetime.combine(as_of, time(23, 59), tzinfo=UTC)
    return earliest + timedelta(seconds=rng.randint(0, max(0, int((end - earliest).total_seconds()))))


def _customers(rng: random.Random, as_of: date, count: int) -> list[dict[str, str]]:
    countries = list(COUNTRIES)
    weights = [COUNTRIES[c][0] for c in countries]
    start = datetime.combine(as_of - timedelta(days=3 * 365), time(), tzinfo=UTC)
    recent = datetime.combine(as_of - timedelta(days=30), time(), tzinfo=UTC)
    rows = []
    for number in range(1, count + 1):
        country = rng.choices(countries, weights)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local_part = unicodedata.normalize("NFKD", f"{first}.{last}{number}").encode("ascii", "ignore").decode()
        email = f"{local_part}@{rng.choice(DOMAINS)}"
        rows.append({
            "customer_id": f"C{number:06d}",
            "email": email.upper() if rng.random() < 0.05 else (f" {email} " if rng.random() < 0.05 else email),
            "phone": "" if rng.random() < 0.2 else COUNTRIES[country][3](rng),
            "first_name": first, "last_name": last, "country": country, "city": rng.choice(COUNTRIES[country][2]),
            "signup_at": _moment(as_of, rng, recent if rng.random() < 0.05 else start).isoformat(),
            "email_consent": "true" if rng.random() < 0.7 else "false",
            "sms_consent": "true" if rng.random() < 0.35 else "false",
        })
    return rows


def _orders(rng: random.Random, as_of: date, customers: list[dict[str, str]]) -> list[dict[str, str]]:
    rows = []
    for customer in customers:
        count = min(80, int(rng.paretovariate(1.25) * 3)) if rng.random() < 0.85 else 0
        signed_up = datetime.fromisoformat(customer["signup_at"])
        for _ in range(count):
            rows.append({
                "order_id": "", "customer_id": customer["customer_id"],
                "ordered_at": _moment(as_of, rng, signed_up).isoformat(),
                "currency": COUNTRIES[customer["country"]][1],
                "total_amount": f"{rng.lognormvariate(4.0, 0.6):.2f}", "items": str(rng.randint(1, 10)),
                "category": rng.choice(CATEGORIES),
                "status": rng.choices(["completed", "refunded", "cancelled"], [93, 4, 3])[0],
            })
    rows.sort(key=lambda row: row["ordered_at"])
    for number, row in enumerate(rows, start=1):
        row["order_id"] = f"O{number:07d}"
    return rows


def _dirty_customer(rng: random.Random, row: dict[str, str]) -> dict[str, str] | list[str]:
    fault = rng.choice(["email", "id", "date", "extra"])
    if fault == "email":
        return {**row, "email": rng.choice(["john.doe@", "not-an-email"])}
    if fault == "id":
        return {**row, "customer_id": ""}
    if fault == "date":
        return {**row, "signup_at": rng.choice(["31/02/2024", "yesterday"])}
    return [*row.values(), "unexpected"]


def _dirty_order(rng: random.Random, row: dict[str, str]) -> dict[str, str] | list[str]:
    fault = rng.choice(["guest", "amount", "currency", "date", "extra"])
    if fault == "guest":
        return {**row, "customer_id": ""}
    if fault == "amount":
        return {**row, "total_amount": rng.choice(["-12.00", "twelve"])}
    if fault == "currency":
        return {**row, "currency": rng.choice(["XXX", "EURO"])}
    if fault == "date":
        return {**row, "ordered_at": "2024-13-45 25:61"}
    return [*row.values(), "unexpected"]


def _with_dirt(rng: random.Random, rows: list[dict[str, str]], spoil) -> list[dict[str, str] | list[str]]:
    out: list[dict[str, str] | list[str]] = []
    for row in rows:
        roll = rng.random()
        out.append(spoil(rng, row) if roll < DIRTY_SHARE else row)
        if DIRTY_SHARE <= roll < DIRTY_SHARE * 1.3:
            out.append(dict(row))  # an exact duplicate line, as exports repeat rows
    return out


def _csv_bytes(columns: list[str], rows: list[dict[str, str] | list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row if isinstance(row, list) else [row[c] for c in columns])
    return buffer.getvalue().encode("utf-8")


def _tracking(rng: random.Random, as_of: date, customers: list[dict[str, str]], count: int) -> list[dict]:
    now = datetime.combine(as_of, time(12), tzinfo=UTC)
    context = {"ip": "203.0.113.7", "userAgent": "Mozilla/5.0", "library": {"name": "analytics.js", "version": "2.11.1"}}
    messages = []
    for number in range(count):
        message_id = str(uuid.UUID(int=rng.getrandbits(128)))
        timestamp = (now - timedelta(minutes=rng.randint(1, 2880))).isoformat()
        if number % 10 == 0:  # a new visitor signs up on the web
            user_id = f"W{number:06d}"
            messages.append({"type": "identify", "messageId": message_id, "userId": user_id, "timestamp": timestamp,
                             "context": context, "traits": {"email": f"web.visitor{number}@example.com",
                                                            "firstName": rng.choice(FIRST_NAMES), "createdAt": timestamp,
                                                            "email_consent": True}})
            continue
        customer = rng.choice(customers)
        event = rng.choice(["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started"])
        messages.append({"type": "track", "messageId": message_id, "userId": customer["customer_id"],
                         "timestamp": timestamp, "context": context, "event": event,
                         "properties": {"product_id": f"P{rng.randint(1, 500):04d}", "category": rng.choice(CATEGORIES),
                                        "price": round(rng.uniform(5, 120), 2), "quantity": 1, "currency": "GBP"}})
    return messages


def generate(out_dir: Path, as_of: date, seed: int = 7, customers: int = 3000) -> dict[str, int]:
    """Write customers/customers.csv, orders/orders.csv.gz and tracking/events.jsonl under out_dir."""
    rng = random.Random(seed)
    customer_rows = _customers(rng, as_of, customers)
    order_rows = _orders(rng, as_of, customer_rows)
    tracking = _tracking(rng, as_of, customer_rows, max(50, customers // 10))
    customer_lines = _with_dirt(rng, customer_rows, _dirty_customer)
    order_lines = _with_dirt(rng, order_rows, _dirty_order)
    for folder in ("customers", "orders", "tracking"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    (out_dir / "customers" / "customers.csv").write_bytes(_csv_bytes(CUSTOMER_COLUMNS, customer_lines))
    (out_dir / "orders" / "orders.csv.gz").write_bytes(gzip.compress(_csv_bytes(ORDER_COLUMNS, order_lines), mtime=0))
    (out_dir / "tracking" / "events.jsonl").write_text("".join(json.dumps(m) + "\n" for m in tracking), encoding="utf-8")
    return {"customers": len(customer_lines), "orders": len(order_lines), "tracking_events": len(tracking)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, default=datetime.now(UTC).date())
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=3000)
    arguments = parser.parse_args()
    print(generate(arguments.out, arguments.as_of, arguments.seed, arguments.customers))


if __name__ == "__main__":
    main()
