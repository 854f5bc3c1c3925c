"""Seeded sample exports of an online shop: customers, orders and Segment tracking events, a little dirty.

Dated relative to the day they are taken, they hold what starts every shipped journey on that day: sign-ups of the
last weeks (welcome), recent orders (post-purchase), carts left and products only looked at again and again in the
last hours (abandoned cart, browse abandonment), lapsed buyers (win-back), birthdays today (birthday), points earned
almost a year ago (points expiry), big recent spenders (tier upgrade) and customers reordering a product at a steady
pace whose next run-out is days away (replenishment).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cdp_local.template import REPO_ROOT


@dataclass(frozen=True)
class Market:
    """A country the shop sells to: its share of customers, currency, names, cities and mobile numbers."""

    weight: int
    currency: str
    price_level: float  # what 1 GBP of goods costs in this currency, roughly
    calling_code: str
    mobile_prefixes: tuple[str, ...]  # leading digits of the national significant number
    phone_formats: tuple[str, ...]  # each "#" takes the next digit of the national significant number
    names: str
    cities: tuple[str, ...]  # most populous first

    def __post_init__(self) -> None:
        if len({phone_format.count("#") for phone_format in self.phone_formats}) != 1:
            raise ValueError(f"phone formats of different lengths: {self.phone_formats}")

    @property
    def national_number_length(self) -> int:
        return self.phone_formats[0].count("#")


MARKETS: dict[str, Market] = {
    "GB": Market(30, "GBP", 1.0, "44", ("74", "75", "77", "78", "79"),
                 ("+44##########", "0#### ######", "+44 #### ######", "0##########", "0044 #### ######"),
                 "en", ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Edinburgh",
                        "Liverpool", "Cardiff", "Belfast")),
    "US": Market(22, "USD", 1.0, "1", ("212", "310", "312", "415", "512", "617", "206", "305"),
                 ("(###) ###-####", "###-###-####", "+1 ### ### ####", "+1##########", "###.###.####"),
                 "en", ("New York", "Los Angeles", "Chicago", "Houston", "San Francisco", "Seattle", "Austin",
                        "Boston", "Miami", "Denver")),
    "DE": Market(12, "EUR", 1.0, "49", ("151", "152", "160", "170", "171", "176"),
                 ("+49 ### ########", "0### ########", "+49###########", "0049 ### ########"),
                 "de", ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart",
                        "Düsseldorf", "Leipzig")),
    "FR": Market(9, "EUR", 1.0, "33", ("6", "7"), ("0# ## ## ## ##", "+33 # ## ## ## ##", "+33#########"),
                 "fr", ("Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Nantes", "Bordeaux", "Lille")),
    "NL": Market(6, "EUR", 1.0, "31", ("6",), ("0#########", "0# ########", "+31 # ########", "0#-########"),
                 "nl", ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen")),
    "IE": Market(5, "EUR", 1.0, "353", ("83", "85", "86", "87", "89"),
                 ("0## ### ####", "+353 ## ### ####", "+353#########"),
                 "en", ("Dublin", "Cork", "Galway", "Limerick", "Waterford")),
    "CN": Market(10, "CNY", 7.0, "86", ("133", "138", "139", "150", "186", "189"),
                 ("### #### ####", "+86 ### #### ####", "###########"),
                 "zh", ("Shanghai", "Beijing", "Shenzhen", "Guangzhou", "Hangzhou", "Chengdu")),
    "AU": Market(6, "AUD", 1.5, "61", ("4",), ("0### ### ###", "+61 ### ### ###", "+61#########"),
                 "en", ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Canberra")),
}  # fmt: skip

NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # language: (first names, last names)
    "en": (("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Noah", "Olivia", "James",
            "Emily", "Liam", "Sophie", "Ethan", "Grace", "Chloe", "Aoife", "Seán", "Conor", "Zoë", "Priya"),
           ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Murphy", "Kelly",
            "O'Brien", "Walsh", "Garcia", "Miller", "Nguyen", "Patel", "Khan", "Martinez", "Evans", "Byrne")),
    "de": (("Lukas", "Leon", "Finn", "Jonas", "Emma", "Mia", "Hannah", "Lea", "Sophie", "Jürgen", "Anna"),
           ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schäfer",
            "Koch")),
    "fr": (("Gabriel", "Louis", "Raphaël", "Jules", "Emma", "Louise", "Jade", "Chloé", "Léa", "Hugo", "Zoé"),
           ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre",
            "Moreau")),
    "nl": (("Daan", "Sem", "Lucas", "Levi", "Emma", "Julia", "Tess", "Sophie", "Anouk", "Bram"),
           ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit",
            "de Boer")),
    "zh": (("Wei", "Fang", "Jing", "Lei", "Min", "Yan", "Hao", "Xin", "Yu", "Jun", "Li Na", "Xiaoming"),
           ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou")),
}  # fmt: skip

EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")  # reserved, never delivered
CATEGORY_WEIGHTS = {"apparel": 25, "shoes": 12, "beauty": 14, "home": 13, "electronics": 10, "toys": 8,
                    "sports": 10, "books": 8}  # fmt: skip
PRODUCTS: dict[str, tuple[float, tuple[str, ...]]] = {  # category: (typical GBP price, product names)
    "apparel": (45, ("Linen Shirt", "Denim Jacket", "Merino Jumper", "Organic Cotton Tee", "Rain Parka")),
    "shoes": (85, ("Trail Running Shoe", "Leather Chelsea Boot", "Canvas Sneaker", "Suede Loafer")),
    "beauty": (25, ("Vitamin C Serum", "Hydrating Face Cream", "Mineral Sunscreen SPF 50", "Matte Lipstick")),
    "home": (35, ("Stoneware Mug Set", "Linen Duvet Cover", "Scented Candle", "Cast Iron Skillet")),
    "electronics": (90, ("Wireless Earbuds", "USB-C Charger 65W", "Smart Speaker", "Bluetooth Keyboard")),
    "toys": (30, ("Wooden Train Set", "Building Blocks 500 pcs", "Plush Bear", "Jigsaw Puzzle 1000 pcs")),
    "sports": (30, ("Yoga Mat", "Resistance Bands", "Insulated Water Bottle", "Cycling Gloves")),
    "books": (14, ("Weeknight Dinners Cookbook", "Field Guide to Birds", "Paperback Mystery Novel",
                   "Picture Book for Toddlers")),
}  # fmt: skip
ORDER_STATUS_WEIGHTS = {"completed": 93, "refunded": 4, "cancelled": 3}
ITEM_COUNT_WEIGHTS = (35, 25, 15, 9, 6, 4, 3, 1.5, 1, 0.5)  # for 1..10 items
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36",
)
SEGMENT_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}

CUSTOMER_COLUMNS = ["customer_id", "email", "phone", "first_name", "last_name", "country", "city",
                    "signup_at", "email_consent", "sms_consent", "birthday"]  # fmt: skip
ORDER_COLUMNS = ["order_id", "customer_id", "ordered_at", "currency", "total_amount", "items", "category",
                 "status", "sku"]  # fmt: skip
AMOUNT_FIELD, STATUS_FIELD = ORDER_COLUMNS.index("total_amount"), ORDER_COLUMNS.index("status")
PRICE_LEVELS = {market.currency: market.price_level for market in MARKETS.values()}

HISTORY = timedelta(days=3 * 365)
NEW_CUSTOMER_WINDOW = timedelta(days=30)
NEW_CUSTOMER_SHARE = 0.05
NO_PHONE_SHARE = 0.15
EMAIL_CONSENT_SHARE = 0.70
SMS_CONSENT_SHARE = 0.35
NEVER_ORDERS_SHARE = 0.12
ORDERS_PER_YEAR_MEDIAN = 3.8
ORDERS_PER_YEAR_SIGMA = 1.3
MAX_ORDERS_PER_CUSTOMER = 250
FIRST_ORDER_SOON_SHARE = 0.5  # buyers whose first order comes within a week of signing up
DROPOUT_A, DROPOUT_B = 0.4, 6.0  # after each order a buyer stops for good with p ~ Beta(a, b): mean 0.06
FAVOURITE_CATEGORY_SHARE = 0.5
FOREIGN_CURRENCY_SHARE = 0.04
ORDER_AMOUNT_MEDIAN = 60.0  # in GBP; other currencies scale by their price level
ORDER_AMOUNT_SIGMA = 0.65
DIRTY_SHARE = 0.015
MIN_ROWS_PER_DIRT_KIND = 2
TRACKING_WINDOW = timedelta(days=2)
CUSTOMERS_PER_WEB_SESSION = 30
CUSTOMERS_PER_WEB_SIGNUP = 300
RETURNING_CUSTOMER_SESSION_SHARE = 0.65
BIRTHDAY_SHARE = 0.6  # customers who told the shop their birthday
BIRTHDAY_TODAY_MIN = 3  # at least this many have their birthday on the day of the export (their market's zone)
BIRTHDAY_TODAY_MARKETS = ("GB", "IE")  # zones at UTC (or an hour off): today there is today in UTC
REGULARS_PER_CUSTOMERS = 100  # one customer in this many reorders a consumable at a steady pace (at least 3)
REGULAR_PURCHASES = 5
REGULAR_INTERVAL_DAYS = (25, 35)
REGULAR_RUNS_OUT_IN_DAYS = (1, 4)  # the next run-out after the export: a few days away
CONSUMABLES = ("beauty", "home")
BROWSERS_PER_CUSTOMERS = 100  # one customer in this many views products again and again without adding any (min 3)


# ------------------------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class Customer:
    """One shop customer as the shop knows them (clean); the export may write them less tidily."""

    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone_e164: str  # "" when the shop has no phone number
    country: str
    city: str
    signup_at: datetime
    email_consent: bool
    sms_consent: bool

    @property
    def market(self) -> Market:
        return MARKETS[self.country]


def _moment_between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole second in [start, end), or start when the span is shorter than a second."""
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds)) if seconds > 0 else start


