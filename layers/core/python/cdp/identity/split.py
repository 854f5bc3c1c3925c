"""Undoing a merge from its edge: the loser comes back under its own id with what was, or became, its own.

The loser's profile item is put back from the merge edge's snapshot (clearing the redirect). It takes back the
identifiers the merge moved (those still on the survivor), the ledger records that came from its side, and the
records applied after the merge whose identifiers are all among its own. Attributes the survivor took from the
loser return to their pre-merge values unless changed since. Both sides' aggregates are recomputed with
`aggregate_profile`, and an `unmerge` edge (naming the merge it undoes) is appended: edges are never rewritten.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdp.adapters.identity_store import IdentityStore, count_attribute, parse_identifier
from cdp.identity.merge import recompute_aggregates
from cdp.observability import logger


class SplitRefused(ValueError):
    """The split cannot be made: no such live profile, no such merge, or it was already undone."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class SplitOutcome:
    edge_id: str
    undoes: str
    survivor: str
    restored: str
    identifiers: tuple[str, ...]
    records: tuple[str, ...]


def _arrived_for_loser_only(record: dict[str, Any], merged_at: datetime, loser_identifiers: set[str]) -> bool:
    """A record applied after the merge that carries identifiers, all of them the loser's."""
    identifiers = set(record.get("identifiers") or [])
    try:
        applied_at = datetime.fromisoformat(str(record.get("applied_at")))
    except ValueError:
        return False
    if applied_at.tzinfo is None:
        applied_at = applied_at.replace(tzinfo=merged_at.tzinfo)
    return applied_at > merged_at and bool(identifiers) and identifiers <= loser_identifiers


def _merge_to_undo(store: IdentityStore, survivor: str, edge_id: str | None) -> dict[str, Any]:
    edges = store.edges(survivor)
    undone = {edge.get("undoes") for edge in edges if edge["kind"] == "unmerge"}
    merges = [edge for edge in edges if edge["kind"] == "merge" and edge["to_profile"] == survivor]
    if edge_id is not None:
        merges = [edge for edge in merges if edge["edge_id"] == edge_id]
        if not merges:
            raise SplitRefused(f"profile {survivor} has no merge edge {edge_id}", 404)
        if edge_id in undone:
            raise SplitRefused(f"merge {edge_id} was already undone", 409)
        return merges[0]
    pending = [edge for edge in merges if edge["edge_id"] not in undone]
    if not pending:
        raise SplitRefused(f"profile {survivor} has no merge left to undo", 409)
    return pending[0]  # newest first


def split_profile(
    store: IdentityStore, profile_id: str, edge_id: str | None, cause: str, now: datetime
) -> SplitOutcome:
    """Undo one merge into `profile_id` (the latest not yet undone when `edge_id` is None)."""
    survivor = store.get_profile(profile_id)
    if survivor is None:
        raise SplitRefused(f"no profile {profile_id}", 404)
    if "redirect_to" in survivor:
        raise SplitRefused(f"profile {profile_id} was merged into {survivor['redirect_to']}; split that one", 409)
    merge = _merge_to_undo(store, profile_id, edge_id)
    loser_id = merge["from_profile"]
    loser_identifiers = {parse_identifier(text) for text in merge["identifiers"]}
    bound = store.find_bound(loser_identifiers)
    moving = sorted(identifier for identifier in loser_identifiers if bound.get(identifier) == profile_id)
    merged_at = datetime.fromisoformat(merge["at"])
    loser_texts = set(merge["identifiers"])
    from_records = set(merge["from_records"])
    returning = [
        record
        for record in store.records_of(profile_id)
        if record["pk"] in from_records or _arrived_for_loser_only(record, merged_at, loser_texts)
    ]
    records = [record["pk"] for record in returning]
    survivor_counts = Counter(t for t, _ in store.members(profile_id)) - Counter(t for t, _ in moving)
    survivor_values: dict[str, Any] = {count_attribute(t): survivor_counts[t] for t, _ in moving}
    for name, taken in merge["attributes_taken"].items():
        if survivor.get(name) == taken["after"]:
            survivor_values[name] = taken["before"]
    snapshot = {**merge["from_snapshot"], "updated_at": now.isoformat()}
    snapshot.update({count_attribute(t): count for t, count in Counter(t for t, _ in moving).items()})
    edge = {
        "edge_id": uuid.uuid4().hex,
        "kind": "unmerge",
        "undoes": merge["edge_id"],
        "at": now.isoformat(),
        "from_profile": profile_id,
        "to_profile": loser_id,
        "cause": cause,
        "identifiers": [f"{t}#{v}" for t, v in moving],
        "records": sorted(records),
    }
    store.restore(snapshot, survivor, survivor_values, edge)
    for identifier in moving:
        store.move_identifier(identifier, profile_id, loser_id)
    moved = [record for record in returning if store.move_record(record["pk"], profile_id, loser_id)]
    recompute_aggregates(store, loser_id, arrived=moved)
    recompute_aggregates(store, profile_id, left=[record["pk"] for record in moved])
    logger.info("merge undone", extra={"survivor": profile_id, "restored": loser_id, "undoes": merge["edge_id"]})
    return SplitOutcome(
        edge["edge_id"], merge["edge_id"], profile_id, loser_id, tuple(edge["identifiers"]), tuple(records)
    )
