"""Undoing a merge from its edge: the loser comes back under its own id with what was, or became, its own.

The loser's profile item is put back from the merge edge's snapshot (clearing the redirect, under fresh versions so a
write prepared against the old item cannot land on it), and both sides are marked `split_from` each other, so the
same linking evidence later records a `conflict` instead of merging them again. The loser takes back the
identifiers the merge moved (those still on the survivor), the ledger records the merge brought (the last entry of
their `merged_by` names it) and the records applied after the merge whose identifiers are all among its own.
Attributes the survivor took from the loser return to their pre-merge values unless changed since. Records move in
transactions of up to 98 that also set both sides' aggregates under their versions (the loser's folded, the
survivor's recomputed with `aggregate_profile` from its remaining records), so a record applied to either side
meanwhile is counted once, on the side that holds it. An `unmerge` edge naming the merge is appended.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from cdp.errors import ConcurrentChange, DomainError
from cdp.identity.merge import MOVE_ATTEMPTS, MOVES_PER_TRANSACTION, indexed_records
from cdp.identity.ports import IdentityRepository, RecordMove
from cdp.keys import count_attribute, parse_identifier
from cdp.observability import logger
from cdp.profiles.aggregates import aggregate_profile, fold_records
from cdp.retry import backoff

RESTORE_ATTEMPTS = 10


class SplitRefused(DomainError):
    """The split cannot be made: no such live profile or merge (404), or it was already undone (409)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = HTTPStatus(status)


@dataclass(frozen=True)
class SplitOutcome:
    """The unmerge edge made, the merge it undid, both profiles, and what went back to the restored one."""

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


def _returns(record: dict[str, Any], merge: dict[str, Any]) -> bool:
    """Does the record go back to the loser: the merge brought it, or it arrived later carrying only its ids?"""
    merged_by = list(record.get("merged_by") or [])
    if merged_by:
        return merged_by[-1] == merge["edge_id"]
    return _arrived_for_loser_only(record, datetime.fromisoformat(merge["at"]), set(merge["identifiers"]))


def _merge_to_undo(store: IdentityRepository, survivor: str, edge_id: str | None) -> dict[str, Any]:
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


def _restore(
    store: IdentityRepository, profile_id: str, edge_id: str | None, cause: str, now: datetime
) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    """Put the loser back and mark both sides, retried while the survivor changes; (merge, identifiers, edge)."""
    for attempt in range(RESTORE_ATTEMPTS):
        survivor = store.get_profile(profile_id)
        if survivor is None:
            raise SplitRefused(f"no profile {profile_id}", 404)
        if "redirect_to" in survivor:
            raise SplitRefused(f"profile {profile_id} was merged into {survivor['redirect_to']}; split that one", 409)
        merge = _merge_to_undo(store, profile_id, edge_id)
        loser_id = merge["from_profile"]
        redirected = store.get_profile(loser_id)
        if redirected is None or redirected.get("redirect_to") != profile_id:
            raise SplitRefused(f"profile {loser_id} no longer redirects to {profile_id}", 409)
        loser_identifiers = {parse_identifier(text) for text in merge["identifiers"]}
        bound = store.find_bound(loser_identifiers)
        moving = sorted(identifier for identifier in loser_identifiers if bound.get(identifier) == profile_id)
        survivor_counts = Counter(t for t, _ in store.members(profile_id)) - Counter(t for t, _ in moving)
        survivor_values: dict[str, Any] = {count_attribute(t): survivor_counts[t] for t, _ in moving}
        for name, taken in merge["attributes_taken"].items():
            if survivor.get(name) == taken["after"]:
                survivor_values[name] = taken["before"]
        survivor_split_from = survivor_values.get("split_from", survivor.get("split_from")) or []
        survivor_values["split_from"] = sorted({*survivor_split_from, loser_id})
        restored = {
            **merge["from_snapshot"],
            **aggregate_profile([]),
            "updated_at": now.isoformat(),
            "identity_version": int(redirected.get("identity_version", 0)) + 1,
            "aggregates_version": int(redirected.get("aggregates_version", 0)) + 1,
            "split_from": sorted({*(merge["from_snapshot"].get("split_from") or []), profile_id}),
        }
        restored.update({count_attribute(t): count for t, count in Counter(t for t, _ in moving).items()})
        edge = {
            "edge_id": uuid.uuid4().hex,
            "kind": "unmerge",
            "undoes": merge["edge_id"],
            "at": now.isoformat(),
            "from_profile": profile_id,
            "to_profile": loser_id,
            "cause": cause,
            "identifiers": [f"{t}#{v}" for t, v in moving],
        }
        try:
            store.restore(restored, redirected, survivor, survivor_values, edge)
        except ConcurrentChange:
            backoff(attempt)
            continue
        return merge, moving, edge
    raise SplitRefused("the profile kept changing while splitting; try again", 409)


def _return_records(store: IdentityRepository, survivor_id: str, loser_id: str, merge: dict[str, Any]) -> list[str]:
    """Move the returning records to the loser, both sides' aggregates set in the same transactions."""
    moved: list[str] = []
    survivor, records = indexed_records(store, survivor_id)
    attempt = 0
    while True:
        returning = [record for record in records if _returns(record, merge)]
        if not returning:
            return moved
        chunk = returning[:MOVES_PER_TRANSACTION]
        leaving = {record["pk"] for record in chunk}
        remaining = [record for record in records if record["pk"] not in leaving]
        loser = store.get_profile(loser_id)
        assert loser is not None
        moves = [
            RecordMove(
                record["pk"],
                survivor_id,
                loser_id,
                tuple(record.get("merged_by") or ()),
                tuple((record.get("merged_by") or [])[:-1]),
            )
            for record in chunk
        ]
        try:
            store.move_records(
                moves, [(loser, fold_records(loser, chunk)), (survivor, aggregate_profile(remaining))]
            )
        except ConcurrentChange as change:
            attempt += 1
            if attempt >= MOVE_ATTEMPTS:
                raise RuntimeError(f"profile {survivor_id} kept changing; split records not moved") from change
            backoff(attempt)
            survivor, records = indexed_records(store, survivor_id)
            continue
        moved += sorted(leaving)
        records = remaining
        expected = int(survivor.get("aggregates_version", 0)) + 1
        survivor = store.get_profile(survivor_id) or survivor
        if int(survivor.get("aggregates_version", 0)) != expected:
            survivor, records = indexed_records(store, survivor_id)


def split_profile(
    store: IdentityRepository, profile_id: str, edge_id: str | None, cause: str, now: datetime
) -> SplitOutcome:
    """Undo one merge into `profile_id` (the latest not yet undone when `edge_id` is None)."""
    merge, moving, edge = _restore(store, profile_id, edge_id, cause, now)
    loser_id = merge["from_profile"]
    for identifier in moving:
        store.move_identifier(identifier, profile_id, loser_id)
    records = _return_records(store, profile_id, loser_id, merge)
    logger.info("merge undone", extra={"survivor": profile_id, "restored": loser_id, "undoes": merge["edge_id"]})
    return SplitOutcome(
        edge["edge_id"], merge["edge_id"], profile_id, loser_id, tuple(edge["identifiers"]), tuple(records)
    )