def _signup_moment(rng: random.Random, cutoff: datetime) -> datetime:
    """Signups grow over the three years of history; a fixed share are new (the last 30 days)."""
    if rng.random() < NEW_CUSTOMER_SHARE:
        return _moment_between(rng, cutoff - NEW_CUSTOMER_WINDOW, cutoff)
    older_span = int((HISTORY - NEW_CUSTOMER_WINDOW).total_seconds()) - 1
    return cutoff - HISTORY + timedelta(seconds=int(rng.triangular(0, older_span, older_span)))


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(character for character in folded if character.isalnum())


def _email(rng: random.Random, first_name: str, last_name: str, number: int) -> str:
    first, last = _ascii_word(first_name), _ascii_word(last_name)
    local_part = rng.choices([f"{first}.{last}{number}", f"{first[0]}{last}{number}"], [3, 1])[0]
    return f"{local_part}@{rng.choice(EMAIL_DOMAINS)}"


def _mobile_number(rng: random.Random, market: Market) -> str:
    """An E.164 mobile number of the market."""
    national = rng.choice(market.mobile_prefixes) + str(rng.randint(2, 9))
    national += "".join(str(rng.randint(0, 9)) for _ in range(market.national_number_length - len(national)))
    return f"+{market.calling_code}{national}"


