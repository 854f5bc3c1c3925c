"""The profile as the API shows it: the flat item presented in the sections of issue 5, numbers as JSON numbers.

Sections: identity, attributes, behaviour, loyalty, value, sentiment, consent, segments. Bookkeeping kept on the item
for exactly-once application (order and return ids, ticket states, cart entries, versions) is not shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

IDENTITY = (
    "profile_id",
    "customer_id",
    "email",
    "phone",
    "anonymous_id",
    "created_at",
    "updated_at",
    "merged_at",
    "redirect_to",
)
PERSON_ATTRIBUTES = (
    "first_name",
    "last_name",
    "birthday",
    "gender",
    "language",
    "timezone",
    "country",
    "province",
    "city",
    "region_code",
)  # what a customer record says about the person besides identifiers; each keeps its newest observation
ATTRIBUTES = (*PERSON_ATTRIBUTES, "signed_up_at")
BEHAVIOUR = (
    "orders_count",
    "units",
    "revenue",
    "revenue_by_currency",
    "cancelled_units",
    "cancelled_amount",
    "first_cancelled_at",
    "last_cancelled_at",
    "average_order_value",
    "first_order_at",
    "last_order_at",
    "categories",
    "brands",
    "favourite_categories",
    "favourite_brands",
    "returns_count",
    "returned_units",
    "returned_amount",
    "events_count",
    "last_seen_at",
    "active_hours",
    "product_views_count",
    "cart_status",
    "cart_items_count",
    "checkout_started_at",
    "last_order_completed_at",
)
LOYALTY = ("points_balance", "loyalty_tier", "loyalty_tier_at", "points_expiries")
VALUE = ("rfm", "lifecycle_stage", "clv", "churn_risk")
SENTIMENT = (
    "open_tickets_count",
    "last_ticket_rating",
    "last_ticket_rating_at",
    "last_nps",
    "last_nps_at",
    "last_csat",
    "last_csat_at",
    "last_rating",
    "last_rating_at",
)
SEGMENTS = ("segments",)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(item) for item in value]
    return value


def _section(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(item[name]) for name in names if name in item}


def next_points_expiry(expiries: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The earliest upcoming expiry date (ISO date) and the points expiring then."""
    upcoming = sorted(day for day in expiries if day >= now.date().isoformat())
    return {"date": upcoming[0], "points": _plain(expiries[upcoming[0]])} if upcoming else None


def public_profile(
    item: dict[str, Any], now: datetime | None = None, identifiers: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The profile in sections; `identifiers` (from the identity items) are listed in the identity section."""
    identity = _section(item, IDENTITY)
    if identifiers is not None:
        identity["identifiers"] = [{"type": kind, "value": value} for kind, value in identifiers]
    loyalty = _section(item, LOYALTY)
    loyalty["next_points_expiry"] = next_points_expiry(item.get("points_expiries") or {}, now or datetime.now(UTC))
    return {
        "identity": identity,
        "attributes": _section(item, ATTRIBUTES),
        "behaviour": _section(item, BEHAVIOUR),
        "loyalty": loyalty,
        "value": _section(item, VALUE),
        "sentiment": _section(item, SENTIMENT),
        "consent": _plain(item.get("consent") or {}),
        "consent_history": {"statements": _plain(item.get("consent_statements", 0)), "last_at": item.get("consent_updated_at")},
        "segments": _plain(item.get("segments") or []),
    }
