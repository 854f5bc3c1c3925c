"""Shopify webhooks: signature check and the canonical rows of each topic the platform reads.

Shopify signs the raw body: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of it keyed with the shop's
secret, compared here in constant time. `orders/create` and `orders/updated` give one orders row per line item,
`customers/create` a customers row (email and SMS marketing consent from `email_marketing_consent` /
`sms_marketing_consent`), `checkouts/update` a `Checkout Started` events row carrying the cart, and a
`Checkout Updated` domain event for abandoned-cart journeys once the person's profile is known.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cdp.events import DomainEvent
from cdp.identifiers import normalise_email, normalise_phone
from cdp.tracking.http_body import BadBody, strict_json
from cdp.tracking.messages import Amount, InvalidCall, Quantity, aware, field_errors
from cdp.tracking.rows import (
    CUSTOMER_COLUMNS,
    EVENT_COLUMNS,
    ORDER_COLUMNS,
    CanonicalRows,
    Identifier,
    Lineage,
    country_code,
    row,
)

TRACKING_EVENTS_SOURCE = "cdp.tracking"
CHECKOUT_UPDATED = "Checkout Updated"
CHECKOUT_STARTED = "Checkout Started"
SUBSCRIBED = "subscribed"
MAX_WEBHOOK_BYTES = 1024 * 1024


def signature_is_valid(raw_body: bytes, signature: str | None, secret: bytes) -> bool:
    """True when `signature` is the base64 HMAC-SHA256 of the raw body under the secret (constant-time compare)."""
    if not signature:
        return False
    try:
        received = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(secret, raw_body, hashlib.sha256).digest(), received)


class _Shopify(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MarketingConsent(_Shopify):
    state: str | None = None
    consent_updated_at: datetime | None = None


class Address(_Shopify):
    country_code: str | None = None
    province: str | None = None
    city: str | None = None


class Customer(_Shopify):
    id: int
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    created_at: datetime | None = None
    email_marketing_consent: MarketingConsent | None = None
    sms_marketing_consent: MarketingConsent | None = None
    default_address: Address | None = None

    def identifiers(self) -> list[Identifier]:
        found = [("customer_id", str(self.id))]
        email = normalise_email(self.email)
        return found + ([("email", email)] if email else [])


class LineItem(_Shopify):
    id: int | None = None
    product_id: int | None = None
    variant_id: int | None = None
    sku: str | None = None
    title: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    quantity: Quantity
    price: Amount


class Order(_Shopify):
    id: int
    email: str | None = None
    phone: str | None = None
    created_at: datetime
    currency: str = Field(min_length=3, max_length=3)
    financial_status: str | None = None
    cancelled_at: datetime | None = None
    source_name: str | None = None
    customer: Customer | None = None
    billing_address: Address | None = None
    line_items: list[LineItem] = Field(default_factory=list)

    @property
    def status(self) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if self.financial_status in ("refunded", "partially_refunded"):
            return "refunded"
        if self.financial_status in ("pending", "authorized"):
            return "pending"
        return "completed"


class Checkout(_Shopify):
    id: int | None = None
    token: str = Field(min_length=1)
    cart_token: str | None = None
    email: str | None = None
    phone: str | None = None
    updated_at: datetime
    currency: str | None = None
    total_price: Amount | None = None
    abandoned_checkout_url: str | None = None
    completed_at: datetime | None = None
    customer: Customer | None = None
    line_items: list[LineItem] = Field(default_factory=list)


def webhook_payload(body: bytes) -> Any:
    """A webhook body as JSON, read as strictly as tracking bodies; InvalidCall when it is not."""
    try:
        return strict_json(body)
    except BadBody as bad:
        raise InvalidCall([{"field": "", "message": str(bad)}]) from None


def _order_rows(order: Order, lineage: Lineage, phone_region: str) -> CanonicalRows:
    customer = order.customer
    email = normalise_email(order.email) or (normalise_email(customer.email) if customer else None)
    address = order.billing_address
    country = country_code(address.country_code) if address else None
    common = {
        "order_id": str(order.id),
        "customer_id": str(customer.id) if customer else None,
        "email": email,
        "phone": normalise_phone(order.phone, country or phone_region),
        "ordered_at": aware(order.created_at),
        "currency": order.currency.upper(),
        "status": order.status,
        "channel": order.source_name or "shopify",
        "country": country,
    }
    return CanonicalRows(
        orders=[
            row(
                ORDER_COLUMNS,
                lineage,
                **common,
                line_id=str(item.id or position),
                sku=item.sku,
                product_name=item.title,
                category=item.product_type or None,
                brand=item.vendor,
                quantity=item.quantity,
                unit_price=item.price,
                line_amount=item.price * item.quantity,
            )
            for position, item in enumerate(order.line_items, start=1)
        ]
    )


def _customer_rows(customer: Customer, lineage: Lineage, phone_region: str) -> CanonicalRows:
    address = customer.default_address
    country = country_code(address.country_code) if address else None
    email_consent = customer.email_marketing_consent
    sms_consent = customer.sms_marketing_consent
    return CanonicalRows(
        customers=[
            row(
                CUSTOMER_COLUMNS,
                lineage,
                customer_id=str(customer.id),
                email=normalise_email(customer.email),
                phone=normalise_phone(customer.phone, country or phone_region),
                first_name=customer.first_name,
                last_name=customer.last_name,
                country=country,
                province=address.province if address else None,
                city=address.city if address else None,
                signup_at=aware(customer.created_at) if customer.created_at else None,
                email_consent=email_consent.state == SUBSCRIBED if email_consent and email_consent.state else None,
                sms_consent=sms_consent.state == SUBSCRIBED if sms_consent and sms_consent.state else None,
            )
        ]
    )


def _checkout_rows(checkout: Checkout, lineage: Lineage, _phone_region: str) -> CanonicalRows:
    customer = checkout.customer
    email = normalise_email(checkout.email) or (normalise_email(customer.email) if customer else None)
    identifiers = customer.identifiers() if customer else ([("email", email)] if email else [])
    properties = {
        "checkout_id": checkout.id,
        "checkout_token": checkout.token,
        "cart_token": checkout.cart_token,
        "abandoned_checkout_url": checkout.abandoned_checkout_url,
        "completed_at": checkout.completed_at.isoformat() if checkout.completed_at else None,
        "currency": checkout.currency,
        "total": str(checkout.total_price) if checkout.total_price is not None else None,
        "products": [
            {"product_id": item.product_id, "sku": item.sku, "name": item.title, "price": str(item.price),
             "quantity": item.quantity}
            for item in checkout.line_items
        ],
    }  # fmt: skip
    updated_at = aware(checkout.updated_at)
    return CanonicalRows(
        events=[
            row(
                EVENT_COLUMNS,
                lineage,
                event_id=f"{lineage.source_key}:checkout:{checkout.token}:{updated_at.isoformat()}",
                event=CHECKOUT_STARTED,
                occurred_at=updated_at,
                customer_id=str(customer.id) if customer else None,
                email=email,
                properties=json.dumps(properties, separators=(",", ":")),
            )
        ],
        links=[identifiers] if identifiers else [],
    )


_TOPICS: dict[str, tuple[type[_Shopify], Callable[[Any, Lineage, str], CanonicalRows]]] = {
    "orders/create": (Order, _order_rows),
    "orders/updated": (Order, _order_rows),
    "customers/create": (Customer, _customer_rows),
    "checkouts/update": (Checkout, _checkout_rows),
}
TOPICS = tuple(_TOPICS)


def webhook_rows(topic: str, payload: Any, lineage: Lineage, phone_region: str) -> CanonicalRows:
    """The canonical rows of a webhook of one of TOPICS (national phone numbers read in the address's country, else
    `phone_region`); raises InvalidCall for a payload missing what is read."""
    model, to_rows = _TOPICS[topic]
    try:
        return to_rows(model.model_validate(payload), lineage, phone_region)
    except ValidationError as error:
        raise InvalidCall(field_errors(error.errors())) from None


def checkout_updated(rows: CanonicalRows, profile_id: str | None, shop: str) -> list[DomainEvent]:
    """`Checkout Updated` for the checkout's profile, with the cart and its recovery URL (none for a guest)."""
    if profile_id is None:
        return []
    event = rows.events[0]
    properties = json.loads(event["properties"])
    return [
        DomainEvent(
            source=TRACKING_EVENTS_SOURCE,
            detail_type=CHECKOUT_UPDATED,
            detail={
                "profile_id": profile_id,
                "shop": shop,
                "updated_at": event["occurred_at"].isoformat(),
                **properties,
            },
        )
    ]
