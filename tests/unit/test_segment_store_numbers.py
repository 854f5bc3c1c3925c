"""Computed values reach DynamoDB whatever floats a model gives: numbers nearer zero than DynamoDB can hold are
stored as 0, NaN and infinities as null, and the rest as written."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import boto3
from cdp.adapters.segment_store import SegmentStore
from cdp.segments.ports import ProfileUpdate
from identity_tables import PROFILES, identity_tables


def test_a_model_s_tiny_and_non_finite_numbers_are_stored_and_the_rest_kept() -> None:
    with identity_tables():
        table = boto3.resource("dynamodb").Table(PROFILES)
        table.put_item(Item={"pk": "PROFILE#p1", "sk": "PROFILE", "profile_id": "p1"})
        # Given predictions as BG/NBD gives them for a customer who bought often, long ago
        values = {"predictions": {"p_alive": 3.2e-301, "expected_orders_90d": -1e-200, "clv_12m": float("nan"),
                                  "next_order_at": None, "confidence": "low", "spread": float("inf")},
                  "tags": {"discount_share": 0.125, "average_days_between_orders": 1e-129}}  # fmt: skip
        update = ProfileUpdate(profile_id="p1", values=values, digest="d", memberships=["rfm:lost"], transitions=[],
                               previous=[], expected_version=0)  # fmt: skip
        # When the run saves them
        saved = SegmentStore(PROFILES).save([update], datetime(2026, 12, 3, tzinfo=UTC))
        # Then the write goes through, each number as DynamoDB can hold it
        item = table.get_item(Key={"pk": "PROFILE#p1", "sk": "PROFILE"})["Item"]
        assert saved == [update]
        assert item["predictions"] == {"p_alive": Decimal(0), "expected_orders_90d": Decimal(0), "clv_12m": None,
                                       "next_order_at": None, "confidence": "low", "spread": None}  # fmt: skip
        assert item["tags"] == {"discount_share": Decimal("0.125"), "average_days_between_orders": Decimal("1E-129")}
        assert item["memberships"] == ["rfm:lost"]
