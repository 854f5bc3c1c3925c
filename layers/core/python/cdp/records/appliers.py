"""Applies one batch of an entity's accepted rows to profiles, after dropping rows of erased people.

Every entity goes through `apply_records`, except `consents`, which `apply_consent_records` applies; orders and
Order Completed events that name a coupon then redeem it (`cdp.coupons.redeem`); a customers row's `email_consent` / `sms_consent` columns are also consent
statements (`<channel>:marketing`), recorded as of the customer's signup (or now) so an old export never
overrides a newer unsubscribe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cdp.coupons.offers import load_offers
from cdp.coupons.redeem import coupon_uses, redeem_coupons
from cdp.observability import logger
from cdp.privacy.consent import CUSTOMER_CONSENT_COLUMNS
from cdp.privacy.erasure import drop_erased
from cdp.records.apply import ProfileOutcome, apply_records
from cdp.records.consents import apply_consent_records
from cdp.records.ports import LiveDecisions, ProfileLedger

RecordApplier = Callable[[ProfileLedger, str, list[dict[str, Any]], str, datetime, timedelta], ProfileOutcome]


def _apply_consents(
    store: ProfileLedger, entity: str, rows: list[dict[str, Any]], source: str, now: datetime, backfill_horizon: timedelta
) -> ProfileOutcome:
    return apply_consent_records(store.privacy, rows, source, now)


RECORD_APPLIERS: dict[str, RecordApplier] = {"consents": _apply_consents}


def customer_consent_rows(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The consent statements a batch of customers rows carries, as canonical `consents` rows."""
    return [
        {
            "customer_id": row.get("customer_id"),
            "email": row.get("email"),
            "phone": row.get("phone"),
            "channel": channel,
            "purpose": "marketing",
            "granted": bool(row[column]),
            "recorded_at": row.get("signup_at") or now,
            "source": None,
        }
        for row in rows
        for column, channel in CUSTOMER_CONSENT_COLUMNS.items()
        if row.get(column) is not None
    ]


def apply_entity_records(
    store: ProfileLedger,
    entity: str,
    rows: list[dict[str, Any]],
    source: str,
    now: datetime,
    backfill_horizon: timedelta,
    salt: str,
    live: LiveDecisions | None = None,
) -> tuple[ProfileOutcome, int]:
    """Apply the rows; returns the outcome and how many rows were dropped because their person was erased."""
    kept, erased = drop_erased(store.privacy, rows, salt)
    return apply_checked_records(store, entity, kept, source, now, backfill_horizon, live), erased


def apply_checked_records(
    store: ProfileLedger,
    entity: str,
    rows: list[dict[str, Any]],
    source: str,
    now: datetime,
    backfill_horizon: timedelta,
    live: LiveDecisions | None = None,
) -> ProfileOutcome:
    """Apply rows already checked against the erased register (the file pipeline checks before its curated write);
    `live` decides the live segments of every profile written, in the transaction that writes its records where
    there is room (apply_records), else just after; the events they raise come after the records' events."""
    if entity in RECORD_APPLIERS:
        outcome = RECORD_APPLIERS[entity](store, entity, rows, source, now, backfill_horizon)
    else:
        outcome = apply_records(store, entity, rows, source, now, backfill_horizon, live)
    uses = coupon_uses(entity, rows)
    if uses:
        logger.info("coupons redeemed", extra={"entity": entity, **redeem_coupons(store.coupons, load_offers(), uses)})
    if entity == "customers" and rows:
        _apply_consents(store, "consents", customer_consent_rows(rows, now), source, now, backfill_horizon)
    if live is not None:
        undecided = {profile_id: item for profile_id, item in outcome.profiles.items() if profile_id not in outcome.decided}
        outcome.events += live.after_update(undecided, now) if undecided else []
    return outcome
