"""The eight canonical entities: their columns, types, required fields, value rules, size budgets and natural keys.

Size budgets. Every value is checked as read, before it is cleaned: a value over its column's `max_bytes` (UTF-8
bytes; MAX_FIELD_BYTES unless the column says otherwise, LONG_TEXT_BYTES for free text and JSON) is quarantined as
`out_of_range:<column>`, and a row whose values together exceed MAX_ROW_BYTES as `out_of_range:row_bytes`. The
budgets keep every accepted row far from DynamoDB's 400 KB item limit wherever it lands: a ledger item holds one
record, and a customers row's attributes are copied onto the profile item, which also holds aggregates that grow
with the customer's history; so no accepted row can fail profile application for its size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean.standardise import MONEY_TYPE, Standardised
from cdp.curated_layout import DATE_COLUMNS

ORDER_STATUSES = ("completed", "cancelled", "refunded", "pending")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
FEEDBACK_KINDS = ("nps", "csat", "rating")
CONSENT_CHANNELS = ("email", "sms", "push")
CONSENT_PURPOSES = ("marketing", "transactional", "profiling")
GENDERS = ("female", "male", "other")
IDENTIFIER_COLUMNS = ("customer_id", "email", "phone", "anonymous_id")
LINEAGE_COLUMNS = ("source_key", "source_version", "source_line")


MAX_FIELD_BYTES = 2_048  # identifiers, names, codes, addresses, timestamps, amounts
LONG_TEXT_BYTES = 16_384  # free text (ticket subjects, feedback comments) and JSON (event properties)
MAX_ROW_BYTES = 32_768  # all values of one row together: under a tenth of DynamoDB's 400 KB item limit


@dataclass(frozen=True)
class ColumnRule:
    """One canonical column: its kind (which standardiser cleans it), whether it is required, its allowed range
    and the most UTF-8 bytes one of its values may have as read."""

    name: str
    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    default: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_bytes: int = MAX_FIELD_BYTES


@dataclass(frozen=True)
class RowCheck:
    """A rule over several clean columns: `failed(clean)` marks rows that break it, quarantined as `reason`."""

    reason: str
    failed: Callable[[dict[str, pa.Array]], pa.Array]


@dataclass(frozen=True)
class EntitySpec:
    """One canonical entity: its column rules in checking order, the columns that identify a row, its date column."""

    name: str
    columns: tuple[ColumnRule, ...]
    natural_key: tuple[str, ...]
    date_column: str
    row_checks: tuple[RowCheck, ...] = ()
    derivations: tuple[tuple[str, Callable[[dict[str, pa.Array]], Standardised]], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [rule.name for rule in self.columns]

    @property
    def required(self) -> list[str]:
        return [rule.name for rule in self.columns if rule.required]

    def rule(self, name: str) -> ColumnRule:
        return next(rule for rule in self.columns if rule.name == name)


def _text(name: str, required: bool = False) -> ColumnRule:
    return ColumnRule(name, "text", required=required)


def _identity(phone: bool = True, anonymous_id: bool = False) -> tuple[ColumnRule, ...]:
    rules = [_text("customer_id"), ColumnRule("email", "email")]
    if phone:
        rules.append(ColumnRule("phone", "phone"))
    if anonymous_id:
        rules.append(_text("anonymous_id"))
    return tuple(rules)


def _none_present(*names: str) -> Callable[[dict[str, pa.Array]], pa.Array]:
    def failed(clean: dict[str, pa.Array]) -> pa.Array:
        present = [pc.is_valid(clean[name]) for name in names]
        any_present = present[0]
        for column in present[1:]:
            any_present = pc.or_(any_present, column)
        return pc.invert(any_present)

    return failed


def _five_point_score_above_five(clean: dict[str, pa.Array]) -> pa.Array:
    """csat and rating answers are 1-5 (nps 0-10 is the column's own range)."""
    five_point = pc.is_in(clean["kind"], pa.array(["csat", "rating"]))
    score = clean["score"]
    outside = pc.or_(pc.less(score, 1), pc.greater(score, 5))
    return pc.fill_null(pc.and_(five_point, outside), False)


LINE_AMOUNT_LIMIT = 10**13  # decimal128(18, 4) holds 14 integer digits


def _quantity_times_unit_price(clean: dict[str, pa.Array]) -> Standardised:
    """line_amount for lines that have none: quantity x unit_price (negative for cancelled units)."""
    product = pc.multiply(pc.cast(clean["quantity"], pa.decimal128(19, 0)), clean["unit_price"])
    too_large = pc.fill_null(pc.greater(pc.abs(product), pa.scalar(LINE_AMOUNT_LIMIT, product.type)), False)
    needed = pc.is_null(clean["line_amount"])
    values = pc.cast(pc.if_else(too_large, pa.scalar(None, product.type), product), MONEY_TYPE)
    return Standardised(values, pc.and_(needed, too_large))


CUSTOMERS = EntitySpec(
    name="customers",
    columns=(
        _text("customer_id", required=True),
        ColumnRule("email", "email"),
        ColumnRule("phone", "phone"),
        _text("anonymous_id"),
        _text("first_name"),
        _text("last_name"),
        ColumnRule("birthday", "date"),
        ColumnRule("gender", "choice", choices=GENDERS),
        ColumnRule("language", "language"),
        ColumnRule("timezone", "timezone"),
        ColumnRule("country", "country"),
        _text("province"),
        _text("city"),
        ColumnRule("region_code", "region_code"),
        ColumnRule("signup_at", "timestamp"),
        ColumnRule("email_consent", "boolean"),
        ColumnRule("sms_consent", "boolean"),
        ColumnRule("push_endpoint", "push_endpoint"),
    ),
    natural_key=("customer_id",),
    date_column=DATE_COLUMNS["customers"],
)

ORDERS = EntitySpec(
    name="orders",
    columns=(
        _text("order_id", required=True),
        _text("line_id", required=True),
        *_identity(anonymous_id=True),
        ColumnRule("ordered_at", "timestamp", required=True),
        ColumnRule("currency", "currency", required=True),
        _text("sku"),
        _text("product_name"),
        _text("category"),
        _text("brand"),
        ColumnRule("quantity", "integer", minimum=-1_000_000, maximum=1_000_000),
        ColumnRule("unit_price", "money", minimum=0),
        ColumnRule("line_amount", "money"),
        ColumnRule("status", "choice", required=True, choices=ORDER_STATUSES),
        _text("channel"),
        ColumnRule("country", "country"),
        ColumnRule("region_code", "region_code"),
        _text("coupon"),
    ),
    natural_key=("order_id", "line_id"),
    date_column=DATE_COLUMNS["orders"],
    derivations=(("line_amount", _quantity_times_unit_price),),
)

RETURNS = EntitySpec(
    name="returns",
    columns=(
        _text("return_id", required=True),
        _text("line_id", required=True),
        _text("order_id"),
        *_identity(),
        ColumnRule("returned_at", "timestamp", required=True),
        ColumnRule("currency", "currency", required=True),
        _text("sku"),
        ColumnRule("quantity", "integer", minimum=1, maximum=1_000_000),
        ColumnRule("amount", "money", required=True, minimum=0),
        _text("reason"),
    ),
    natural_key=("return_id", "line_id"),
    date_column=DATE_COLUMNS["returns"],
)

EVENTS = EntitySpec(
    name="events",
    columns=(
        _text("event_id", required=True),
        _text("event", required=True),
        ColumnRule("occurred_at", "timestamp", required=True),
        _text("customer_id"),
        _text("anonymous_id"),
        ColumnRule("email", "email"),
        ColumnRule("properties", "json", max_bytes=LONG_TEXT_BYTES),
    ),
    natural_key=("event_id",),
    date_column=DATE_COLUMNS["events"],
)

TICKETS = EntitySpec(
    name="tickets",
    columns=(
        _text("ticket_id", required=True),
        *_identity(),
        ColumnRule("opened_at", "timestamp", required=True),
        ColumnRule("updated_at", "timestamp", required=True),
        ColumnRule("status", "choice", required=True, choices=TICKET_STATUSES),
        _text("channel"),
        ColumnRule("subject", "text", max_bytes=LONG_TEXT_BYTES),
        ColumnRule("rating", "integer", minimum=1, maximum=5),
    ),
    natural_key=("ticket_id", "updated_at"),
    date_column=DATE_COLUMNS["tickets"],
)

FEEDBACK = EntitySpec(
    name="feedback",
    columns=(
        _text("response_id", required=True),
        *_identity(),
        ColumnRule("responded_at", "timestamp", required=True),
        ColumnRule("kind", "choice", required=True, choices=FEEDBACK_KINDS),
        ColumnRule("score", "integer", required=True, minimum=0, maximum=10),
        ColumnRule("comment", "text", max_bytes=LONG_TEXT_BYTES),
    ),
    natural_key=("response_id",),
    date_column=DATE_COLUMNS["feedback"],
    row_checks=(RowCheck("out_of_range:score", _five_point_score_above_five),),
)

CONSENTS = EntitySpec(
    name="consents",
    columns=(
        *_identity(),
        ColumnRule("channel", "choice", required=True, choices=CONSENT_CHANNELS),
        ColumnRule("purpose", "choice", required=True, choices=CONSENT_PURPOSES, default="marketing"),
        ColumnRule("granted", "boolean", required=True),
        ColumnRule("recorded_at", "timestamp", required=True),
        _text("source"),
    ),
    natural_key=("customer_id", "email", "phone", "channel", "purpose", "recorded_at"),
    date_column=DATE_COLUMNS["consents"],
    row_checks=(RowCheck("missing:identifier", _none_present("customer_id", "email", "phone")),),
)

LOYALTY = EntitySpec(
    name="loyalty",
    columns=(
        _text("entry_id", required=True),
        _text("customer_id", required=True),
        ColumnRule("occurred_at", "timestamp", required=True),
        ColumnRule("points", "integer", minimum=-1_000_000_000, maximum=1_000_000_000),
        _text("tier"),
        ColumnRule("expires_at", "timestamp"),
        _text("reason"),
    ),
    natural_key=("entry_id",),
    date_column=DATE_COLUMNS["loyalty"],
)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec for spec in (CUSTOMERS, ORDERS, RETURNS, EVENTS, TICKETS, FEEDBACK, CONSENTS, LOYALTY)
}
