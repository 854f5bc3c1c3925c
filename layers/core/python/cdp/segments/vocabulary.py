"""What segment and tag definitions may name: event names, event and order-line properties, profile fields, types.

Event names are the Segment E-commerce Spec v2 events; a definition file may declare more as `custom_events`.
Event properties are the spec's semantic properties with their spec types (a file may declare `custom_properties`);
order-line properties are the curated orders columns (cdp.clean.entities.ORDERS). Profile fields are the flat
columns of a profiles snapshot: attributes, aggregates (cdp.profiles.aggregates), consent, loyalty, predictions,
and the RFM scores the evaluator derives (cdp.segments.rfm). Both behaviour sources also offer `hour_of_day`
(0-23, UTC) and `day_of_week` (1 Monday .. 7 Sunday), derived from the row's time.
"""

from __future__ import annotations

from typing import Literal

FieldType = Literal["string", "integer", "number", "boolean", "timestamp", "date", "list"]


ECOMMERCE_EVENTS = frozenset(
    {
        # Browsing
        "Products Searched", "Product List Viewed", "Product List Filtered",
        # Promotions
        "Promotion Viewed", "Promotion Clicked",
        # Core ordering
        "Product Clicked", "Product Viewed", "Product Added", "Product Removed", "Cart Viewed", "Checkout Started",
        "Checkout Step Viewed", "Checkout Step Completed", "Payment Info Entered", "Order Completed",
        "Order Updated", "Order Refunded", "Order Cancelled",
        # Coupons
        "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
        # Wishlisting
        "Product Added to Wishlist", "Product Removed from Wishlist", "Wishlist Product Added to Cart",
        # Sharing
        "Product Shared", "Cart Shared",
        # Reviewing
        "Product Reviewed",
    }
)  # fmt: skip

TIME_PROPERTIES: dict[str, FieldType] = {"hour_of_day": "integer", "day_of_week": "integer"}

EVENT_PROPERTIES: dict[str, FieldType] = {
    **dict.fromkeys(
        (
            "product_id", "sku", "category", "name", "brand", "variant", "coupon", "url", "image_url", "order_id",
            "checkout_id", "affiliation", "currency", "query", "list_id", "promotion_id", "creative", "cart_id",
            "wishlist_id", "wishlist_name", "share_via", "share_message", "recipient", "review_id", "review_body",
            "coupon_id", "coupon_name", "reason", "shipping_method", "payment_method",
        ),
        "string",
    ),
    **dict.fromkeys(
        ("price", "quantity", "total", "subtotal", "revenue", "shipping", "tax", "discount", "value", "rating", "step"),
        "number",
    ),
    **TIME_PROPERTIES,
}  # fmt: skip

ORDER_LINE_PROPERTIES: dict[str, FieldType] = {
    **dict.fromkeys(
        ("order_id", "line_id", "sku", "product_name", "category", "brand", "currency", "channel", "country",
         "region_code"),
        "string",
    ),
    "quantity": "integer",
    "unit_price": "number",
    "line_amount": "number",
    **TIME_PROPERTIES,
}  # fmt: skip

RFM_FIELDS: dict[str, FieldType] = {
    **dict.fromkeys(("recency_days", "r_score", "f_score", "m_score"), "integer"),
    "lifecycle_stage": "string",  # cdp.segments.lifecycle: new, prospect, active, dormant, churned
}
"""Derived from each profile's dates, orders and revenue by cdp.segments.rfm (the run) and by the live segments."""

PROFILE_FIELDS: dict[str, FieldType] = {
    # attributes
    **dict.fromkeys(
        ("profile_id", "first_name", "last_name", "gender", "language", "timezone", "country", "province", "city",
         "region_code"),
        "string",
    ),
    "first_seen_at": "timestamp",
    "signup_at": "timestamp",
    "birthday": "date",
    # consent
    **dict.fromkeys(("email_consent", "sms_consent", "push_consent", "profiling_consent"), "boolean"),
    # aggregates
    **dict.fromkeys(
        ("orders_count", "units", "returns_count", "returned_units", "events_count", "product_views_count",
         "cart_items_count", "open_tickets_count", "last_nps", "last_csat", "last_rating", "last_ticket_rating"),
        "integer",
    ),
    **dict.fromkeys(("revenue", "average_order_value", "returned_amount"), "number"),
    **dict.fromkeys(
        ("first_order_at", "last_order_at", "last_seen_at", "checkout_started_at", "last_order_completed_at"),
        "timestamp",
    ),
    "favourite_categories": "list",
    "favourite_brands": "list",
    "cart_status": "string",
    # loyalty
    "points_balance": "integer",
    "loyalty_tier": "string",
    "points_next_expiry_at": "timestamp",
    "points_next_expiry": "integer",
    # predictions
    **dict.fromkeys(("p_alive", "expected_orders_90d", "clv_12m"), "number"),
    "next_order_at": "timestamp",
    "next_run_out_at": "timestamp",  # the soonest predicted run-out of a repeatedly bought item
    "prediction_confidence": "string",
    # derived from first_seen_at, last_order_at, the last cancellation, orders_count and revenue
    **RFM_FIELDS,
}  # fmt: skip
