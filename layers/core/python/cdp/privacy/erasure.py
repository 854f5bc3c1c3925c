"""Erasure (GDPR art. 17, PIPL art. 47), DynamoDB part: a person's items deleted, their identifiers remembered hashed.

`erase_profile` follows redirects, then deletes every item of the profile and of the profiles merged into it (profile,
identifier memberships, merge edges, send records, frequency-cap windows, journey entries, coupon issuances, identity
items, ledger orders/events/records, segment memberships and live segment timers, coupon codes, deferred messages, the suppression items of their addresses,
the natural-key items of customers and consents rows that name an identifier of theirs), registers each identifier it held in the erased register (`ERASED` / `<sha256(salt + "<type>#<value>")>`), and
writes an `ERASURE#<id>` status item (no PII: the digests and counts) that the asynchronous S3 part (cdp.privacy.erase_objects) completes.
`erase_identifiers` erases by identifiers instead (a shop's `customers/redact`): every live profile holding one of
them, and the identifiers no profile holds, which are still registered erased and searched for in S3 (a guest's
orders carry an email but have no profile).
`drop_erased` keeps an erased person's rows out of later ingests, so a re-dropped file does not resurrect them;
`erased_flags` answers, for many rows' digests at once (`row_digests` for canonical rows, `record_digests` for
original rows of any layout), which rows belong to an erased person, in one read of the register (whole or by key).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from cdp.canonical import IDENTIFIER_TYPES, Identifier
from cdp.errors import Invalid, NotFound
from cdp.events import DomainEvent
from cdp.identity.resolution import current_profile_id
from cdp.identity.rules import DEFAULT_RULES
from cdp.keys import (
    DEFERRED_PREFIX,
    MEMBER_PREFIX,
    identifier_of_identity_pk,
    identifier_suppression_key,
    parse_identifier,
)
from cdp.privacy.ports import ErasedRegister, LiveProfiles, PersonalData
from cdp.privacy.requests import ID_PATTERN

ERASABLE_COLUMNS = IDENTIFIER_TYPES
ERASURE_REQUESTED = "Erasure Requested"
PRIVACY_EVENTS_SOURCE = "cdp.privacy"


def identifier_digest(salt: str, identifier: Identifier) -> str:
    return hashlib.sha256(f"{salt}{identifier[0]}#{identifier[1]}".encode()).hexdigest()


def row_digests(salt: str, row: dict[str, Any]) -> set[str]:
    """Digests of the row's identifiers, normalised as identity resolution stores them."""
    identifiers = DEFAULT_RULES.usable((name, row.get(name)) for name in ERASABLE_COLUMNS)
    return {identifier_digest(salt, identifier) for identifier in identifiers}


def record_strings(record: Any) -> Iterator[str]:
    """Every string anywhere in a JSON-like record (an original row, whatever its column names)."""
    if isinstance(record, dict):
        for value in record.values():
            yield from record_strings(value)
    elif isinstance(record, list):
        for value in record:
            yield from record_strings(value)
    elif isinstance(record, str):
        yield record


def record_digests(salt: str, record: Any, phone_region: str) -> set[str]:
    """Digests of every string anywhere in a JSON-like record, each read as every erasable identifier type (a
    national phone number in `phone_region`), as the S3 part of erasure matches quarantined rows."""
    strings = record_strings(record)
    identifiers = (DEFAULT_RULES.normalise(name, text, phone_region) for text in strings for name in ERASABLE_COLUMNS)
    return {identifier_digest(salt, identifier) for identifier in identifiers if identifier is not None}


def erased_flags(store: ErasedRegister, digest_sets: list[set[str]]) -> list[bool]:
    """For each row's digests, whether any is erased: one batched read of the register for all of them."""
    if not any(digest_sets):
        return [False] * len(digest_sets)
    erased = store.erased_among(digest for digests in digest_sets for digest in digests)
    return [bool(digests & erased) for digests in digest_sets]


