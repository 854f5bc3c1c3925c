"""Shopify's mandatory privacy webhooks, acted on once per `X-Shopify-Webhook-Id`.

Payloads as Shopify's privacy-law compliance documentation gives them:
- `customers/redact` {shop_id, shop_domain, customer {id, email, phone}, orders_to_redact}: the person is erased
  (`cdp.privacy.erasure.erase_identifiers`: every profile holding the customer id, email or phone, and those
  identifiers registered erased even when nobody holds them); one `Erasure Requested` event per erasure starts the
  S3 part. The orders are the person's own, found through those identifiers.
- `customers/data_request` {shop_id, shop_domain, customer, orders_requested, data_request {id}}: the export of every
  profile holding one of the identifiers (`cdp.privacy.export`) is written for the shop owner, with a record of
  where (`cdp.adapters.shop_data`); an unknown customer gets an export that says nothing is held.
- `shop/redact` {shop_id, shop_domain}: the shop's exports, data-request records, replay-register items and webhook
  secret are deleted (`ShopData.remove_shop`); customers' profiles are not keyed to a shop and stay.
The payload's `shop_domain` must be the shop whose secret signed the call. Nothing is logged that names the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cdp.events import DomainEvent
from cdp.identity.rules import DEFAULT_RULES, Identifier
from cdp.observability import logger
from cdp.privacy.erasure import ERASURE_REQUESTED, PRIVACY_EVENTS_SOURCE, erase_identifiers
from cdp.privacy.export import export_identifiers
from cdp.privacy.ports import PersonalData
from cdp.tracking.apply import WebhookOutcome
from cdp.tracking.messages import InvalidCall, field_errors
from cdp.tracking.ports import Register, ShopData
from cdp.tracking.shopify import webhook_payload

CUSTOMERS_REDACT = "customers/redact"
CUSTOMERS_DATA_REQUEST = "customers/data_request"
SHOP_REDACT = "shop/redact"
PRIVACY_TOPICS = (CUSTOMERS_REDACT, CUSTOMERS_DATA_REQUEST, SHOP_REDACT)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    shop_id: int
    shop_domain: str = Field(min_length=1)


class PrivacyCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    email: str | None = None
    phone: str | None = None

    def identifiers(self, phone_region: str) -> list[Identifier]:
        """Customer id, email and phone (a national number read in `phone_region`), normalised as identity
        resolution binds them (blocked placeholder values left out)."""
        found = [("customer_id", self.id), ("email", self.email), ("phone", self.phone)]
        return DEFAULT_RULES.usable(found, phone_region)


class CustomersRedact(_Payload):
    customer: PrivacyCustomer
    orders_to_redact: list[int] = Field(default_factory=list)


class DataRequest(BaseModel):
    id: int


class CustomersDataRequest(_Payload):
    customer: PrivacyCustomer
    orders_requested: list[int] = Field(default_factory=list)
    data_request: DataRequest


class ShopRedact(_Payload):
    pass


_MODELS: dict[str, type[_Payload]] = {
    CUSTOMERS_REDACT: CustomersRedact,
    CUSTOMERS_DATA_REQUEST: CustomersDataRequest,
    SHOP_REDACT: ShopRedact,
}


@dataclass(frozen=True)
class PrivacyPorts:
    """What acting on privacy webhooks needs: the privacy store, the shop's stored data, the replay register."""

    store: PersonalData
    shop_data: ShopData
    register: Register
    dedupe_window: timedelta
    salt: str
    phone_region: str


def _payload(topic: str, shop: str, body: bytes, phone_region: str) -> _Payload:
    try:
        payload = _MODELS[topic].model_validate(webhook_payload(body))
    except ValidationError as error:
        raise InvalidCall(field_errors(error.errors())) from None
    if payload.shop_domain != shop:
        raise InvalidCall([{"field": "shop_domain", "message": "is not the shop that signed the webhook"}])
    if isinstance(payload, CustomersRedact | CustomersDataRequest) and not payload.customer.identifiers(phone_region):
        raise InvalidCall([{"field": "customer", "message": "names no usable id, email or phone"}])
    return payload


def _redact_customer(ports: PrivacyPorts, payload: CustomersRedact, now: datetime) -> dict[str, Any]:
    erasures = erase_identifiers(ports.store, payload.customer.identifiers(ports.phone_region), ports.salt, now)
    return {
        "erasure_ids": [erasure["erasure_id"] for erasure in erasures],
        "profiles_erased": sum(1 for erasure in erasures if erasure.get("profile_id")),
    }


def _export_customer(ports: PrivacyPorts, shop: str, payload: CustomersDataRequest, now: datetime) -> dict[str, Any]:
    profiles = export_identifiers(ports.store, payload.customer.identifiers(ports.phone_region))
    document = {
        "shop_domain": shop,
        "data_request_id": payload.data_request.id,
        "orders_requested": payload.orders_requested,
        "exported_at": now.isoformat(),
        "profiles": profiles,
    }
    key = ports.shop_data.store_data_request(shop, str(payload.data_request.id), document, now.isoformat())
    return {"data_request_id": payload.data_request.id, "export_key": key, "profiles_exported": len(profiles)}


def apply_privacy_webhook(
    ports: PrivacyPorts, shop: str, topic: str, webhook_id: str, body: bytes, received_at: datetime
) -> WebhookOutcome:
    """Act on a verified privacy webhook (one of PRIVACY_TOPICS) once; raises InvalidCall for an unusable body."""
    source = f"shopify:{shop}"
    if ports.register.seen(source, [webhook_id], received_at):
        return WebhookOutcome("duplicate")
    payload = _payload(topic, shop, body, ports.phone_region)
    events: list[DomainEvent] = []
    if isinstance(payload, CustomersRedact):
        done = _redact_customer(ports, payload, received_at)
        events = [DomainEvent(PRIVACY_EVENTS_SOURCE, ERASURE_REQUESTED, {"erasure_id": e}) for e in done["erasure_ids"]]
    elif isinstance(payload, CustomersDataRequest):
        done = _export_customer(ports, shop, payload, received_at)
    else:
        done = ports.shop_data.remove_shop(shop).as_dict()
    if topic != SHOP_REDACT:  # the shop's register items are gone with it; a replay cannot be verified any more
        ports.register.remember(source, [webhook_id], received_at, ports.dedupe_window)
    logger.info("shopify privacy webhook applied", extra={"shop": shop, "topic": topic, **done})
    return WebhookOutcome("applied", events)