def _random_country(rng: random.Random) -> str:
    return rng.choices(list(MARKETS), [market.weight for market in MARKETS.values()])[0]


def _customer(rng: random.Random, cutoff: datetime, number: int) -> Customer:
    country = _random_country(rng)
    market = MARKETS[country]
    first_names, last_names = NAMES[market.names]
    first_name, last_name = rng.choice(first_names), rng.choice(last_names)
    return Customer(
        customer_id=f"C{number:06d}",
        first_name=first_name,
        last_name=last_name,
        email=_email(rng, first_name, last_name, number),
        phone_e164="" if rng.random() < NO_PHONE_SHARE else _mobile_number(rng, market),
        country=country,
        city=rng.choices(market.cities, [1 / rank for rank in range(1, len(market.cities) + 1)])[0],
        signup_at=_signup_moment(rng, cutoff),
        email_consent=rng.random() < EMAIL_CONSENT_SHARE,
        sms_consent=rng.random() < SMS_CONSENT_SHARE,
    )


def _as_exported_email(rng: random.Random, email: str) -> str:
    """Most addresses as typed; a few upper-cased, capitalised or padded, as web forms let them through."""
    roll = rng.random()
    if roll < 0.04:
        return email.upper()
    if roll < 0.07:
        return email.title()
    return f" {email} " if roll < 0.10 else email


def _as_exported_phone(rng: random.Random, phone_e164: str, market: Market) -> str:
    """The number in one of the formats people write it in in its country."""
    if not phone_e164:
        return ""
    digits = iter(phone_e164.removeprefix(f"+{market.calling_code}"))
    phone_format = rng.choice(market.phone_formats)
    return "".join(next(digits) if character == "#" else character for character in phone_format)