def drop_erased(store: ErasedRegister, rows: list[dict[str, Any]], salt: str) -> tuple[list[dict[str, Any]], int]:
    """The rows that carry no erased identifier, and how many were dropped (one batched read)."""
    flags = erased_flags(store, [row_digests(salt, row) for row in rows])
    kept = [row for row, erased in zip(rows, flags) if not erased]
    return kept, len(rows) - len(kept)


def drop_erased_links(store: ErasedRegister, links: list[list[Identifier]], salt: str) -> list[list[Identifier]]:
    """The identifier sets to link that hold no erased identifier (one batched read), so linking cannot bind an
    erased person's identifier again."""
    if not links:
        return []
    digest_sets = [{identifier_digest(salt, i) for i in DEFAULT_RULES.usable(link)} for link in links]
    return [link for link, erased in zip(links, erased_flags(store, digest_sets)) if not erased]


def _identifiers_of(items: Iterable[dict[str, Any]]) -> set[Identifier]:
    """Every identifier these items name: memberships, identity attributes, ledger records' and edges' lists."""
    found: set[Identifier] = set()
    for item in items:
        if str(item.get("sk", "")).startswith(MEMBER_PREFIX):
            found.add(parse_identifier(item["sk"][len(MEMBER_PREFIX) :]))
        if item.get("sk") == "PROFILE":
            found.update(DEFAULT_RULES.usable((name, item.get(name)) for name in ERASABLE_COLUMNS))
        for text in item.get("identifiers") or ():
            found.add(parse_identifier(str(text)))
    return found


def merged_profiles(store: PersonalData, profile_id: str) -> list[str]:
    """The profile and every profile merged into it (transitively): merge edges whose loser still redirects here.

    Conflict edges (another person, linked but not merged) and profiles split off again are not followed.
    """
    found = [profile_id]
    pending = [profile_id]
    while pending:
        current = pending.pop()
        for item in store.profile_items(current):
            loser_id = str(item.get("from_profile", ""))
            if not str(item.get("sk", "")).startswith("EDGE#") or item.get("kind") != "merge" or loser_id in found:
                continue
            loser = store.profile_consistently(loser_id)
            if loser is not None and loser.get("redirect_to") == current:
                found.append(loser_id)
                pending.append(loser_id)
    return found


def erase_profile(store: PersonalData, profile_id: str, salt: str, now: datetime) -> dict[str, Any] | None:
    """Erase the person's DynamoDB items; the ERASURE status item, or None when no such profile exists."""
    live = current_profile_id(store, profile_id)
    if live is None:
        return None
    profiles = merged_profiles(store, live)
    profile_items = [item for pid in profiles for item in store.profile_items(pid)]
    ledger_items = [item for pid in profiles for item in store.ledger_items(pid)]
    bound = store.items_naming(profiles)
    identity_items = [item for item in bound if item["sk"] == "IDENTITY"]
    memberships = [item for item in bound if str(item["pk"]).startswith(("SEGMENT#", "TIMER#"))]
    messaging = [item for item in bound if str(item["pk"]).startswith(("COUPON#", DEFERRED_PREFIX))]
    others_edges = [item for item in bound if str(item["sk"]).startswith("EDGE#")]
    identifiers = _identifiers_of(profile_items + ledger_items) | {
        identifier_of_identity_pk(str(item["pk"])) for item in identity_items
    }
    digests = sorted(identifier_digest(salt, identifier) for identifier in identifiers)
    suppressions = [key for identifier in identifiers if (key := identifier_suppression_key(identifier)) is not None]
    erasure_id = uuid.uuid4().hex
    erasure: dict[str, Any] = {
        "erasure_id": erasure_id,
        "profile_id": live,
        "requested_id": profile_id,
        "merged_profiles": profiles[1:],
        "status": "objects_pending",
        "requested_at": now.isoformat(),
        "identifier_digests": digests,
    }
    store.put_erasure(erasure)  # first, so an interrupted erasure is still on record with what it must remove
    store.mark_erased(digests, erasure_id, now.isoformat())
    erasure["deleted"] = {
        "profile_items": store.delete_profile_items(profile_items),
        "identity_items": store.delete_profile_items(identity_items),
        "segment_memberships": store.delete_profile_items(memberships),
        "coupon_codes_and_deferred_messages": store.delete_profile_items(messaging),
        "suppression_addresses_cleared": store.delete_profile_items(suppressions),  # the erased register suppresses them now
        "ledger_items": store.delete_ledger_items(ledger_items),
        "other_profiles_edges_scrubbed": store.scrub_edges(others_edges),
        "natural_keys": store.forget_natural_keys(sorted({value for _, value in identifiers})),
    }
    store.update_erasure(erasure_id, {"deleted": erasure["deleted"]})
    return erasure


