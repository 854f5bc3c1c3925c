"""Which function applies one batch of an entity's accepted rows to profiles.

Every entity goes through the profiles' `apply_records`, except `consents`, which the privacy helper's
`cdp.privacy.consent.apply_consent_records` applies (same signature). LEAD: once the privacy branch is merged,
replace `_apply_consents` by a top-level import of `apply_consent_records` in RECORD_APPLIERS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cdp.profiles.apply import ProfileOutcome, apply_records

RecordApplier = Callable[[Any, str, list[dict[str, Any]], str, datetime, timedelta], ProfileOutcome]


def _apply_consents(
    store: Any, entity: str, rows: list[dict[str, Any]], source: str, now: datetime, backfill_horizon: timedelta
) -> ProfileOutcome:
    from cdp.privacy.consent import apply_consent_records  # privacy helper's module, merged by the lead

    return apply_consent_records(store, entity, rows, source, now, backfill_horizon)  # type: ignore[no-any-return]


RECORD_APPLIERS: dict[str, RecordApplier] = {"consents": _apply_consents}


def apply_entity_records(
    store: Any, entity: str, rows: list[dict[str, Any]], source: str, now: datetime, backfill_horizon: timedelta
) -> ProfileOutcome:
    return RECORD_APPLIERS.get(entity, apply_records)(store, entity, rows, source, now, backfill_horizon)