def _birthdays(rng: random.Random, customers: list[Customer], as_of: date) -> dict[str, date]:
    """Birthdays the shop knows: about BIRTHDAY_SHARE of customers, a few of them today."""
    birthdays = {
        customer.customer_id: date(1950, 1, 1) + timedelta(days=rng.randrange(57 * 365))
        for customer in customers
        if rng.random() < BIRTHDAY_SHARE
    }
    local = [customer for customer in customers if customer.country in BIRTHDAY_TODAY_MARKETS]
    for customer in rng.sample(local, min(len(local), max(BIRTHDAY_TODAY_MIN, len(customers) // 365))):
        birth_year = rng.choice([year for year in range(1960, 2004) if year % 4 == 0])  # 29 February exists
        birthdays[customer.customer_id] = as_of.replace(year=birth_year)
    return birthdays


def _customer_row(rng: random.Random, customer: Customer, birthday: date | None) -> list[str]:
    return [
        customer.customer_id,
        _as_exported_email(rng, customer.email),
        _as_exported_phone(rng, customer.phone_e164, customer.market),
        customer.first_name,
        customer.last_name,
        customer.country,
        customer.city,
        customer.signup_at.isoformat(),
        str(customer.email_consent).lower(),
        str(customer.sms_consent).lower(),
        birthday.isoformat() if birthday else "",
    ]


# ------------------------------------------------------------------------------------------- orders


def _order_count(rng: random.Random, customer: Customer, cutoff: datetime) -> int:
    """Heavy-tailed: some never order, many order once, a few order every week."""
    if rng.random() < NEVER_ORDERS_SHARE:
        return 0
    tenure_years = (cutoff - customer.signup_at) / timedelta(days=365)
    orders_per_year = ORDERS_PER_YEAR_MEDIAN * rng.lognormvariate(0, ORDERS_PER_YEAR_SIGMA)
    return min(MAX_ORDERS_PER_CUSTOMER, 1 + int(orders_per_year * tenure_years))


def _order_moments(rng: random.Random, customer: Customer, count: int, cutoff: datetime) -> list[datetime]:
    """The customer's orders while they would keep buying, in time order, cut where they stop: after each order they
    leave for good with their own probability (drawn from Beta(DROPOUT_A, DROPOUT_B), as BG/NBD assumes), so the
    history holds customers who stopped buying and P(alive) has something to find."""
    moments = [_moment_between(rng, customer.signup_at, cutoff) for _ in range(count)]
    if moments and rng.random() < FIRST_ORDER_SOON_SHARE:
        week_after_signup = min(cutoff, customer.signup_at + timedelta(days=7))
        moments[0] = _moment_between(rng, customer.signup_at, week_after_signup)
    dropout, kept = rng.betavariate(DROPOUT_A, DROPOUT_B), min(count, 1)
    while kept < count and rng.random() >= dropout:
        kept += 1
    return sorted(moments)[:kept]


def _random_category(rng: random.Random) -> str:
    return rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]


def _order_row(rng: random.Random, customer: Customer, ordered_at: datetime, favourite: str) -> list[str]:
    """An order's row without its order id: mostly in the customer's currency and favourite category."""
    currency = customer.market.currency
    if rng.random() < FOREIGN_CURRENCY_SHARE:
        currency = rng.choice(["GBP", "USD", "EUR"])
    amount = ORDER_AMOUNT_MEDIAN * PRICE_LEVELS[currency] * rng.lognormvariate(0, ORDER_AMOUNT_SIGMA)
    category = favourite if rng.random() < FAVOURITE_CATEGORY_SHARE else _random_category(rng)
    items = rng.choices(range(1, 11), ITEM_COUNT_WEIGHTS)[0]
    status = rng.choices(list(ORDER_STATUS_WEIGHTS), list(ORDER_STATUS_WEIGHTS.values()))[0]
    return [
        customer.customer_id,
        ordered_at.isoformat(),
        currency,
        f"{amount:.2f}",
        str(items),
        category,
        status,
    ]


def _order_rows(
    rng: random.Random, customers: list[Customer], cutoff: datetime, sku_rng: random.Random,
    regular_orders: list[tuple[datetime, list[str]]],
) -> list[list[str]]:  # fmt: skip
    """Every customer's orders (each the SKU of a product of its category) and the regulars' reorders, in the order
    they were placed, numbered O0000001 upwards."""
    skus = {category: [p.sku for p in _catalogue() if p.category == category] for category in PRODUCTS}
    orders: list[tuple[datetime, list[str]]] = []
    for customer in customers:
        favourite = _random_category(rng)
        for ordered_at in _order_moments(rng, customer, _order_count(rng, customer, cutoff), cutoff):
            row = _order_row(rng, customer, ordered_at, favourite)
            category = row[ORDER_COLUMNS.index("category") - 1]  # the row has no order id yet
            orders.append((ordered_at, [*row, sku_rng.choice(skus[category])]))
    orders += regular_orders
    orders.sort(key=lambda order: order[0])
    return [[f"O{number:07d}", *row] for number, (_, row) in enumerate(orders, start=1)]


def _regular_orders(rng: random.Random, customers: list[Customer], cutoff: datetime) -> list[tuple[datetime, list[str]]]:
    """Regulars reordering one consumable at their own steady pace; the last order was so long ago that the next
    run-out (last order plus their interval) is a few days after the cutoff."""
    settled = [customer for customer in customers if customer.signup_at < cutoff - timedelta(days=200)]
    consumables = [product for product in _catalogue() if product.category in CONSUMABLES]
    orders = []
    for customer in rng.sample(settled, min(len(settled), max(3, len(customers) // REGULARS_PER_CUSTOMERS))):
        product, interval = rng.choice(consumables), rng.randint(*REGULAR_INTERVAL_DAYS)
        last_day = cutoff.date() + timedelta(days=rng.randint(*REGULAR_RUNS_OUT_IN_DAYS) - interval)
        line = product.properties(customer.market, 1)
        for purchase in range(REGULAR_PURCHASES):
            day = last_day - timedelta(days=interval * purchase)
            ordered_at = datetime.combine(day, time(hour=rng.randint(8, 21)), tzinfo=UTC)
            orders.append((ordered_at, [customer.customer_id, ordered_at.isoformat(), customer.market.currency,
                                        f"{line['price']:.2f}", "1", product.category, "completed", product.sku]))  # fmt: skip
    return orders


# ------------------------------------------------------------------------------------------- dirt

RowSpoiler = Callable[[random.Random, list[str]], list[list[str]]]
BadValue = Callable[[random.Random, str], str]


def _spoiling(columns: list[str], column: str, bad_value: BadValue) -> RowSpoiler:
    """A spoiler that writes a bad value, made from the good one, into one column of the row."""
    index = columns.index(column)

    def spoil(rng: random.Random, row: list[str]) -> list[list[str]]:
        changed = list(row)
        changed[index] = bad_value(rng, row[index])
        return [changed]

    return spoil


def _one_of(*bad_values: str) -> BadValue:
    return lambda rng, _good_value: rng.choice(bad_values)


def _invalid_email(rng: random.Random, email: str) -> str:
    address = email.strip()
    return rng.choice(
        [address.split("@")[0] + "@", address.replace("@", " at "), "not-an-email", "john.doe@"]
    )


def _non_numeric_amount(rng: random.Random, amount: str) -> str:
    return rng.choice([amount.replace(".", ","), f"£{amount}", "N/A", "twelve"])


def _duplicated(_rng: random.Random, row: list[str]) -> list[list[str]]:
    return [row, list(row)]


def _wrong_field_count(rng: random.Random, row: list[str]) -> list[list[str]]:
    """A trailing delimiter (one field too many) or a truncated line (one too few)."""
    return [[*row, ""]] if rng.random() < 0.5 else [row[:-1]]


def _same_order_id_other_content(rng: random.Random, row: list[str]) -> list[list[str]]:
    """The order again under its id with other values, as a later status change would re-export it."""
    changed = list(row)
    changed[STATUS_FIELD] = "refunded" if row[STATUS_FIELD] != "refunded" else "completed"
    changed[AMOUNT_FIELD] = f"{float(row[AMOUNT_FIELD]) * rng.uniform(0.3, 0.9):.2f}"
    return [row, changed]


CUSTOMER_DIRT: dict[str, RowSpoiler] = {
    "invalid_email": _spoiling(CUSTOMER_COLUMNS, "email", _invalid_email),
    "missing_customer_id": _spoiling(CUSTOMER_COLUMNS, "customer_id", _one_of("")),
    "duplicate_row": _duplicated,
    "invalid_signup_at": _spoiling(CUSTOMER_COLUMNS, "signup_at",
                                   _one_of("31/02/2024", "yesterday", "2024-02-30T09:00:00+00:00")),
    "wrong_field_count": _wrong_field_count,
}  # fmt: skip
ORDER_DIRT: dict[str, RowSpoiler] = {
    "guest_order": _spoiling(ORDER_COLUMNS, "customer_id", _one_of("")),
    "negative_amount": _spoiling(ORDER_COLUMNS, "total_amount", lambda _rng, amount: f"-{amount}"),
    "non_numeric_amount": _spoiling(ORDER_COLUMNS, "total_amount", _non_numeric_amount),
    "unknown_currency": _spoiling(ORDER_COLUMNS, "currency", _one_of("XXX", "EURO")),
    "invalid_ordered_at": _spoiling(ORDER_COLUMNS, "ordered_at",
                                    _one_of("31/02/2024 14:05", "2024-13-45T25:61:00+00:00", "yesterday")),
    "duplicate_row": _duplicated,
    "repeated_order_id": _same_order_id_other_content,
    "wrong_field_count": _wrong_field_count,
}  # fmt: skip


def _with_dirt(rng: random.Random, rows: list[list[str]], spoilers: dict[str, RowSpoiler]) -> list[list[str]]:
    """About DIRTY_SHARE of the rows spoiled, every kind of dirt at least twice, at random places."""
    dirty_count = min(len(rows), max(round(DIRTY_SHARE * len(rows)), MIN_ROWS_PER_DIRT_KIND * len(spoilers)))
    kinds = list(spoilers.values())
    dirty_positions = rng.sample(range(len(rows)), dirty_count)
    spoiler_at = {position: kinds[index % len(kinds)] for index, position in enumerate(dirty_positions)}
    lines: list[list[str]] = []
    for position, row in enumerate(rows):
        lines.extend(spoiler_at[position](rng, row) if position in spoiler_at else [row])
    return lines


# ------------------------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    category: str
    name: str
    price_gbp: float

    def properties(self, market: Market, quantity: int) -> dict[str, Any]:
        """The product as Segment's E-commerce spec describes it, priced in the market's currency."""
        price = round(round(self.price_gbp * market.price_level) - 0.01, 2)
        return {"product_id": self.product_id, "sku": self.sku, "category": self.category, "name": self.name,
                "price": price, "quantity": quantity}  # fmt: skip


def _catalogue() -> list[Product]:
    products: list[Product] = []
    for category, (typical_price, names) in PRODUCTS.items():
        for name in names:
            number = len(products) + 1
            price = typical_price * (0.7 + 0.15 * (number % 5))
            sku = f"{category[:3].upper()}-{number:05d}"
            products.append(Product(f"P{number:05d}", sku, category, name, price))
    return products


def _segment_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as analytics.js writes it."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Visitor:
    """Someone on the website: a browser (anonymousId), known once logged in or signed up (userId)."""

    ids: dict[str, str]
    context: dict[str, Any]
    market: Market
    cart_id: str
    clock: datetime
    messages: list[dict[str, Any]] = field(default_factory=list)

    def send(self, rng: random.Random, message_type: str, **fields: Any) -> None:
        """Record a message a few seconds to minutes after the previous one."""
        self.clock += timedelta(milliseconds=rng.randint(5_000, 240_000))
        message = {
            "type": message_type,
            "messageId": _uuid4(rng),
            "timestamp": _segment_timestamp(self.clock),
        }
        self.messages.append(message | self.ids | {"context": self.context} | fields)

    def track(self, rng: random.Random, event: str, properties: dict[str, Any]) -> None:
        self.send(rng, "track", event=event, properties=properties)


def _visitor(rng: random.Random, ids: dict[str, str], market: Market, cutoff: datetime) -> Visitor:
    """A visitor whose session starts in the tracking window, at least an hour before the cutoff."""
    context = {"ip": f"203.0.113.{rng.randint(1, 254)}", "userAgent": rng.choice(USER_AGENTS),
               "library": SEGMENT_LIBRARY}  # fmt: skip
    session_start = _moment_between(rng, cutoff - TRACKING_WINDOW, cutoff - timedelta(hours=1))
    return Visitor(ids, context, market, f"cart-{rng.getrandbits(40):010x}", session_start)


def _customer_traits(customer: Customer) -> dict[str, Any]:
    traits = {"email": customer.email, "firstName": customer.first_name, "lastName": customer.last_name}
    return traits | ({"phone": customer.phone_e164} if customer.phone_e164 else {})


def _browse(rng: random.Random, visitor: Visitor, catalogue: list[Product]) -> list[dict[str, Any]]:
    """Products viewed, some added to the cart; returns the cart's lines."""
    currency = {"currency": visitor.market.currency}
    cart = []
    for product in rng.sample(catalogue, rng.randint(1, 4)):
        visitor.track(rng, "Product Viewed", product.properties(visitor.market, 1) | currency)
        if rng.random() < 0.4:
            line = product.properties(visitor.market, rng.choices([1, 2, 3], [80, 15, 5])[0])
            visitor.track(rng, "Product Added", {"cart_id": visitor.cart_id, **line, **currency})
            cart.append(line)
    return cart


def _check_out(rng: random.Random, visitor: Visitor, cart: list[dict[str, Any]], order_id: str) -> None:
    """The cart viewed, then maybe a checkout started, then maybe the order completed."""
    visitor.track(rng, "Cart Viewed", {"cart_id": visitor.cart_id, "products": cart})
    if rng.random() < 0.4:
        return
    price_level, currency = visitor.market.price_level, visitor.market.currency
    revenue = round(sum(line["price"] * line["quantity"] for line in cart), 2)
    visitor.track(rng, "Checkout Started", {"order_id": order_id, "value": revenue, "revenue": revenue,
                                            "currency": currency, "products": cart})  # fmt: skip
    if rng.random() < 0.3:
        return
    shipping = 0.0 if revenue >= 50 * price_level else round(4.95 * price_level, 2)
    visitor.track(rng, "Order Completed", {"order_id": order_id, "total": round(revenue + shipping, 2),
                                           "revenue": revenue, "shipping": shipping, "currency": currency,
                                           "products": cart, **_shop_coupon(order_id)})  # fmt: skip


@dataclass
class TrackingPlan:
    """What the web sessions draw on: customers who could come back, the cutoff, and the next free ids."""

    returning_customers: list[Customer]
    cutoff: datetime
    next_customer_number: int
    next_order_number: int
    catalogue: list[Product] = field(default_factory=_catalogue)

    def new_customer_number(self) -> int:
        self.next_customer_number += 1
        return self.next_customer_number - 1

    def new_order_id(self) -> str:
        self.next_order_number += 1
        return f"O{self.next_order_number - 1:07d}"


def _returning_customer_session(rng: random.Random, plan: TrackingPlan) -> list[dict[str, Any]]:
    """A known customer, logged in (sometimes identified again), browsing and maybe buying."""
    customer = rng.choice(plan.returning_customers)
    visitor = _visitor(rng, {"userId": customer.customer_id}, customer.market, plan.cutoff)
    if rng.random() < 0.3:
        visitor.send(rng, "identify", traits=_customer_traits(customer))
    cart = _browse(rng, visitor, plan.catalogue)
    if cart:
        _check_out(rng, visitor, cart, plan.new_order_id())
    return visitor.messages


def _anonymous_session(rng: random.Random, plan: TrackingPlan) -> list[dict[str, Any]]:
    """A visitor who never says who they are: browses, and at most looks at the cart."""
    visitor = _visitor(rng, {"anonymousId": _uuid4(rng)}, MARKETS[_random_country(rng)], plan.cutoff)
    cart = _browse(rng, visitor, plan.catalogue)
    if cart:
        visitor.track(rng, "Cart Viewed", {"cart_id": visitor.cart_id, "products": cart})
    return visitor.messages


def _signup_session(rng: random.Random, plan: TrackingPlan) -> list[dict[str, Any]]:
    """A new visitor browses, signs up on the web (a brand-new customer who consents to email), maybe buys."""
    anonymous_id = _uuid4(rng)
    new_customer = _customer(rng, plan.cutoff, plan.new_customer_number())
    visitor = _visitor(rng, {"anonymousId": anonymous_id}, new_customer.market, plan.cutoff)
    cart = _browse(rng, visitor, plan.catalogue)
    visitor.ids = {"userId": new_customer.customer_id, "anonymousId": anonymous_id}
    signed_up = {"createdAt": _segment_timestamp(visitor.clock + timedelta(seconds=1)), "email_consent": True}
    visitor.send(rng, "identify", traits=_customer_traits(new_customer) | signed_up)
    if cart:
        _check_out(rng, visitor, cart, plan.new_order_id())
    return visitor.messages


def _browsing_messages(rng: random.Random, customers: list[Customer], cutoff: datetime) -> list[dict[str, Any]]:
    """Known customers who, in the last hour or two before the cutoff, view the same products again and again and
    add none to the cart."""
    catalogue = _catalogue()
    known = [customer for customer in customers if customer.signup_at < cutoff - TRACKING_WINDOW]
    messages: list[dict[str, Any]] = []
    for customer in rng.sample(known, min(len(known), max(3, len(customers) // BROWSERS_PER_CUSTOMERS))):
        visitor = _visitor(rng, {"userId": customer.customer_id}, customer.market, cutoff)
        visitor.clock = cutoff - timedelta(minutes=rng.randint(60, 120))
        currency = {"currency": customer.market.currency}
        for product in rng.sample(catalogue, rng.randint(1, 2)) * rng.randint(2, 3):
            visitor.track(rng, "Product Viewed", product.properties(customer.market, 1) | currency)
        messages += visitor.messages
    return messages


def _tracking_messages(
    rng: random.Random, customers: list[Customer], cutoff: datetime, first_order_number: int
) -> list[dict[str, Any]]:
    """Web sessions of returning customers, anonymous browsers and new sign-ups, in time order."""
    returning = [customer for customer in customers if customer.signup_at < cutoff - TRACKING_WINDOW]
    plan = TrackingPlan(returning, cutoff, len(customers) + 1, first_order_number)
    sessions = max(20, len(customers) // CUSTOMERS_PER_WEB_SESSION)
    signups = max(3, len(customers) // CUSTOMERS_PER_WEB_SIGNUP)
    messages = [message for _ in range(signups) for message in _signup_session(rng, plan)]
    for _ in range(sessions - signups):
        returns = bool(returning) and rng.random() < RETURNING_CUSTOMER_SESSION_SHARE
        messages.extend((_returning_customer_session if returns else _anonymous_session)(rng, plan))
    return sorted(messages, key=lambda message: message["timestamp"])


# ------------------------------------------------------------------------------------------- files


def _csv_bytes(columns: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _jsonl_bytes(messages: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(message, ensure_ascii=False) + "\n" for message in messages).encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def generate(out_dir: Path, as_of: date, seed: int = 7, customers: int = 3000) -> dict[str, int]:
    """Write customers/customers.csv, orders/orders.csv.gz, tracking/events.jsonl, loyalty/loyalty.csv and the
    shipped campaigns under out_dir.

    The exports are taken at the start of as_of (00:00 UTC): nothing in them happens later. Each file draws
    from its own random stream of the seed, so the same arguments always write the same bytes.
    """
    cutoff = datetime.combine(as_of, time(), tzinfo=UTC)
    customer_rng, order_rng, dirt_rng, tracking_rng = (
        random.Random(f"{seed}:{stream}") for stream in ("customers", "orders", "dirt", "tracking")
    )
    shop_customers = [_customer(customer_rng, cutoff, number) for number in range(1, customers + 1)]
    birthdays = _birthdays(random.Random(f"{seed}:birthdays"), shop_customers, as_of)
    customer_rows = [_customer_row(customer_rng, c, birthdays.get(c.customer_id)) for c in shop_customers]
    customer_lines = _with_dirt(dirt_rng, customer_rows, CUSTOMER_DIRT)
    regular_orders = _regular_orders(random.Random(f"{seed}:regulars"), shop_customers, cutoff)
    order_rows = _order_rows(order_rng, shop_customers, cutoff, random.Random(f"{seed}:skus"), regular_orders)
    order_lines = _with_dirt(dirt_rng, order_rows, ORDER_DIRT)
    messages = _tracking_messages(
        tracking_rng, shop_customers, cutoff, first_order_number=len(order_rows) + 1
    )
    browsing = _browsing_messages(random.Random(f"{seed}:browsing"), shop_customers, cutoff)
    messages = sorted(messages + browsing, key=lambda message: message["timestamp"])
    _write(out_dir / "customers" / "customers.csv", _csv_bytes(CUSTOMER_COLUMNS, customer_lines))
    orders_csv = _csv_bytes(ORDER_COLUMNS, order_lines)
    _write(out_dir / "orders" / "orders.csv.gz", gzip.compress(orders_csv, mtime=0))
    _write(out_dir / "tracking" / "events.jsonl", _jsonl_bytes(messages))
    loyalty_rows = _loyalty_rows(random.Random(f"{seed}:loyalty"), shop_customers, order_rows, cutoff)
    _write(out_dir / "loyalty" / "loyalty.csv", _csv_bytes(LOYALTY_COLUMNS, loyalty_rows))
    write_shipped_campaigns(out_dir)
    return {"customers": len(customer_lines), "orders": len(order_lines), "tracking_events": len(messages),
            "loyalty_entries": len(loyalty_rows)}  # fmt: skip


# ------------------------------------------------------------------------------------------- loyalty and coupons

LOYALTY_COLUMNS = ["entry_id", "customer_id", "occurred_at", "points", "tier", "reason"]
REDEEMING_SHARE = 0.15  # buyers who spent points on a reward
BONUS_SHARE = 0.05  # buyers given bonus points by the shop (a birthday, a review)
ASSIGNED_TIER_SHARE = 0.01  # buyers the shop made VIP by hand
SHOP_COUPONS = ("SUMMER10", "FREESHIP")  # the shop's own codes, typed at checkout (not issued by the platform)
SHOP_COUPON_EVERY = 8  # about one web order in eight uses one


def _shop_coupon(order_id: str) -> dict[str, str]:
    """A shop coupon on some web orders, picked from the order id (so the tracking stream's draws are unchanged)."""
    number = int(order_id.removeprefix("O"))
    return {"coupon": SHOP_COUPONS[number % len(SHOP_COUPONS)]} if number % SHOP_COUPON_EVERY == 0 else {}


def _loyalty_rows(
    rng: random.Random, customers: list[Customer], order_rows: list[list[str]], cutoff: datetime
) -> list[list[str]]:
    """Entries the shop's loyalty system exported: rewards redeemed, bonus points, tiers assigned by hand."""
    first_orders: dict[str, datetime] = {}
    for row in order_rows:
        first_orders.setdefault(row[1], datetime.fromisoformat(row[2]))
    rows: list[list[str]] = []
    for customer in customers:
        first_order = first_orders.get(customer.customer_id)
        if first_order is None:
            continue
        entries = []
        if rng.random() < REDEEMING_SHARE:
            entries.append(("", str(-rng.choice((50, 100, 200, 300))), "reward redeemed"))
        if rng.random() < BONUS_SHARE:
            entries.append(("", "200", "bonus"))
        if rng.random() < ASSIGNED_TIER_SHARE:
            entries.append(("vip", "", "assigned by the shop"))
        for tier, points, reason in entries:
            occurred_at = _moment_between(rng, first_order, cutoff)
            entry_id = f"L{len(rows) + 1:07d}"
            rows.append([entry_id, customer.customer_id, occurred_at.isoformat(), points, tier, reason])
    return rows


def write_shipped_campaigns(out_dir: Path) -> None:
    """The repository's campaigns/*.json into out_dir/campaigns/, which the local run creates through the API."""
    for path in sorted((REPO_ROOT / "campaigns").glob("*.json")):
        _write(out_dir / "campaigns" / path.name, path.read_bytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cdp_local.sample_data", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the export folders under")
    parser.add_argument("--as-of", type=date.fromisoformat, default=datetime.now(UTC).date(),
                        help="the day the exports are taken, YYYY-MM-DD (default: today, UTC)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument("--customers", type=int, default=3000, help="customers to make (default: 3000)")
    arguments = parser.parse_args(argv)
    print(json.dumps(generate(arguments.out, arguments.as_of, arguments.seed, arguments.customers)))


if __name__ == "__main__":
    main()
