"""Recommendations saved on profile items (`recommendations`, `recommendations_digest`, `recommendations_at`: the
time of the run that last changed the list), live profiles only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import batch_get_items, update_live_profile
from cdp.keys import profile_id_of, profile_key

DIGEST = "recommendations_digest"


class RecommendationStore:
    def __init__(self, profiles_table: str, computed_at: datetime) -> None:
        self.table = dynamodb_table(profiles_table)
        self.computed_at = computed_at

    def saved_digests(self, profile_ids: list[str]) -> dict[str, str]:
        """Eventually consistent reads, 100 profiles a request (half a read unit per 4 KB of profile)."""
        keys = [profile_key(profile_id) for profile_id in profile_ids]
        items = batch_get_items(self.table.meta.client, self.table.name, keys, attributes=("pk", DIGEST))
        return {profile_id_of(item["pk"]): str(item[DIGEST]) for item in items if DIGEST in item}

    def save_recommendations(self, profile_id: str, recommendations: list[dict[str, Any]], digest: str) -> bool:
        update = f"SET recommendations = :recommendations, {DIGEST} = :digest, recommendations_at = :at"
        values = {":recommendations": recommendations, ":digest": digest, ":at": self.computed_at.isoformat()}
        return update_live_profile(self.table, profile_id, update, values)
