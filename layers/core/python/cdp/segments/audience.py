"""Audience export: a segment's members as a CSV of contacts and as SHA-256 hashes of normalised emails and E.164
phones (ad platforms' custom audiences), from the latest membership snapshot.

Only people who may be reached for marketing on that channel are exported: an email when `email:marketing` is
granted, a phone when `sms:marketing` is; a member with neither is left out and counted. Erased people are gone
from the profiles (and their identifiers in the erased register), so a member of an older snapshot whose profile
no longer exists, or whose identifiers are registered as erased, is left out and counted. Emails are hashed as
cdp.identifiers.normalise_email writes them (trimmed, lower case), phones as E.164 with the `+`.

Delivery: an export up to the inline limit (under Lambda's 6 MB response) is answered in the response itself; a
larger one is stored in the exports bucket and answered with a pre-signed URL that fetches it for a short while
(the bucket's lifecycle rule deletes the object soon after). Either way it is the same CSV, with the same people
left out.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cdp.errors import NotFound
from cdp.identifiers import normalise_email, normalise_phone

CHANNEL_CONSENT = {"email": "email:marketing", "phone": "sms:marketing"}


class Contacts(Protocol):
    def profiles(self, profile_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The profile items that exist (email, phone, consent), by profile id."""
        ...


class Members(Protocol):
    def latest(self) -> dict[str, Any] | None: ...

    def members(self, segment: str) -> list[str]: ...


class ExportFiles(Protocol):
    def publish(self, key: str, body: bytes, content_type: str, lifetime: timedelta) -> str:
        """Store `body` under `key` and answer a pre-signed URL that fetches it for `lifetime`."""
        ...


@dataclass(frozen=True)
class AudienceLink:
    """Where a stored export can be fetched, until when."""

    url: str
    expires_at: datetime
    key: str
    size_bytes: int


@dataclass(frozen=True)
class AudienceExport:
    segment: str
    run_id: str
    members: int
    exported: int
    emails: int
    phones: int
    left_out_erased: int
    left_out_without_consent: int
    contacts_csv: bytes
    hashed_csv: bytes

    def summary(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("segment", "run_id", "members", "exported", "emails", "phones",
                                                       "left_out_erased", "left_out_without_consent")}  # fmt: skip

    def body(self, chosen: str) -> bytes:
        """The export in a format: `csv` (contacts) or `sha256` (hashes)."""
        return self.contacts_csv if chosen == "csv" else self.hashed_csv


def deliver_audience(
    export: AudienceExport, chosen: str, files: ExportFiles, inline_limit: int, lifetime: timedelta, now: datetime
) -> bytes | AudienceLink:
    """The export's body when it fits `inline_limit` bytes; otherwise stored (under a key naming the segment, run,
    format and moment) and linked for `lifetime`."""
    body = export.body(chosen)
    if len(body) <= inline_limit:
        return body
    key = f"audiences/{export.segment}/{export.run_id}/{chosen}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.csv"
    url = files.publish(key, body, "text/csv", lifetime)
    return AudienceLink(url=url, expires_at=now + lifetime, key=key, size_bytes=len(body))


def _granted(item: dict[str, Any], key: str) -> bool:
    entry = (item.get("consent") or {}).get(key)
    return isinstance(entry, dict) and entry.get("granted") is True


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def export_audience(
    segment: str, snapshot: Members, contacts: Contacts, erased: Callable[[list[tuple[str, str]]], set[tuple[str, str]]],
    phone_region: str,
) -> AudienceExport:
    """The segment's reachable members from the latest snapshot (NotFound: no snapshot, or no such segment in it).
    `erased` answers which of the (type, value) identifiers given are in the erased register."""
    latest = snapshot.latest()
    if latest is None or segment not in latest.get("sizes", {}):
        raise NotFound(f"no segment {segment!r} in the latest segment run")
    members = snapshot.members(segment)
    items = contacts.profiles(members)
    rows: list[tuple[str, str | None, str | None]] = []
    for profile_id in members:
        item = items.get(profile_id)
        if item is None:
            continue
        email = normalise_email(item.get("email")) if _granted(item, CHANNEL_CONSENT["email"]) else None
        phone = normalise_phone(item.get("phone"), phone_region) if _granted(item, CHANNEL_CONSENT["phone"]) else None
        rows.append((profile_id, email, phone))
    identifiers = [(kind, value) for _, email, phone in rows for kind, value in (("email", email), ("phone", phone))
                   if value]  # fmt: skip
    gone = erased(identifiers)
    kept = [row for row in rows if not ({("email", row[1]), ("phone", row[2])} & gone)]
    reachable = [row for row in kept if row[1] or row[2]]
    contacts_csv, hashed_csv = io.StringIO(), io.StringIO()
    plain, hashed = csv.writer(contacts_csv, lineterminator="\n"), csv.writer(hashed_csv, lineterminator="\n")
    plain.writerow(["profile_id", "email", "phone"])
    hashed.writerow(["email_sha256", "phone_sha256"])
    for profile_id, email, phone in reachable:
        plain.writerow([profile_id, email or "", phone or ""])
        hashed.writerow([sha256(email) if email else "", sha256(phone) if phone else ""])
    return AudienceExport(
        segment=segment, run_id=latest["run_id"], members=len(members), exported=len(reachable),
        emails=sum(1 for row in reachable if row[1]), phones=sum(1 for row in reachable if row[2]),
        left_out_erased=len(members) - len(kept), left_out_without_consent=len(kept) - len(reachable),
        contacts_csv=contacts_csv.getvalue().encode(), hashed_csv=hashed_csv.getvalue().encode(),
    )  # fmt: skip
