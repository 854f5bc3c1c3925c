"""DynamoDB side of the loyalty review: live profile items read by a paginated Scan, review values saved on them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import scan_items, update_live_profile
from cdp.keys import PROFILE_SK
from cdp.loyalty.ports import REVIEWED_ATTRIBUTES
from cdp.loyalty.status import LEDGER_ATTRIBUTES

SCANNED_ATTRIBUTES = ("profile_id", "assigned_tier_at", *LEDGER_ATTRIBUTES, *REVIEWED_ATTRIBUTES)


class LoyaltyStore:
    """Loyalty status on profile items of the profiles table."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def profiles(self) -> Iterator[dict[str, Any]]:
        names = {f"#a{position}": name for position, name in enumerate(SCANNED_ATTRIBUTES)}
        yield from scan_items(
            TableName=self.table.name,
            FilterExpression="sk = :profile AND attribute_not_exists(redirect_to)",
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":profile": {"S": PROFILE_SK}},
        )

    def save_review(self, profile_id: str, values: dict[str, Any]) -> bool:
        names = {f"#v{position}": name for position, name in enumerate(values)}
        update = "SET " + ", ".join(f"{name} = :v{name[2:]}" for name in names)
        placeholders = {f":v{position}": value for position, value in enumerate(values.values())}
        return update_live_profile(self.table, profile_id, update, placeholders, names)
