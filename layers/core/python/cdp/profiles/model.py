"""The profile as the API and journeys read it: a pydantic model in sections, built from the stored item.

Sections: identity, attributes, behaviour, loyalty, value, sentiment, consent (with its history's count) and
memberships (the segments the last segment run placed the profile in). A section holds only the attributes the
item has (`as_json` leaves unset ones out), numbers as JSON numbers; bookkeeping kept on the item for exactly-once
application (order and return ids, ticket states, cart entries, versions) is not part of it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

Number = int | float


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentifierView(Section):
    type: str
    value: str


class Identity(Section):
    profile_id: str
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    anonymous_id: str | None = None
    push_endpoint: str | None = None  # the SNS mobile push endpoint ARN of the person's app install
    created_at: str | None = None
    updated_at: str | None = None
    merged_at: str | None = None
    redirect_to: str | None = None
    identifiers: list[IdentifierView] | None = None


class Attributes(Section):
    first_name: str | None = None
    last_name: str | None = None
    birthday: str | None = None
    gender: str | None = None
    language: str | None = None
    timezone: str | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    region_code: str | None = None
    signed_up_at: str | None = None


class Behaviour(Section):
    orders_count: int | None = None
    units: Number | None = None
    revenue: Number | None = None
    revenue_by_currency: dict[str, Number] | None = None
    cancelled_units: Number | None = None
    cancelled_amount: Number | None = None
    first_cancelled_at: str | None = None
    last_cancelled_at: str | None = None
    average_order_value: Number | None = None
    first_order_at: str | None = None
    last_order_at: str | None = None
    categories: dict[str, Number] | None = None
    brands: dict[str, Number] | None = None
    favourite_categories: list[str] | None = None
    favourite_brands: list[str] | None = None
    returns_count: int | None = None
    returned_units: Number | None = None
    returned_amount: Number | None = None
    events_count: int | None = None
    last_seen_at: str | None = None
    active_hours: dict[str, Number] | None = None
    product_views_count: int | None = None
    cart_status: str | None = None
    cart_items_count: Number | None = None
    checkout_started_at: str | None = None
    last_order_completed_at: str | None = None


class PointsExpiry(Section):
    date: str
    points: Number


class Loyalty(Section):
    points_balance: Number | None = None
    loyalty_tier: str | None = None
    loyalty_tier_at: str | None = None
    points_expiries: dict[str, Number] | None = None
    next_points_expiry: PointsExpiry | None = None


class RfmScores(Section):
    segment: str | None = None
    r: int | None = None
    f: int | None = None
    m: int | None = None
    recency_days: int | None = None


class Value(Section):
    rfm: RfmScores | None = None
    lifecycle_stage: str | None = None


class Sentiment(Section):
    open_tickets_count: int | None = None
    last_ticket_rating: Number | None = None
    last_ticket_rating_at: str | None = None
    last_nps: Number | None = None
    last_nps_at: str | None = None
    last_csat: Number | None = None
    last_csat_at: str | None = None
    last_rating: Number | None = None
    last_rating_at: str | None = None


class ConsentEntry(BaseModel):
    """The current statement for one `<channel>:<purpose>`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    granted: bool | None = None
    source: str | None = None
    recorded_at: str | None = None


class ConsentHistory(Section):
    statements: int = 0
    last_at: str | None = None


class Profile(Section):
    """One person's unified profile, in sections."""

    identity: Identity
    attributes: Attributes
    behaviour: Behaviour
    loyalty: Loyalty
    value: Value
    sentiment: Sentiment
    consent: dict[str, ConsentEntry]
    consent_history: ConsentHistory
    memberships: list[str]

    def as_json(self) -> dict[str, Any]:
        """The API's JSON: every section, each with only the attributes the profile has."""
        return self.model_dump(mode="json", exclude_unset=True)


def plain(value: Any) -> Any:
    """DynamoDB values as JSON-ready ones: Decimal as int or float, sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(item) for item in value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def section_values(item: dict[str, Any], section: type[Section]) -> dict[str, Any]:
    """The item's attributes that belong to `section`, JSON-ready."""
    return {name: plain(item[name]) for name in section.model_fields if name in item}


def next_points_expiry(expiries: dict[str, Any], now: datetime) -> PointsExpiry | None:
    """The earliest upcoming expiry date (ISO date) and the points expiring then."""
    upcoming = sorted(day for day in expiries if day >= now.date().isoformat())
    return PointsExpiry(date=upcoming[0], points=plain(expiries[upcoming[0]])) if upcoming else None
