"""Merging two profiles an input links, under the identity rules, with an append-only edge per decision.

- Guardrail: two profiles that each hold a customer id are never merged; nor are two whose identifiers together
  exceed a type's limit. Either way a `conflict` edge is appended and every identifier stays where it was.
- Survivor: the profile holding a customer id; otherwise the older one (`created_at`, then the smaller id).
- Attributes: newer non-null wins (a loser's value is taken where the survivor has none, or where the loser was
  updated more recently); consent per `channel:purpose`, the newer record wins. Aggregates: the loser's records are
  folded into the survivor's (equal to `aggregate_profile` over both); segment scores are left to the next run.
- The loser's item stays as a redirect (`redirect_to`, `merged_at`, `merge_edge`); its identity items and memberships
  move to the survivor, then its ledger records in transactions of up to 98 that also fold them into the survivor's
  aggregates (`fold_records`) under the survivor's versions, so a record that `apply_records` adds to either profile
  meanwhile is counted exactly once: before the redirect it is on the loser and moves; after it, the application's
  own versioned transaction fails, and it re-reads, follows the redirect and lands on the survivor.
- A profile pair a split separated (`split_from`) is never merged again automatically: a `conflict` edge instead.
- The merge edge (`PROFILE#<survivor>` / `EDGE#<at>#<edge id>`) keeps what a split needs and stays small whatever the
  profiles hold: the loser's snapshot without its aggregates, and the identifiers moved (bounded by the limits).
  Records are not listed: each moved record names the merge in its `merged_by`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdp.errors import ConcurrentChange
from cdp.identity.ports import IdentityRepository, RecordMove
from cdp.identity.rules import Identifier, IdentityRules
from cdp.keys import count_attribute, identifier_text
from cdp.observability import logger
from cdp.profiles.aggregates import AGGREGATE_ATTRIBUTES, aggregate_profile, fold_records
from cdp.retry import backoff

IDENTITY_ATTRIBUTES = frozenset(
    {
        "pk",
        "sk",
        "profile_id",
        "created_at",
        "updated_at",
        "identity_version",
        "aggregates_version",
        "redirect_to",
        "merged_at",
        "merge_edge",
        "split_from",
    }
)
SEGMENT_ATTRIBUTES = frozenset({"rfm", "lifecycle_stage", "segments"})
MOVES_PER_TRANSACTION = 98  # with up to two profile updates, within DynamoDB's 100 items per transaction
MOVE_ATTEMPTS = 25
INDEX_CATCH_UP_ATTEMPTS = 6


@dataclass(frozen=True)
class MergeEdge:
    """One merge made: `from_profile` now redirects to `to_profile`."""

    edge_id: str
    from_profile: str
    to_profile: str
    cause: str
    identifiers: tuple[str, ...]


def _counts(profile: dict[str, Any]) -> Counter[str]:
    """How many identifiers of each type the profile holds (kept on the profile item by every bind and merge)."""
    prefix = count_attribute("")
    return Counter({name[len(prefix) :]: int(value) for name, value in profile.items() if name.startswith(prefix)})


def _consent_time(consent: Any) -> str:
    return str(consent.get("recorded_at") or consent.get("updated_at") or "") if isinstance(consent, dict) else ""


def merged_attributes(survivor: dict[str, Any], loser: dict[str, Any]) -> dict[str, Any]:
    """What the survivor takes from the loser: newer non-null wins; consent entry by entry, newer wins."""
    skipped = IDENTITY_ATTRIBUTES | SEGMENT_ATTRIBUTES | set(AGGREGATE_ATTRIBUTES) | {"consent", "consent_statements"}
    loser_newer = str(loser.get("updated_at", "")) > str(survivor.get("updated_at", ""))
    changes: dict[str, Any] = {}
    for name, value in loser.items():
        if name in skipped or name.startswith("identifier_count_") or value is None:
            continue
        if (survivor.get(name) is None or loser_newer) and survivor.get(name) != value:
            changes[name] = value
    consent = dict(survivor.get("consent") or {})
    for key, entry in (loser.get("consent") or {}).items():
        if key not in consent or _consent_time(entry) > _consent_time(consent[key]):
            consent[key] = entry
    if consent != (survivor.get("consent") or {}):
        changes["consent"] = consent
    if loser.get("consent_statements"):
        changes["consent_statements"] = int(survivor.get("consent_statements") or 0) + int(loser["consent_statements"])
    split_from = sorted(set(survivor.get("split_from") or []) | set(loser.get("split_from") or []))
    if split_from != sorted(survivor.get("split_from") or []):
        changes["split_from"] = split_from
    return changes


def _survivor_first(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """True when `first` survives: it holds the customer id, or neither does and it is the older."""
    first_known, second_known = (_counts(profile)["customer_id"] > 0 for profile in (first, second))
    if first_known != second_known:
        return first_known
    return (str(first.get("created_at", "")), first["profile_id"]) <= (
        str(second.get("created_at", "")),
        second["profile_id"],
    )


def live_profile(store: IdentityRepository, profile_id: str) -> tuple[dict[str, Any], list[str]]:
    """The live profile `profile_id` is or was merged into, and the merge edges on the way (oldest first)."""
    chain = store.profile_chain(profile_id)
    if not chain:
        raise LookupError(f"profile {profile_id} does not exist")
    return chain[-1], [str(item.get("merge_edge", "")) for item in chain[:-1]]


def indexed_records(store: IdentityRepository, profile_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The profile item and its ledger records, once the ByProfile index has caught up with its aggregates.

    The index is eventually consistent: a record applied just before may not be listed yet. The listing is taken
    when `aggregate_profile` over it equals the aggregates stored on the item (kept exact by every versioned
    write); after a few waits the ledger is taken as it is, and the gap logged.
    """
    attempt = 0
    while True:
        item = store.get_profile(profile_id)
        if item is None:
            raise LookupError(f"profile {profile_id} does not exist")
        records = store.records_of(profile_id)
        if aggregate_profile(records) == fold_records(item, []):
            return item, records
        attempt += 1
        if attempt == INDEX_CATCH_UP_ATTEMPTS:
            logger.warning("ledger index and aggregates disagree; taking the ledger", extra={"profile_id": profile_id})
            return item, records
        time.sleep(0.05 * 2**attempt)


