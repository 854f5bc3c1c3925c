"""Canonical rows (events, customers, orders) and identifier links made from accepted tracking calls.

Rows carry every column of their canonical entity (see the team contract) plus lineage (`source_key`,
`source_version`, `source_line`), ready for `cdp.records.apply.apply_records`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from cdp.identifiers import normalise_email, normalise_phone
from cdp.identity.rules import Identifier
from cdp.tracking.messages import (
    ORDER_COMPLETED,
    AliasCall,
    Call,
    GroupCall,
    IdentifyCall,
    InvalidCall,
    OrderCompletedProperties,
    PageCall,
    ScreenCall,
    TrackCall,
    aware,
    field_errors,
)

EVENT_COLUMNS = ("event_id", "event", "occurred_at", "customer_id", "anonymous_id", "email", "properties")
CUSTOMER_COLUMNS = (
    "customer_id", "email", "phone", "anonymous_id", "first_name", "last_name", "birthday", "gender", "language",
    "timezone", "country", "province", "city", "region_code", "signup_at", "email_consent", "sms_consent",
    "push_endpoint",
)  # fmt: skip
ORDER_COLUMNS = (
    "order_id", "line_id", "customer_id", "email", "phone", "anonymous_id", "ordered_at", "currency", "sku",
    "product_name", "category", "brand", "quantity", "unit_price", "line_amount", "status", "channel", "country",
    "region_code",
)  # fmt: skip
CALL_EVENT_NAMES = {
    "identify": "Identify",
    "page": "Page Viewed",
    "screen": "Screen Viewed",
    "group": "Group",
    "alias": "Alias",
}
GENDERS = {"female", "male", "other"}


@dataclass(frozen=True)
class Lineage:
    """Where a row came from: the source (`http/<source id>`, `shopify/<shop>`), the message and its position."""

    source_key: str
    source_version: str
    source_line: int

    def columns(self) -> dict[str, Any]:
        return {"source_key": self.source_key, "source_version": self.source_version, "source_line": self.source_line}


@dataclass
class CanonicalRows:
    """Rows per canonical entity, and identifier sets that belong to one person (linked before applying)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    links: list[list[Identifier]] = field(default_factory=list)

    def extend(self, other: CanonicalRows) -> None:
        self.events += other.events
        self.customers += other.customers
        self.orders += other.orders
        self.links += other.links

    def by_entity(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Customers first (so signups carry their attributes), then orders, then events."""
        return [("customers", self.customers), ("orders", self.orders), ("events", self.events)]


def row(columns: tuple[str, ...], lineage: Lineage, **values: Any) -> dict[str, Any]:
    """A canonical row: every column (None when unknown) plus lineage."""
    return {**dict.fromkeys(columns), **values, **lineage.columns()}


def country_code(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else None


def _context_email(call: Call) -> str | None:
    traits = call.context.get("traits")
    return normalise_email(traits.get("email")) if isinstance(traits, dict) else None


def event_name(call: Call) -> str:
    return call.event if isinstance(call, TrackCall) else CALL_EVENT_NAMES[call.type]  # type: ignore[attr-defined]


def _event_properties(call: Call) -> dict[str, Any]:
    if isinstance(call, PageCall):
        named = {"name": call.name, "category": call.category}
        return {**call.properties, **{key: value for key, value in named.items() if value}}
    if isinstance(call, ScreenCall):
        return {**call.properties, **({"name": call.name} if call.name else {})}
    if isinstance(call, TrackCall):
        return call.properties
    if isinstance(call, GroupCall):
        return {"group_id": call.group_id, "traits": call.traits}
    if isinstance(call, AliasCall):
        return {"previous_id": call.previous_id}
    return {}


def _customer_row(call: IdentifyCall, lineage: Lineage, phone_region: str) -> dict[str, Any]:
    traits = call.traits
    address = traits.address or {}
    gender = (traits.gender or "").strip().lower()
    locale = call.context.get("locale")
    timezone = call.context.get("timezone")
    country = country_code(address.get("country"))
    return row(
        CUSTOMER_COLUMNS,
        lineage,
        customer_id=call.user_id,
        email=normalise_email(traits.email),
        phone=normalise_phone(traits.phone, country or phone_region),
        anonymous_id=call.anonymous_id,
        first_name=traits.first_name,
        last_name=traits.last_name,
        birthday=traits.birthday,
        gender=gender if gender in GENDERS else None,
        language=locale if isinstance(locale, str) else None,
        timezone=timezone if isinstance(timezone, str) else None,
        country=country,
        province=address.get("state") if isinstance(address.get("state"), str) else None,
        city=address.get("city") if isinstance(address.get("city"), str) else None,
        signup_at=aware(traits.created_at) if traits.created_at else None,
        email_consent=traits.email_consent,
        sms_consent=traits.sms_consent,
        push_endpoint=traits.push_endpoint,
    )


def _order_rows(call: TrackCall, occurred_at: datetime, lineage: Lineage, email: str | None) -> list[dict[str, Any]]:
    """Segment e-commerce v2 `Order Completed` as one orders row per product (one row when it lists none)."""
    try:
        order = OrderCompletedProperties.model_validate(call.properties)
    except ValidationError as error:
        raise InvalidCall(field_errors(error.errors(), ("properties",))) from None
    common = {
        "order_id": str(order.order_id),
        "customer_id": call.user_id,
        "email": email,
        "anonymous_id": call.anonymous_id,
        "ordered_at": occurred_at,
        "currency": order.currency.upper(),
        "status": "completed",
        "channel": "web",
    }
    if not order.products:
        amount = order.total if order.total is not None else order.revenue
        return [row(ORDER_COLUMNS, lineage, **common, line_id="1", line_amount=amount)]
    return [
        row(
            ORDER_COLUMNS,
            lineage,
            **common,
            line_id=str(product.product_id or product.sku or position),
            sku=product.sku,
            product_name=product.name,
            category=product.category,
            brand=product.brand,
            quantity=product.quantity,
            unit_price=product.price,
            line_amount=product.price * product.quantity if product.price is not None else None,
        )
        for position, product in enumerate(order.products, start=1)
    ]


def call_rows(
    call: Call, source_id: str, occurred_at: datetime, lineage: Lineage, phone_region: str
) -> CanonicalRows:
    """The rows and identifier links one accepted call makes (national phone numbers read in the address's
    country, else `phone_region`); raises InvalidCall for unusable content."""
    rows = CanonicalRows()
    email = normalise_email(call.traits.email) if isinstance(call, IdentifyCall) else _context_email(call)
    if isinstance(call, IdentifyCall):
        rows.customers.append(_customer_row(call, lineage, phone_region))
    if isinstance(call, TrackCall) and call.event == ORDER_COMPLETED:
        rows.orders += _order_rows(call, occurred_at, lineage, email)
    rows.events.append(
        row(
            EVENT_COLUMNS,
            lineage,
            event_id=f"{source_id}:{call.message_id}",
            event=event_name(call),
            occurred_at=occurred_at,
            customer_id=call.user_id,
            anonymous_id=call.anonymous_id,
            email=email,
            properties=json.dumps(_event_properties(call), default=_json_default, separators=(",", ":")),
        )
    )
    if isinstance(call, AliasCall):
        rows.links.append([("customer_id", call.user_id), ("anonymous_id", call.previous_id)])
    elif call.user_id and call.anonymous_id:
        rows.links.append([("customer_id", call.user_id), ("anonymous_id", call.anonymous_id)])
    return rows


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
