"""Applying canonical `consents` rows: resolve each person, then one write per profile for all of its statements.

The newest statement per key wins (`cdp.privacy.consent.newest_per_key`, passed to the store as its plan); every
statement joins the history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from cdp.canonical import IDENTIFIER_TYPES, Identifier
from cdp.errors import Conflict, NotFound
from cdp.identity.resolution import current_profile_id, resolve_batch
from cdp.privacy.consent import ConsentChange, consent_change_from_row, newest_per_key
from cdp.privacy.erasure import drop_erased
from cdp.privacy.requests import ConsentRequest
from cdp.records.apply import ProfileOutcome
from cdp.records.ports import ConsentRecords, RecordPrivacy

CONSENT_IDENTIFIERS = tuple(name for name in IDENTIFIER_TYPES if name != "anonymous_id")  # a consents row's columns


def row_identifiers(row: dict[str, Any]) -> list[Identifier]:
    return [(name, str(row[name])) for name in CONSENT_IDENTIFIERS if row.get(name) not in (None, "")]


def apply_consent_records(
    store: ConsentRecords, rows: list[dict[str, Any]], source: str, now: datetime
) -> ProfileOutcome:
    """Apply a batch of canonical `consents` rows; rows without any identifier are guests (counted, skipped)."""
    outcome = ProfileOutcome()
    resolved = resolve_batch(store.identity, [row_identifiers(row) for row in rows], cause=f"consent:{source}", now=now)
    outcome.created = len(resolved.created)
    by_profile: dict[str, list[ConsentChange]] = defaultdict(list)
    for row, profile_id in zip(rows, resolved.profile_ids):
        if profile_id is None:
            outcome.guest_records += 1
            continue
        by_profile[profile_id].append(consent_change_from_row(row, source))
    touched: set[str] = set()
    for profile_id, became_current_by_change in store.record_consents_batch(by_profile, now, newest_per_key).items():
        applied = sum(became_current_by_change)
        outcome.records_applied += applied
        if applied:
            touched.add(profile_id)
    outcome.updated = len(touched - resolved.created)
    return outcome


def record_consent_request(store: RecordPrivacy, request: ConsentRequest, salt: str, now: datetime) -> bool:
    """POST /v1/consents: record one statement, about a profile id (redirects followed; NotFound when unknown) or
    about identifiers (resolved like a consents row; Conflict when one was erased). Whether it became current."""
    if request.profile_id:
        profile_id = current_profile_id(store.identity, request.profile_id)
        if profile_id is None:
            raise NotFound("no such profile")
        change = ConsentChange(request.channel, request.purpose, request.granted, request.recorded_at, request.source)
        [applied] = store.record_consents(profile_id, [change], now, newest_per_key)
        return applied
    rows, erased = drop_erased(store, [request.as_row()], salt)
    if erased:
        raise Conflict("this identifier was erased; it is not processed")
    return apply_consent_records(store, rows, request.source, now).records_applied == 1
