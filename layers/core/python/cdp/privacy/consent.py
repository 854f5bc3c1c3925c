"""Consent per `<channel>:<purpose>` on the profile item: which record wins, and whether a message may be sent.

Layout (profile item): `consent["email:marketing"] = {granted, source, recorded_at}` (the current statement per key)
and `consent_statements` (how many the history holds). Every statement received is also kept, append-only, as a
history item (see cdp.adapters.privacy_store). A newer `recorded_at` wins; an older statement arriving late joins the
history but never overrides a newer one (the write is conditional on the stored times). A batch's statements about
one profile are planned together and written at once. Marketing is sent only on an explicit grant; transactional
messages are allowed unless explicitly refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from cdp.identity.resolution import resolve_batch
from cdp.identity.rules import Identifier
from cdp.profiles.apply import ProfileOutcome

Channel = Literal["email", "sms", "push"]
Purpose = Literal["marketing", "transactional", "profiling"]
CHANNELS: tuple[str, ...] = ("email", "sms", "push")
PURPOSES: tuple[str, ...] = ("marketing", "transactional", "profiling")
ALLOWED_UNLESS_REFUSED: frozenset[str] = frozenset({"transactional"})
CUSTOMER_CONSENT_COLUMNS = {"email_consent": "email", "sms_consent": "sms"}
IDENTIFIER_COLUMNS = ("customer_id", "email", "phone")


@dataclass(frozen=True)
class ConsentChange:
    """One statement of consent for a channel and purpose, as of `recorded_at`."""

    channel: str
    purpose: str
    granted: bool
    recorded_at: datetime
    source: str

    @property
    def key(self) -> str:
        return consent_key(self.channel, self.purpose)

    def value(self) -> dict[str, Any]:
        return {"granted": self.granted, "source": self.source, "recorded_at": stored_time(self.recorded_at)}

    def statement(self) -> dict[str, Any]:
        """The history entry: channel, purpose, granted, source, recorded_at."""
        return {"channel": self.channel, "purpose": self.purpose, **self.value()}


class ConsentWriter(Protocol):
    profiles_table_name: str
    ledger_table_name: str

    def record_consents_batch(
        self, changes_by_profile: Mapping[str, list[ConsentChange]], now: datetime
    ) -> dict[str, list[bool]]: ...


def newest_per_key(consent: dict[str, Any] | None, changes: list[ConsentChange]) -> dict[str, dict[str, Any]]:
    """The entries these statements set: per key the newest of them, where it is newer than the stored one."""
    current = {key: entry for key, entry in (consent or {}).items() if isinstance(entry, dict)}
    winners: dict[str, dict[str, Any]] = {}
    for change in sorted(changes, key=lambda change: stored_time(change.recorded_at)):
        stored = current.get(change.key, {}).get("recorded_at")
        if stored is None or change.value()["recorded_at"] > str(stored):
            current[change.key] = winners[change.key] = change.value()
    return winners


def became_current(change: ConsentChange, winners: dict[str, dict[str, Any]]) -> bool:
    return winners.get(change.key) == change.value()


def consent_key(channel: str, purpose: str) -> str:
    return f"{channel}:{purpose}"


def stored_time(moment: datetime) -> str:
    """UTC ISO text with microseconds, so stored times compare correctly as strings in a condition."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def consent_granted(consent: dict[str, Any] | None, channel: str, purpose: str) -> bool:
    """May `channel` carry a `purpose` message? Marketing needs a grant; transactional is allowed unless refused."""
    entry = (consent or {}).get(consent_key(channel, purpose))
    if not isinstance(entry, dict) or "granted" not in entry:
        return purpose in ALLOWED_UNLESS_REFUSED
    return bool(entry["granted"])


def migrate_flat_consent(consent: dict[str, Any]) -> dict[str, Any]:
    """Today's flat `consent[channel] = {granted, source, updated_at}` items in the `<channel>:marketing` layout."""
    migrated: dict[str, Any] = {}
    for key, entry in consent.items():
        if ":" in key or not isinstance(entry, dict):
            migrated[key] = entry
            continue
        recorded_at = entry.get("recorded_at") or entry.get("updated_at")
        migrated.setdefault(
            consent_key(key, "marketing"),
            {"granted": bool(entry.get("granted")), "source": entry.get("source"), "recorded_at": recorded_at},
        )
    return migrated


def consent_changes_from_customer_row(row: dict[str, Any], source: str, observed_at: datetime) -> list[ConsentChange]:
    """A customers row's email_consent / sms_consent columns as `email:marketing` / `sms:marketing` statements."""
    return [
        ConsentChange(channel, "marketing", bool(row[column]), observed_at, source)
        for column, channel in CUSTOMER_CONSENT_COLUMNS.items()
        if row.get(column) is not None
    ]


def consent_change_from_row(row: dict[str, Any], source: str) -> ConsentChange:
    """A canonical `consents` row as a statement (purpose defaults to marketing, source to the file's)."""
    return ConsentChange(
        channel=row["channel"],
        purpose=row.get("purpose") or "marketing",
        granted=bool(row["granted"]),
        recorded_at=row["recorded_at"],
        source=row.get("source") or source,
    )


def row_identifiers(row: dict[str, Any]) -> list[Identifier]:
    return [(name, str(row[name])) for name in IDENTIFIER_COLUMNS if row.get(name) not in (None, "")]


def apply_consent_records(
    store: ConsentWriter, rows: list[dict[str, Any]], source: str, now: datetime
) -> ProfileOutcome:
    """Apply a batch of canonical `consents` rows: resolve each person, then one write per profile for all of its
    statements (the newest per key wins; every statement joins the history).

    Rows without any identifier are guests (counted, skipped).
    """
    outcome = ProfileOutcome()
    resolved = resolve_batch(store, [row_identifiers(row) for row in rows], cause=f"consent:{source}", now=now)
    outcome.created = len(resolved.created)
    by_profile: dict[str, list[ConsentChange]] = defaultdict(list)
    for row, profile_id in zip(rows, resolved.profile_ids):
        if profile_id is None:
            outcome.guest_records += 1
            continue
        by_profile[profile_id].append(consent_change_from_row(row, source))
    touched: set[str] = set()
    for profile_id, became_current_by_change in store.record_consents_batch(by_profile, now).items():
        applied = sum(became_current_by_change)
        outcome.records_applied += applied
        if applied:
            touched.add(profile_id)
    outcome.updated = len(touched - resolved.created)
    return outcome
