"""What the loyalty review needs from storage: the members' profile items, and where it saves what it decided."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

REVIEWED_ATTRIBUTES = (
    "loyalty_tier", "loyalty_tier_at", "points_balance", "points_expiring", "points_expire_at",
    "points_expiring_notified",
)  # fmt: skip
"""What the review stores on a profile item (the tier it decided, the balance it saw, the expiry it announced)."""


class LoyaltyRepository(Protocol):
    def profiles(self) -> Iterable[dict[str, Any]]:
        """Every live profile item, with at least `profile_id`, the loyalty ledger attributes and REVIEWED_ATTRIBUTES."""
        ...

    def save_review(self, profile_id: str, values: dict[str, Any]) -> bool:
        """Set these REVIEWED_ATTRIBUTES on a live profile; False when it was merged away meanwhile."""
        ...
