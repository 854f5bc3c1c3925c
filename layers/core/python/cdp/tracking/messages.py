"""Segment HTTP Tracking API calls (identify, track, page, screen, group, alias, batch) as pydantic models.

Field names and meanings follow the Segment Spec (common fields, one model per call). Where the spec is loose
the models are strict: a messageId has fewer than 100 characters, identities are strings, the traits and the
`Order Completed` properties the platform reads are typed, so a wrong type is a field-level error.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.config import JsonDict

from cdp.errors import field_errors
from cdp.identifiers import normalise_push_endpoint

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_CALLS = 2500

Identity = Annotated[str, Field(min_length=1, max_length=200)]


def _at_most_six_decimals(amount: Decimal) -> Decimal:
    exponent = amount.as_tuple().exponent
    return round(amount, 6) if isinstance(exponent, int) and exponent < -6 else amount


# Money and counts as DynamoDB can store them (38 significant digits): at most a trillion, rounded to 6 decimals.
Amount = Annotated[Decimal, Field(allow_inf_nan=False, ge=-(10**12), le=10**12), AfterValidator(_at_most_six_decimals)]
Quantity = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
# An id that becomes part of a key: a short string or an integer of at most 30 digits.
KeyPart = Annotated[str, Field(min_length=1, max_length=200)] | Annotated[int, Field(ge=-(10**30), le=10**30)]


def _sns_endpoint(value: str) -> str:
    endpoint = normalise_push_endpoint(value)
    if endpoint is None:
        raise ValueError("must be an Amazon SNS platform endpoint ARN (arn:aws:sns:<region>:<account>:endpoint/...)")
    return endpoint


class KnownTraits(BaseModel):
    """The identify traits the platform maps to customer columns (Segment reserved traits); others pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, alias="firstName", max_length=200)
    last_name: str | None = Field(default=None, alias="lastName", max_length=200)
    birthday: date | None = None
    gender: str | None = Field(default=None, max_length=40)
    created_at: datetime | None = Field(default=None, alias="createdAt")
    email_consent: bool | None = None
    sms_consent: bool | None = None
    address: dict[str, Any] | None = None
    push_endpoint: Annotated[str, Field(max_length=512), AfterValidator(_sns_endpoint)] | None = Field(
        default=None, alias="pushEndpoint"
    )


IDENTITY_RULE: JsonDict = {
    "anyOf": [
        {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
        for name in ("userId", "anonymousId")
    ]
}


class Call(BaseModel):
    """The Segment Spec's common fields, shared by every call."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, json_schema_extra=IDENTITY_RULE)

    message_id: str = Field(default_factory=lambda: uuid.uuid4().hex, alias="messageId", min_length=1, max_length=99)
    user_id: Identity | None = Field(default=None, alias="userId")
    anonymous_id: Identity | None = Field(default=None, alias="anonymousId")
    timestamp: datetime | None = None
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)
    write_key: str | None = Field(default=None, alias="writeKey", exclude=True)

    @model_validator(mode="after")
    def _needs_an_identity(self) -> Call:
        if not self.user_id and not self.anonymous_id:
            raise ValueError("userId or anonymousId is required")
        return self

    def occurred_at(self, received_at: datetime, batch_sent_at: datetime | None = None) -> datetime:
        """The spec's clock-skew correction: timestamp + (receivedAt - sentAt); receivedAt when no timestamp."""
        if self.timestamp is None:
            return received_at
        sent_at = self.sent_at or batch_sent_at
        if sent_at is None:
            return aware(self.timestamp)
        try:
            return aware(self.timestamp) + (received_at - aware(sent_at))
        except OverflowError:
            message = "with the clock-skew correction (receivedAt - sentAt) falls outside years 1 to 9999"
            raise InvalidCall([{"field": "timestamp", "message": message}]) from None


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class IdentifyCall(Call):
    """Traits sent at the root (Segment) or only in `context.traits` (RudderStack's SDKs) are both read; the root's
    win where both name a trait."""

    type: Literal["identify"] = "identify"
    traits: KnownTraits = Field(default_factory=KnownTraits)

    @model_validator(mode="before")
    @classmethod
    def _context_traits_too(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        context = raw.get("context")
        context_traits = context.get("traits") if isinstance(context, dict) else None
        traits = raw.get("traits")
        if not isinstance(context_traits, dict) or not isinstance(traits, dict | None):
            return raw
        return {**raw, "traits": {**context_traits, **(traits or {})}}


class TrackCall(Call):
    type: Literal["track"] = "track"
    event: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class PageCall(Call):
    type: Literal["page"] = "page"
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class ScreenCall(Call):
    type: Literal["screen"] = "screen"
    name: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class GroupCall(Call):
    type: Literal["group"] = "group"
    group_id: Identity = Field(alias="groupId")
    traits: dict[str, Any] = Field(default_factory=dict)


class AliasCall(Call):
    """Links `previousId` (the anonymous visitor, as Segment's browser and mobile libraries send it) to `userId`."""

    type: Literal["alias"] = "alias"
    user_id: Identity = Field(alias="userId")
    previous_id: Identity = Field(alias="previousId")


CALL_MODELS: dict[str, type[Call]] = {
    model.model_fields["type"].default: model
    for model in (IdentifyCall, TrackCall, PageCall, ScreenCall, GroupCall, AliasCall)
}


class BatchRequest(BaseModel):
    """`POST /v1/batch`: up to 2,500 calls (each with its `type`), validated one by one for partial acceptance."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    batch: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH_CALLS,
        description="Identify, track, page, screen, group and alias calls, each with its `type`.",
    )
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)
    write_key: str | None = Field(default=None, alias="writeKey", exclude=True)


class Product(BaseModel):
    """A product of an e-commerce v2 event (`products[]`)."""

    model_config = ConfigDict(extra="allow")

    product_id: KeyPart | None = None
    sku: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=500)
    category: str | None = Field(default=None, max_length=200)
    brand: str | None = Field(default=None, max_length=200)
    price: Amount | None = None
    quantity: Quantity = 1


class OrderCompletedProperties(BaseModel):
    """The properties of Segment e-commerce v2 `Order Completed` the platform turns into order lines."""

    model_config = ConfigDict(extra="allow")

    order_id: KeyPart
    total: Amount | None = None
    revenue: Amount | None = None
    currency: str = Field(default="USD", min_length=3, max_length=3)
    products: list[Product] = Field(default_factory=list)


ORDER_COMPLETED = "Order Completed"


class InvalidCall(ValueError):
    """A call whose content the platform cannot use, with field-level errors."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{error['field']}: {error['message']}" for error in errors))
        self.errors = errors


def parse_call(raw: Any, batch_context: dict[str, Any] | None = None, call_type: str | None = None) -> Call:
    """One call validated against its type's model (`call_type` for the single-call routes); raises InvalidCall."""
    if not isinstance(raw, dict):
        raise InvalidCall([{"field": "", "message": "a call must be a JSON object"}])
    if len(json.dumps(raw, separators=(",", ":")).encode()) > MAX_CALL_BYTES:
        raise InvalidCall([{"field": "", "message": "call larger than 32 KB"}])
    kind = call_type or raw.get("type")
    model = CALL_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidCall([{"field": "type", "message": f"type must be one of {', '.join(CALL_MODELS)}"}])
    if batch_context:
        context = raw.get("context")
        raw = {**raw, "context": {**batch_context, **(context if isinstance(context, dict) else {})}}
    try:
        return model.model_validate({**raw, "type": kind})
    except ValidationError as error:
        raise InvalidCall(field_errors(error.errors())) from None
