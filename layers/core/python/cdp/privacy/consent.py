"""Consent per `<channel>:<purpose>` on the profile item: which statement wins, and whether a message may be sent.

Layout (profile item): `consent["email:marketing"] = {granted, source, recorded_at}` (the current statement per key)
and `consent_statements` (how many the history holds). Every statement received is also kept, append-only, as a
history item (the consent store's). A newer `recorded_at` wins (`newest_per_key`, the plan the store is given); an
older statement arriving late joins the history but never overrides a newer one (the store's write is conditional on
the stored times). Marketing is sent only on an explicit grant; transactional messages are allowed unless
explicitly refused.
"""

from __future__ import annotations

from typing import Any, Literal

from cdp.privacy.ports import ConsentChange, consent_key, stored_time

Channel = Literal["email", "sms", "push"]
Purpose = Literal["marketing", "transactional", "profiling"]
CHANNELS: tuple[str, ...] = ("email", "sms", "push")
PURPOSES: tuple[str, ...] = ("marketing", "transactional", "profiling")
ALLOWED_UNLESS_REFUSED: frozenset[str] = frozenset({"transactional"})
CUSTOMER_CONSENT_COLUMNS = {"email_consent": "email", "sms_consent": "sms"}

__all__ = ["ConsentChange", "consent_change_from_row", "consent_granted", "newest_per_key"]


def newest_per_key(consent: dict[str, Any] | None, changes: list[ConsentChange]) -> dict[str, dict[str, Any]]:
    """The entries these statements set: per key the newest of them, where it is newer than the stored one."""
    current = {key: entry for key, entry in (consent or {}).items() if isinstance(entry, dict)}
    winners: dict[str, dict[str, Any]] = {}
    for change in sorted(changes, key=lambda change: stored_time(change.recorded_at)):
        stored = current.get(change.key, {}).get("recorded_at")
        if stored is None or change.value()["recorded_at"] > str(stored):
            current[change.key] = winners[change.key] = change.value()
    return winners


def consent_granted(consent: dict[str, Any] | None, channel: str, purpose: str) -> bool:
    """May `channel` carry a `purpose` message? Marketing needs a grant; transactional is allowed unless refused."""
    entry = (consent or {}).get(consent_key(channel, purpose))
    if not isinstance(entry, dict) or "granted" not in entry:
        return purpose in ALLOWED_UNLESS_REFUSED
    return bool(entry["granted"])


def consent_change_from_row(row: dict[str, Any], source: str) -> ConsentChange:
    """A canonical `consents` row as a statement (purpose defaults to marketing, source to the file's)."""
    return ConsentChange(
        channel=row["channel"],
        purpose=row.get("purpose") or "marketing",
        granted=bool(row["granted"]),
        recorded_at=row["recorded_at"],
        source=row.get("source") or source,
    )
