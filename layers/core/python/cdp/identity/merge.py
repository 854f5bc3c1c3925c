"""Merging two profiles an input links, under the identity rules, with an append-only edge per decision.

- Guardrail: two profiles that each hold a customer id are never merged; nor are two whose identifiers together
  exceed a type's limit. Either way a `conflict` edge is appended and every identifier stays where it was.
- Survivor: the profile holding a customer id; otherwise the older one (`created_at`, then the smaller id).
- Attributes: newer non-null wins (a loser's value is taken where the survivor has none, or where the loser was
  updated more recently); consent per `channel:purpose`, the newer record wins. Aggregates are recomputed from the
  ledger with `aggregate_profile`; segment scores are left to the next segment run.
- The loser's item stays as a redirect (`redirect_to`, `merged_at`); its identity items, memberships and ledger
  records move to the survivor. The merge edge (`PROFILE#<survivor>` / `EDGE#<at>#<edge id>`) keeps what a split
  needs: the loser's snapshot, the identifiers moved and both sides' record keys.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdp.adapters.identity_store import ConcurrentChange, IdentityStore, count_attribute, identifier_text
from cdp.identity.rules import Identifier, IdentityRules
from cdp.observability import logger
from cdp.profiles.aggregates import aggregate_profile

IDENTITY_ATTRIBUTES = frozenset(
    {"pk", "sk", "profile_id", "created_at", "updated_at", "identity_version", "redirect_to", "merged_at"}
)
SEGMENT_ATTRIBUTES = frozenset({"rfm", "lifecycle_stage", "segments"})


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
    skipped = IDENTITY_ATTRIBUTES | SEGMENT_ATTRIBUTES | set(aggregate_profile([])) | {"consent"}
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


def recompute_aggregates(
    store: IdentityStore, profile_id: str, arrived: Iterable[dict[str, Any]] = (), left: Iterable[str] = ()
) -> None:
    """Every aggregate attribute of the profile, recomputed from its ledger records.

    The ByProfile index is eventually consistent, so the records just moved in (`arrived`) and out (`left`, keys)
    are applied to what the index lists rather than trusted to have reached it.
    """
    records = {record["pk"]: record for record in store.records_of(profile_id)}
    records.update({record["pk"]: record for record in arrived})
    for record_pk in left:
        records.pop(record_pk, None)
    store.set_attributes(profile_id, aggregate_profile(records.values()))


def _refusal(
    store: IdentityStore,
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
    store: IdentityStore,
    rules: IdentityRules,
    kept: str,
    other: str,
    linked_by: list[Identifier],
    cause: str,
    now: datetime,
) -> MergeEdge | None:
    """Merge two live profiles an input links, or record why not (None). ConcurrentChange: re-read and retry."""
    profiles = {profile_id: store.get_profile(profile_id) for profile_id in (kept, other)}
    if any(item is None or "redirect_to" in item for item in profiles.values()):
        raise ConcurrentChange("a linked profile was merged meanwhile")
    kept_item, other_item = profiles[kept], profiles[other]
    assert kept_item is not None and other_item is not None
    combined = _counts(kept_item) + _counts(other_item)
    if _counts(kept_item)["customer_id"] and _counts(other_item)["customer_id"]:
        _refusal(store, kept, other, linked_by, "both profiles hold a customer id", cause, now)
        return None
    over = sorted(t for t, count in combined.items() if count > rules.limit(t))
    if over:
        _refusal(
            store, kept, other, linked_by, f"merged profile would exceed the limit of {', '.join(over)}", cause, now
        )
        return None
    survivor, loser = (kept_item, other_item) if _survivor_first(kept_item, other_item) else (other_item, kept_item)
    loser_members = store.members(loser["profile_id"])
    changes = merged_attributes(survivor, loser)
    changes.update({count_attribute(t): count for t, count in combined.items()})
    edge = {
        "edge_id": uuid.uuid4().hex,
        "kind": "merge",
        "at": now.isoformat(),
        "from_profile": loser["profile_id"],
        "to_profile": survivor["profile_id"],
        "cause": cause,
        "linked_by": [identifier_text(i) for i in linked_by],
        "identifiers": sorted(identifier_text(i) for i in loser_members),
        "from_records": sorted(r["pk"] for r in store.records_of(loser["profile_id"])),
        "to_records": sorted(r["pk"] for r in store.records_of(survivor["profile_id"])),
        "from_snapshot": {k: v for k, v in loser.items() if k not in ("pk", "sk")},
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
    move_profile_contents(store, loser["profile_id"], survivor["profile_id"], loser_members)
    return MergeEdge(edge["edge_id"], loser["profile_id"], survivor["profile_id"], cause, tuple(edge["identifiers"]))


def move_profile_contents(
    store: IdentityStore, from_profile: str, to_profile: str, identifiers: list[Identifier]
) -> None:
    """Move identifiers and every ledger record still on `from_profile`, then recompute the survivor's aggregates."""
    for identifier in identifiers:
        store.move_identifier(identifier, from_profile, to_profile)
    moved = [
        record for record in store.records_of(from_profile) if store.move_record(record["pk"], from_profile, to_profile)
    ]
    recompute_aggregates(store, to_profile, arrived=moved)
