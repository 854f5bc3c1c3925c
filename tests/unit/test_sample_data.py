"""Sample shop exports: repeatable to the byte, realistically sized and dated, dirty in every planned way."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from cdp.predict.bgnbd import fit_bgnbd, probability_alive
from cdp.predict.summary import Transactions, summarise
from cdp_local.sample_data import generate, main

AS_OF = date(2026, 5, 1)
CUTOFF = datetime(2026, 5, 1, tzinfo=UTC)
CUSTOMER_COLUMNS = (
    "customer_id,email,phone,first_name,last_name,country,city,signup_at,email_consent,sms_consent,birthday".split(",")
)
ORDER_COLUMNS = "order_id,customer_id,ordered_at,currency,total_amount,items,category,status,sku".split(",")
FILES = ("customers/customers.csv", "orders/orders.csv.gz", "tracking/events.jsonl")
COUNTRIES = {"GB", "US", "DE", "FR", "NL", "IE", "CN", "AU"}
SHOP_CURRENCIES = {"GBP", "USD", "EUR", "CNY", "AUD"}
ECOMMERCE_EVENTS = {"Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed"}
PRODUCT_FIELDS = {"product_id", "sku", "category", "name", "price", "quantity", "currency"}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out_dir = tmp_path_factory.mktemp("exports")
    return out_dir, generate(out_dir, AS_OF)


def _customer_lines(out_dir: Path) -> list[list[str]]:
    with (out_dir / "customers" / "customers.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def _order_lines(out_dir: Path) -> list[list[str]]:
    text = gzip.decompress((out_dir / "orders" / "orders.csv.gz").read_bytes()).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def _messages(out_dir: Path) -> list[dict]:
    lines = (out_dir / "tracking" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(lines: list[list[str]], columns: list[str]) -> list[dict[str, str]]:
    """The data lines with the right number of fields, by column name."""
    return [dict(zip(columns, line)) for line in lines[1:] if len(line) == len(columns)]


def test_the_same_arguments_write_the_same_bytes_and_another_seed_does_not(
    exports: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    # Given: the default exports written once already
    first_dir, first_counts = exports
    again, seed_7, seed_8 = tmp_path / "again", tmp_path / "seed_7", tmp_path / "seed_8"
    # When: written again into another folder, and small exports with two seeds
    second_counts = generate(again, AS_OF)
    generate(seed_7, AS_OF, seed=7, customers=200)
    generate(seed_8, AS_OF, seed=8, customers=200)
    # Then
    assert second_counts == first_counts
    for name in FILES:
        assert (again / name).read_bytes() == (first_dir / name).read_bytes(), name
        assert (seed_7 / name).read_bytes() != (seed_8 / name).read_bytes(), name


def test_the_files_have_the_exact_headers_and_the_counts_returned(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given
    out_dir, counts = exports
    # When
    customer_lines, order_lines = _customer_lines(out_dir), _order_lines(out_dir)
    messages = _messages(out_dir)
    # Then
    assert (customer_lines[0], order_lines[0]) == (CUSTOMER_COLUMNS, ORDER_COLUMNS)
    assert counts == {
        "customers": len(customer_lines) - 1,
        "orders": len(order_lines) - 1,
        "tracking_events": len(messages),
        "loyalty_entries": len((out_dir / "loyalty" / "loyalty.csv").read_text().splitlines()) - 1,
    }


def test_default_sizes_are_a_few_thousand_customers_tens_of_thousands_of_orders_hundreds_of_events(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given
    out_dir, counts = exports
    # When
    orders_per_customer = Counter(row["customer_id"] for row in _rows(_order_lines(out_dir), ORDER_COLUMNS))
    per_customer = [orders_per_customer.get(f"C{number:06d}", 0) for number in range(1, 3001)]
    # Then
    assert 3000 <= counts["customers"] <= 3100
    assert 15_000 <= counts["orders"] <= 40_000
    assert 200 <= counts["tracking_events"] <= 1000
    assert 5 <= sum(per_customer) / len(per_customer) <= 11
    assert per_customer.count(0) > 150, "some customers never order"
    assert per_customer.count(1) > 450, "many buy once"
    assert max(per_customer) > 100, "a few buy often"


def test_customers_look_like_a_shops_customers(exports: tuple[Path, dict[str, int]]) -> None:
    # Given
    out_dir, _ = exports
    # When
    customers = _rows(_customer_lines(out_dir), CUSTOMER_COLUMNS)
    phones = [row["phone"] for row in customers]
    signed_up = [moment for row in customers if (moment := _moment(row["signup_at"]))]
    # Then
    assert {row["country"] for row in customers} == COUNTRIES
    assert all(re.fullmatch(r"C\d{6}", row["customer_id"]) for row in customers if row["customer_id"])
    assert 0.65 <= sum(row["email_consent"] == "true" for row in customers) / len(customers) <= 0.75
    assert 0.30 <= sum(row["sms_consent"] == "true" for row in customers) / len(customers) <= 0.40
    assert {row["email_consent"] for row in customers} == {"true", "false"}
    assert any(phone.startswith("+") for phone in phones) and any(phone.startswith("0") for phone in phones)
    assert any(phone.startswith("(") for phone in phones) and "" in phones
    assert any(row["email"] != row["email"].strip().lower() for row in customers), "emails to normalise"
    assert all(moment.utcoffset() is not None for moment in signed_up)
    recent = sum(moment >= CUTOFF - timedelta(days=30) for moment in signed_up) / len(signed_up)
    assert 0.03 <= recent <= 0.07
    assert min(signed_up) >= CUTOFF - timedelta(days=3 * 365)


def test_orders_look_like_a_shops_orders(exports: tuple[Path, dict[str, int]]) -> None:
    # Given
    out_dir, _ = exports
    # When
    orders = [
        row
        for row in _rows(_order_lines(out_dir), ORDER_COLUMNS)
        if row["currency"] in SHOP_CURRENCIES and _is_number(row["total_amount"])
    ]
    statuses = Counter(row["status"] for row in orders)
    gbp_amounts = sorted(float(row["total_amount"]) for row in orders if row["currency"] == "GBP")
    # Then
    assert all(re.fullmatch(r"O\d{7}", row["order_id"]) for row in orders)
    assert {row["category"] for row in orders} == {
        "apparel", "shoes", "beauty", "home", "electronics", "toys", "sports", "books",
    }  # fmt: skip
    assert {int(row["items"]) for row in orders} == set(range(1, 11))
    assert 0.91 <= statuses["completed"] / len(orders) <= 0.95
    assert statuses["refunded"] > statuses["cancelled"] > 0
    assert 50 <= gbp_amounts[len(gbp_amounts) // 2] <= 70
    positive_amounts = [row["total_amount"] for row in orders if float(row["total_amount"]) > 0]
    assert all(re.fullmatch(r"\d+\.\d{2}", amount) for amount in positive_amounts)


def test_no_date_is_after_as_of_and_orders_follow_their_customers_signup(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given
    out_dir, _ = exports
    customers = _rows(_customer_lines(out_dir), CUSTOMER_COLUMNS)
    orders = _rows(_order_lines(out_dir), ORDER_COLUMNS)
    # When
    signups = {row["customer_id"]: moment for row in customers if (moment := _moment(row["signup_at"]))}
    ordered = [(row["customer_id"], moment) for row in orders if (moment := _moment(row["ordered_at"]))]
    tracked = [datetime.fromisoformat(message["timestamp"]) for message in _messages(out_dir)]
    # Then
    assert max(signups.values()) < CUTOFF
    assert max(moment for _, moment in ordered) < CUTOFF
    assert all(moment >= signups[customer_id] for customer_id, moment in ordered if customer_id in signups)
    assert CUTOFF - timedelta(days=2) <= min(tracked) and max(tracked) < CUTOFF


def test_customers_carry_every_kind_of_dirt_in_about_one_and_a_half_percent_of_lines(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given
    out_dir, _ = exports
    lines = _customer_lines(out_dir)[1:]
    # When
    well_formed = [dict(zip(CUSTOMER_COLUMNS, line)) for line in lines if len(line) == len(CUSTOMER_COLUMNS)]
    dirt = Counter({
        "invalid_email": sum(not EMAIL.match(row["email"].strip().lower()) for row in well_formed),
        "missing_customer_id": sum(not row["customer_id"] for row in well_formed),
        "duplicate_line": sum(count - 1 for count in Counter(map(tuple, lines)).values()),
        "unparseable_signup_at": sum(_moment(row["signup_at"]) is None for row in well_formed),
        "wrong_field_count": len(lines) - len(well_formed),
    })  # fmt: skip
    # Then
    assert min(dirt.values()) >= 3, dirt
    assert 0.01 <= sum(dirt.values()) / len(lines) <= 0.025, dirt


def test_orders_carry_every_kind_of_dirt_in_about_one_and_a_half_percent_of_lines(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given
    out_dir, _ = exports
    lines = _order_lines(out_dir)[1:]
    # When
    well_formed = [dict(zip(ORDER_COLUMNS, line)) for line in lines if len(line) == len(ORDER_COLUMNS)]
    versions_by_id: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for row in well_formed:
        versions_by_id[row["order_id"]].add(tuple(row.values()))
    dirt = Counter({
        "guest_order": sum(not row["customer_id"] for row in well_formed),
        "negative_amount": sum(_is_number(row["total_amount"]) and float(row["total_amount"]) < 0
                               for row in well_formed),
        "non_numeric_amount": sum(not _is_number(row["total_amount"]) for row in well_formed),
        "unknown_currency": sum(row["currency"] not in SHOP_CURRENCIES for row in well_formed),
        "unparseable_ordered_at": sum(_moment(row["ordered_at"]) is None for row in well_formed),
        "duplicate_line": sum(count - 1 for count in Counter(map(tuple, lines)).values()),
        "repeated_order_id": sum(len(versions) > 1 for versions in versions_by_id.values()),
        "wrong_field_count": len(lines) - len(well_formed),
    })  # fmt: skip
    # Then
    assert min(dirt.values()) >= 3, dirt
    assert 0.01 <= sum(dirt.values()) / len(lines) <= 0.025, dirt


def test_tracking_lines_are_segment_messages(exports: tuple[Path, dict[str, int]]) -> None:
    # Given
    out_dir, _ = exports
    # When
    messages = _messages(out_dir)
    tracks = [message for message in messages if message["type"] == "track"]
    # Then
    assert {message["type"] for message in messages} == {"identify", "track"}
    assert len({message["messageId"] for message in messages}) == len(messages)
    for message in messages:
        assert UUID4.fullmatch(message["messageId"])
        assert message.get("userId") or message.get("anonymousId")
        assert message["context"]["ip"].startswith("203.0.113.") and message["context"]["userAgent"]
        assert message["context"]["library"] == {"name": "analytics.js", "version": "2.11.1"}
        if message["type"] == "identify":
            assert message["traits"]["email"]
        else:
            assert message["event"] and "properties" in message
    assert {message["event"] for message in tracks} == ECOMMERCE_EVENTS
    for message in tracks:
        if message["event"] in ("Product Viewed", "Product Added"):
            assert PRODUCT_FIELDS <= set(message["properties"])
        if message["event"] == "Order Completed":
            assert {"order_id", "total", "revenue", "currency", "products"} <= set(message["properties"])
            assert message["properties"]["products"]


def test_identified_users_are_customers_or_new_web_signups_who_are_new_customers(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given
    out_dir, _ = exports
    customer_ids = {row["customer_id"] for row in _rows(_customer_lines(out_dir), CUSTOMER_COLUMNS)}
    messages = _messages(out_dir)
    # When
    signups = [message for message in messages if "createdAt" in message.get("traits", {})]
    signup_ids = {message["userId"] for message in signups}
    # Then
    assert len(signups) >= 3
    assert not signup_ids & customer_ids
    for message in signups:
        assert CUTOFF - timedelta(days=2) <= datetime.fromisoformat(message["traits"]["createdAt"]) < CUTOFF
        assert message["traits"]["email_consent"] is True and EMAIL.match(message["traits"]["email"])
        assert {"firstName", "lastName"} <= set(message["traits"])
    assert {message["userId"] for message in messages if "userId" in message} <= customer_ids | signup_ids


def test_the_command_line_writes_the_files_and_prints_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given / When
    main(["--out", str(tmp_path), "--as-of", "2026-05-01", "--seed", "3", "--customers", "100"])
    # Then
    counts = json.loads(capsys.readouterr().out)
    assert set(counts) == {"customers", "orders", "tracking_events", "loyalty_entries"}
    assert all((tmp_path / name).is_file() for name in FILES)
    assert gzip.decompress((tmp_path / "orders" / "orders.csv.gz").read_bytes()).startswith(b"order_id,")


def test_the_exports_hold_what_starts_the_date_driven_journeys_on_the_day_they_are_taken(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given the exports taken on AS_OF
    out_dir, _ = exports
    customers = _rows(_customer_lines(out_dir), CUSTOMER_COLUMNS)
    orders = _rows(_order_lines(out_dir), ORDER_COLUMNS)
    views = [m for m in _messages(out_dir) if m.get("event") in ("Product Viewed", "Product Added")]
    # Then: a few customers have their birthday today (birthday journey), most others some day
    born_today = [row for row in customers if row["birthday"][5:] == AS_OF.isoformat()[5:]]
    assert sum(row["country"] in ("GB", "IE") for row in born_today) >= 3
    assert 0.5 <= sum(bool(row["birthday"]) for row in customers) / len(customers) <= 0.7
    # Then: every order names a SKU; regulars reorder one at a steady pace, next due in 1-4 days (replenishment)
    assert all(row["sku"] for row in orders if row["order_id"])
    days: dict[tuple[str, str], list[date]] = {}
    for row in orders:
        if (moment := _moment(row["ordered_at"])) is not None:
            days.setdefault((row["customer_id"], row["sku"]), []).append(moment.date())
    due = []
    for bought in days.values():
        gaps = {later - earlier for earlier, later in zip(sorted(bought), sorted(bought)[1:])}
        if len(bought) >= 5 and len(gaps) == 1:
            due.append((max(bought) + gaps.pop() - AS_OF).days)
    assert len(due) >= 3 and all(1 <= days_away <= 4 for days_away in due), due
    # Then: some known customers viewed a product again and again in the last two hours, adding nothing (browse)
    recent = [m for m in views if datetime.fromisoformat(m["timestamp"]) >= CUTOFF - timedelta(hours=2)]
    viewed_again = Counter((m.get("userId"), m["properties"]["sku"]) for m in recent if m["event"] == "Product Viewed")
    added = {m.get("userId") for m in views if m["event"] == "Product Added"}
    browsers = {user for (user, _sku), n in viewed_again.items() if n >= 2 and user and user not in added}
    assert len(browsers) >= 3


def test_buyers_stop_buying_so_bgnbd_finds_dropout_and_p_alive_tells_customers_apart(
    exports: tuple[Path, dict[str, int]],
) -> None:
    # Given the clean completed orders of the exports (each buyer stops after an order with p ~ Beta(0.4, 6))
    out_dir, _ = exports
    orders = [row for row in _rows(_order_lines(out_dir), ORDER_COLUMNS)
              if row["status"] == "completed" and _is_number(row["total_amount"]) and float(row["total_amount"]) >= 0
              and (moment := _moment(row["ordered_at"])) is not None and moment.tzinfo is not None]  # fmt: skip
    transactions = Transactions.from_table(pa.table({
        "customer_id": [row["customer_id"] for row in orders],
        "date": pa.array([_moment(row["ordered_at"]) for row in orders], pa.timestamp("us", tz="UTC")),
        "amount": [float(row["total_amount"]) for row in orders],
    }))  # fmt: skip
    histories = summarise(transactions, AS_OF, "days")
    # When BG/NBD is fitted
    fitted = fit_bgnbd(histories).parameters
    # Then the drop-out is found inside the parameter space (not a -> 0: no drop-out), near the one drawn
    assert 0.2 <= fitted.a <= 0.8 and 0.03 <= fitted.a / (fitted.a + fitted.b) <= 0.12, fitted
    alive = probability_alive(fitted, histories.frequency, histories.recency, histories.age)
    assert 0.05 <= float(np.mean(alive < 0.5)) <= 0.5