def _refusal(
    store: IdentityRepository,
    kept: str,
    other: str,
    linked_by: list[Identifier],
    reason: str,
    cause: str,
    now: datetime,
) -> None:
    logger.warning(
        "profiles linked but not merged",
        extra={"profile_id": kept, "other_profile_id": other, "reason": reason, "cause": cause},
    )
    store.append_edge(
        kept,
        {
            "edge_id": uuid.uuid4().hex,
            "kind": "conflict",
            "at": now.isoformat(),
            "from_profile": other,
            "to_profile": kept,
            "reason": reason,
            "cause": cause,
            "identifiers": [identifier_text(i) for i in linked_by],
        },
    )


def merge_profiles(
    store: IdentityRepository,
    rules: IdentityRules,
    kept: str,
    other: str,
    linked_by: list[Identifier],
    cause: str,
    now: datetime,
) -> MergeEdge | None:
    """Merge two live profiles an input links, or record why not (None).

    While records keep arriving on either profile the merge is re-read and retried here; ConcurrentChange when one
    of them was merged away meanwhile (re-resolve).
    """
    for attempt in range(MOVE_ATTEMPTS):
        profiles = {profile_id: store.get_profile(profile_id) for profile_id in (kept, other)}
        if any(item is None or "redirect_to" in item for item in profiles.values()):
            raise ConcurrentChange("a linked profile was merged meanwhile")
        kept_item, other_item = profiles[kept], profiles[other]
        assert kept_item is not None and other_item is not None
        refusal = _refusal_reason(store, rules, kept_item, other_item)
        if refusal:
            _refusal(store, kept, other, linked_by, refusal, cause, now)
            return None
        try:
            return _merge(store, kept_item, other_item, linked_by, cause, now)
        except ConcurrentChange:
            backoff(attempt)
    raise ConcurrentChange("the linked profiles kept changing")