def live_profiles_holding(store: LiveProfiles, identifiers: Iterable[Identifier]) -> list[str]:
    """The live profiles (redirects followed) these identifiers are bound to, each once, in identifier order."""
    bound = store.find_bound(DEFAULT_RULES.usable(identifiers))
    live = store.live_profile_ids(list(dict.fromkeys(bound.values())))
    return list(dict.fromkeys(profile_id for profile_id in live.values() if profile_id is not None))


def erase_identifiers(
    store: PersonalData, identifiers: Iterable[Identifier], salt: str, now: datetime
) -> list[dict[str, Any]]:
    """Erase every profile holding one of the identifiers; identifiers left over (nobody holds them, or a profile
    held them once) get an erasure of their own with no profile, so later ingests drop them and S3 is searched."""
    usable = DEFAULT_RULES.usable(identifiers)
    erasures = [
        erasure
        for profile_id in live_profiles_holding(store, usable)
        if (erasure := erase_profile(store, profile_id, salt, now)) is not None
    ]
    covered = {digest for erasure in erasures for digest in erasure["identifier_digests"]}
    left = sorted({identifier_digest(salt, identifier) for identifier in usable} - covered)
    if left:
        erasure = {
            "erasure_id": uuid.uuid4().hex,
            "status": "objects_pending",
            "requested_at": now.isoformat(),
            "identifier_digests": left,
            "deleted": {},
        }
        store.put_erasure(erasure)
        store.mark_erased(left, erasure["erasure_id"], now.isoformat())
        erasures.append(erasure)
    return erasures


def erasure_status(erasure: dict[str, Any]) -> dict[str, Any]:
    """An erasure as the API shows it: status and counts (the digests stay internal)."""
    return {name: value for name, value in erasure.items() if name not in ("pk", "sk", "identifier_digests")}


def request_erasure(
    store: PersonalData, publish: Callable[[list[DomainEvent]], object], profile_id: str, salt: str, now: datetime
) -> dict[str, Any]:
    """DELETE /v1/profiles/{id}: erase the person's DynamoDB items now and announce `Erasure Requested` (the S3
    part follows); the erasure as the API shows it. Invalid for a malformed id, NotFound for an unknown profile."""
    if not ID_PATTERN.match(profile_id):
        raise Invalid("malformed profile id")
    erasure = erase_profile(store, profile_id, salt, now)
    if erasure is None:
        raise NotFound("no such profile")
    publish([DomainEvent(PRIVACY_EVENTS_SOURCE, ERASURE_REQUESTED, {"erasure_id": erasure["erasure_id"]})])
    return erasure


def erasure_of(store: PersonalData, erasure_id: str) -> dict[str, Any]:
    """GET /v1/erasures/{id}: the erasure's status and counts; NotFound for an unknown or malformed id."""
    erasure = store.get_erasure(erasure_id) if ID_PATTERN.match(erasure_id) else None
    if erasure is None:
        raise NotFound("no such erasure")
    return erasure_status(erasure)
