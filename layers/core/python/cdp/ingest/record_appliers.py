"""Which function applies one batch of an entity's accepted rows to profiles.

Every entity goes through the profiles' `apply_records`, except `consents`, which the privacy helper's
`apply_consent_records` applies (same signature).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cdp.privacy.consent import apply_consent_records
from cdp.profiles.apply import ProfileOutcome, apply_records

RecordApplier = Callable[[Any, str, list[dict[str, Any]], str, datetime, timedelta], ProfileOutcome]

RECORD_APPLIERS: dict[str, RecordApplier] = {"consents": apply_consent_records}


def apply_entity_records(
    store: Any, entity: str, rows: list[dict[str, Any]], source: str, now: datetime, backfill_horizon: timedelta
) -> ProfileOutcome:
    return RECORD_APPLIERS.get(entity, apply_records)(store, entity, rows, source, now, backfill_horizon)
