"""Recommendations saved on profile items (`recommendations`, `recommendations_at`), live profiles only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import update_live_profile


class RecommendationStore:
    def __init__(self, profiles_table: str, computed_at: datetime) -> None:
        self.table = dynamodb_table(profiles_table)
        self.computed_at = computed_at

    def save_recommendations(self, profile_id: str, recommendations: list[dict[str, Any]]) -> bool:
        update = "SET recommendations = :recommendations, recommendations_at = :at"
        values = {":recommendations": recommendations, ":at": self.computed_at.isoformat()}
        return update_live_profile(self.table, profile_id, update, values)