def _refusal_reason(
    store: IdentityRepository, rules: IdentityRules, kept_item: dict[str, Any], other_item: dict[str, Any]
) -> str | None:
    """Why the rules refuse to merge these profiles, or None."""
    if _split_apart(store, kept_item, other_item):
        return "a split separated these profiles"
    if _counts(kept_item)["customer_id"] and _counts(other_item)["customer_id"]:
        return "both profiles hold a customer id"
    combined = _counts(kept_item) + _counts(other_item)
    over = sorted(t for t, count in combined.items() if count > rules.limit(t))
    if over:
        return f"merged profile would exceed the limit of {', '.join(over)}"
    return None


def _merge(
    store: IdentityRepository,
    kept_item: dict[str, Any],
    other_item: dict[str, Any],
    linked_by: list[Identifier],
    cause: str,
    now: datetime,
) -> MergeEdge:
    survivor, loser = (kept_item, other_item) if _survivor_first(kept_item, other_item) else (other_item, kept_item)
    loser_members = store.members(loser["profile_id"])
    changes = merged_attributes(survivor, loser)
    changes.update({count_attribute(t): count for t, count in (_counts(kept_item) + _counts(other_item)).items()})
    edge = {
        "edge_id": uuid.uuid4().hex,
        "kind": "merge",
        "at": now.isoformat(),
        "from_profile": loser["profile_id"],
        "to_profile": survivor["profile_id"],
        "cause": cause,
        "linked_by": [identifier_text(i) for i in linked_by],
        "identifiers": sorted(identifier_text(i) for i in loser_members),
        "from_snapshot": {k: v for k, v in loser.items() if k not in ("pk", "sk", *AGGREGATE_ATTRIBUTES)},
        "attributes_taken": {
            name: {"before": survivor.get(name), "after": value}
            for name, value in changes.items()
            if not name.startswith("identifier_count_")
        },
    }
    store.redirect(loser, survivor, changes, edge)
    logger.info(
        "profiles merged", extra={"survivor": survivor["profile_id"], "loser": loser["profile_id"], "cause": cause}
    )
    move_profile_contents(store, loser["profile_id"], survivor["profile_id"], loser_members, edge["edge_id"])
    return MergeEdge(edge["edge_id"], loser["profile_id"], survivor["profile_id"], cause, tuple(edge["identifiers"]))


def _split_apart(store: IdentityRepository, first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Did a split separate these two profiles (or profiles since merged into them)?"""
    for one, other in ((first, second), (second, first)):
        for profile_id in one.get("split_from") or []:
            if profile_id == other["profile_id"] or live_profile(store, profile_id)[0]["profile_id"] == other["profile_id"]:
                return True
    return False


def move_profile_contents(
    store: IdentityRepository, from_profile: str, to_profile: str, identifiers: list[Identifier], edge_id: str
) -> None:
    """Move identifiers, then every ledger record of the (redirected, so frozen) loser into the survivor.

    Each transaction moves up to 98 records and folds them into the live survivor's aggregates under its versions;
    when the survivor changed meanwhile it is re-read (following a redirect, whose merge edges the records also
    record) and the transaction retried, so each record is counted once.
    """
    for identifier in identifiers:
        store.move_identifier(identifier, from_profile, to_profile)
    _, records = indexed_records(store, from_profile)
    pending = {record["pk"]: record for record in records}
    attempt = 0
    while pending:
        survivor, later_edges = live_profile(store, to_profile)
        chunk = list(pending.values())[:MOVES_PER_TRANSACTION]
        moves = [
            RecordMove(
                record["pk"],
                from_profile,
                survivor["profile_id"],
                tuple(record.get("merged_by") or ()),
                (*(record.get("merged_by") or ()), edge_id, *later_edges),
            )
            for record in chunk
        ]
        try:
            store.move_records(moves, [(survivor, fold_records(survivor, chunk))])
        except ConcurrentChange as change:
            for pk in change.moved_away:
                pending.pop(pk, None)
            attempt += 1
            if attempt >= MOVE_ATTEMPTS:
                raise RuntimeError(f"profile {to_profile} kept changing; records not moved") from change
            backoff(attempt)
            continue
        attempt = 0
        for record in chunk:
            pending.pop(record["pk"])
