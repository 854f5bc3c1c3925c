"""DynamoDB access for identity resolution: identity items, profile membership, merges, redirects and edges.

Items (ProfilesTable unless noted):
- `IDENTITY#<type>#<value>` / `IDENTITY`: `profile_id` (the identifier's owner; unique by key).
- `PROFILE#<id>` / `IDENTIFIER#<type>#<value>`: membership, so a profile's identifiers can be listed.
- `PROFILE#<id>` / `PROFILE`: adds `identity_version` (bumped by every bind, merge and split, the optimistic lock of
  merges), `identifier_count_<type>` (checked against the limits inside the binding transaction), `split_from` (the
  profiles a split separated it from, never merged again automatically), and on a merged profile `redirect_to` /
  `merged_at` / `merge_edge`. Merges and splits also honour `aggregates_version`, the lock of record application.
- `PROFILE#<id>` / `EDGE#<timestamp>#<edge id>`: an append-only identity edge (merge, unmerge, conflict, limit).
- LedgerTable `RECORD#...` / `RECORD` (the record ledger, written by cdp.records.apply): `profile_id` is moved by
  merges and splits, in the same transaction as the aggregates of the profiles it leaves or joins; `merged_by` lists
  the merge edges that moved it, newest last, so a split takes back exactly what its merge brought.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from cdp.adapters.clients import client, dynamodb_table
from cdp.adapters.dynamodb import (
    batch_get_items,
    plain,
    profiles_reader,
    query_items,
    query_partition,
    redirect_chains,
    transact,
    wire,
)
from cdp.canonical import Identifier
from cdp.errors import ConcurrentChange
from cdp.identity.ports import RecordMove
from cdp.keys import (
    BY_PROFILE_INDEX,
    EDGE_PREFIX,
    MEMBER_PREFIX,
    count_attribute,
    edge_key,
    identifier_of_identity_pk,
    identity_key,
    member_key,
    parse_identifier,
    profile_key,
    profile_pk,
    record_key,
)


def _version_condition(profile: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Live (not redirected) and still at the identity and aggregates versions read: the optimistic lock that
    merges, splits and record application (ProfileStore.apply_ledger_items) all honour."""
    versions = ("identity_version", "aggregates_version")
    held = [f"{v} = :{v}" if v in profile else f"attribute_not_exists({v})" for v in versions]
    condition = " AND ".join(["attribute_exists(pk)", "attribute_not_exists(redirect_to)", *held])
    return condition, {f":{v}": profile[v] for v in versions if v in profile}


class IdentityStore:
    """Identity items, memberships, redirects, merge edges and the ledger's `profile_id`."""

    def __init__(self, profiles_table: str, ledger_table: str) -> None:
        self.profiles_table_name = profiles_table
        self.ledger_table_name = ledger_table
        self.profiles = dynamodb_table(profiles_table)
        self.ledger = dynamodb_table(ledger_table)

    # ------------------------------------------------------------------ reads
    def find_bound(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]:
        """Which of these identifiers are bound, and to which profile id (batched reads, no redirects followed)."""
        keys = [identity_key(identifier) for identifier in identifiers]
        bound: dict[Identifier, str] = {}
        for item in batch_get_items(self.profiles.meta.client, self.profiles_table_name, keys):
            bound[identifier_of_identity_pk(item["pk"])] = item["profile_id"]
        return bound

    def get_profiles(self, profile_ids: Iterable[str], attributes: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """The profile items that exist among these ids, read consistently in batches; `attributes` (which must
        include `profile_id`) projects them to those names."""
        keys = [profile_key(profile_id) for profile_id in profile_ids]
        items = batch_get_items(self.profiles.meta.client, self.profiles_table_name, keys, True, attributes)
        return {item["profile_id"]: item for item in items}

    def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return self.profiles.get_item(Key=profile_key(profile_id), ConsistentRead=True).get("Item")

    def live_profile_ids(self, profile_ids: Iterable[str]) -> dict[str, str | None]:
        """The live profile each id is or was merged into (None: no such profile), following the redirect chains of
        all of them at once: one round of consistent batched reads (profile id and redirect only) per hop."""
        read = profiles_reader(self.profiles, attributes=("profile_id", "redirect_to"))
        chains = redirect_chains(read, profile_ids)
        return {profile_id: chain[-1]["profile_id"] if chain else None for profile_id, chain in chains.items()}

    def profile_chain(self, profile_id: str) -> list[dict[str, Any]]:
        """The profile items from `profile_id` to the live profile it is or was merged into (consistent reads)."""

        def read(profile_ids: set[str]) -> dict[str, dict[str, Any]]:
            items = (self.get_profile(pid) for pid in profile_ids)
            return {item["profile_id"]: item for item in items if item is not None}

        return redirect_chains(read, [profile_id])[profile_id]

    def _query_profile(self, profile_id: str, prefix: str, newest_first: bool = False) -> list[dict[str, Any]]:
        return query_partition(self.profiles_table_name, profile_pk(profile_id), prefix, newest_first)

    def members(self, profile_id: str) -> list[Identifier]:
        """The identifiers a profile holds (its membership items)."""
        return [
            parse_identifier(item["sk"][len(MEMBER_PREFIX) :])
            for item in self._query_profile(profile_id, MEMBER_PREFIX)
        ]

    def edges(self, profile_id: str, newest_first: bool = True) -> list[dict[str, Any]]:
        return self._query_profile(profile_id, EDGE_PREFIX, newest_first)

    def records_of(self, profile_id: str) -> list[dict[str, Any]]:
        """The profile's ledger records, through the ByProfile index."""
        return list(
            query_items(
                TableName=self.ledger_table_name,
                IndexName=BY_PROFILE_INDEX,
                KeyConditionExpression="profile_id = :profile_id",
                ExpressionAttributeValues={":profile_id": {"S": profile_id}},
            )
        )

    def _scan(self, table: str, condition: str, values: dict[str, Any], projection: str | None = None) -> Iterator[Any]:
        """Every item of `table` matching the filter `condition`, in DynamoDB's wire format (paginated reads)."""
        options = {"ProjectionExpression": projection} if projection else {}
        pages = client("dynamodb").get_paginator("scan").paginate(
            TableName=table, FilterExpression=condition, ExpressionAttributeValues=values, **options
        )
        for page in pages:
            yield from page["Items"]

    def scan_identities(self) -> Iterator[tuple[Identifier, str]]:
        """Every identity item as (identifier, profile id): the data a rule preview replays."""
        for item in self._scan(self.profiles_table_name, "sk = :sk", {":sk": {"S": "IDENTITY"}}):
            yield identifier_of_identity_pk(item["pk"]["S"]), item["profile_id"]["S"]

    def scan_split_pairs(self) -> Iterator[tuple[str, str]]:
        """Every (profile id, profile id) pair a split separated (profile items' `split_from`)."""
        condition = "sk = :sk AND attribute_exists(split_from)"
        for item in self._scan(self.profiles_table_name, condition, {":sk": {"S": "PROFILE"}}, "profile_id, split_from"):
            profile_id = item["profile_id"]["S"]
            yield from ((profile_id, other["S"]) for other in item["split_from"]["L"])

    def scan_records(self) -> Iterator[dict[str, Any]]:
        """Every ledger record (pk `RECORD#...`) with its identifiers and profile id."""
        projection = "pk, profile_id, identifiers, applied_at"
        for item in self._scan(self.ledger_table_name, "begins_with(pk, :prefix)", {":prefix": {"S": "RECORD#"}}, projection):
            yield plain(item)

    # ------------------------------------------------------------------ writes
    def _put(self, item: dict[str, Any], condition: str = "attribute_not_exists(pk)") -> dict[str, Any]:
        return {"Put": {"TableName": self.profiles_table_name, "Item": wire(item), "ConditionExpression": condition}}

    def create_profile(self, profile: dict[str, Any], identifiers: list[Identifier]) -> None:
        """Put a new profile with its identifiers in one transaction; ConcurrentChange if one was bound first."""
        transact(self._creation(profile, identifiers))

    def create_profiles(self, creations: list[tuple[dict[str, Any], list[Identifier]]]) -> None:
        """Put several new profiles with their identifiers in one transaction (at most 100 items in all): all or
        none; ConcurrentChange if any identifier was bound first."""
        transact([write for profile, identifiers in creations for write in self._creation(profile, identifiers)])

    def _creation(self, profile: dict[str, Any], identifiers: list[Identifier]) -> list[dict[str, Any]]:
        """The conditional puts that create a profile: its item (counts, identity version 1), identities, memberships."""
        profile_id = profile["profile_id"]
        counts: dict[str, int] = {}
        for identifier_type, _ in identifiers:
            counts[identifier_type] = counts.get(identifier_type, 0) + 1
        item = {
            **profile,
            **profile_key(profile_id),
            "identity_version": 1,
            **{count_attribute(name): count for name, count in counts.items()},
        }
        writes = [self._put(item)]
        for identifier in identifiers:
            writes.append(self._put({**identity_key(identifier), "profile_id": profile_id}))
            writes.append(self._put({**member_key(profile_id, identifier), "profile_id": profile_id}))
        return writes

    def bind(self, profile_id: str, identifier: Identifier, limit: int, now: str) -> bool:
        """Bind a free identifier to a live profile within its type's limit; False if the limit is reached.

        Raises ConcurrentChange when the identifier was bound meanwhile or the profile was merged away.
        """
        count = count_attribute(identifier[0])
        profile_update = {
            "Update": {
                "TableName": self.profiles_table_name,
                "Key": wire(profile_key(profile_id)),
                "UpdateExpression": "ADD #count :one, identity_version :one SET updated_at = :now",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(redirect_to) "
                "AND (attribute_not_exists(#count) OR #count < :limit)",
                "ExpressionAttributeNames": {"#count": count},
                "ExpressionAttributeValues": wire({":one": 1, ":limit": limit, ":now": now}),
            }
        }
        writes = [
            self._put({**identity_key(identifier), "profile_id": profile_id}),
            self._put({**member_key(profile_id, identifier), "profile_id": profile_id}),
            profile_update,
        ]
        try:
            transact(writes)
        except ConcurrentChange as change:
            if change.reasons[:1] == ("None",) and change.reasons[2:] == ("ConditionalCheckFailed",):
                live = self.get_profile(profile_id)
                if live is not None and "redirect_to" not in live:
                    return False
            raise
        return True

    def append_edge(self, profile_id: str, edge: dict[str, Any]) -> None:
        """Append an edge item; edges are never updated."""
        self.profiles.put_item(
            Item={**edge_key(profile_id, edge["at"], edge["edge_id"]), **edge},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def _versioned_update(self, profile: dict[str, Any], changes: dict[str, Any], now: str) -> dict[str, Any]:
        """Set `changes` (None: remove) on a live profile still at the identity version read; bump that version."""
        names = {f"#v{i}": name for i, name in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values()) if value is not None}
        assignments = [f"#v{i} = :v{i}" for i, value in enumerate(changes.values()) if value is not None]
        removals = [f"#v{i}" for i, value in enumerate(changes.values()) if value is None]
        expression = "SET " + ", ".join([*assignments, "updated_at = :now"]) + " ADD identity_version :one"
        condition, condition_values = _version_condition(profile)
        update: dict[str, Any] = {
            "TableName": self.profiles_table_name,
            "Key": wire(profile_key(profile["profile_id"])),
            "UpdateExpression": expression + (" REMOVE " + ", ".join(removals) if removals else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": wire({**values, **condition_values, ":now": now, ":one": 1}),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return update

    def redirect(
        self,
        loser: dict[str, Any],
        survivor: dict[str, Any],
        survivor_values: dict[str, Any],
        edge: dict[str, Any],
    ) -> None:
        """The merge itself, all or nothing: the loser redirects, the survivor takes `survivor_values`, the edge is
        appended. Both profiles must still be live at the versions read (else ConcurrentChange)."""
        now = edge["at"]
        survivor_update = self._versioned_update(survivor, survivor_values, now)
        condition, condition_values = _version_condition(loser)
        loser_update = {
            "TableName": self.profiles_table_name,
            "Key": wire(profile_key(loser["profile_id"])),
            "UpdateExpression": "SET redirect_to = :to, merged_at = :now, merge_edge = :edge ADD identity_version :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": wire(
                {**condition_values, ":to": survivor["profile_id"], ":now": now, ":edge": edge["edge_id"], ":one": 1}
            ),
        }
        edge_item = {**edge_key(survivor["profile_id"], now, edge["edge_id"]), **edge}
        transact([{"Update": loser_update}, {"Update": survivor_update}, self._put(edge_item)])

    def restore(
        self,
        restored: dict[str, Any],
        redirected: dict[str, Any],
        survivor: dict[str, Any],
        survivor_values: dict[str, Any],
        edge: dict[str, Any],
    ) -> None:
        """Undo a merge, all or nothing: the loser's item is replaced by `restored` (only while it still redirects
        to the survivor at the identity version read in `redirected`), the survivor takes `survivor_values` under
        its versions, the unmerge edge is appended."""
        restore = self._put(
            {**restored, **profile_key(restored["profile_id"])}, "redirect_to = :to AND identity_version = :version"
        )
        restore["Put"]["ExpressionAttributeValues"] = wire(
            {":to": survivor["profile_id"], ":version": redirected.get("identity_version", 0)}
        )
        survivor_update = self._versioned_update(survivor, survivor_values, edge["at"])
        edge_item = {**edge_key(survivor["profile_id"], edge["at"], edge["edge_id"]), **edge}
        transact([restore, {"Update": survivor_update}, self._put(edge_item)])

    def move_identifier(self, identifier: Identifier, from_profile: str, to_profile: str) -> bool:
        """Re-point an identity item and its membership; False if it no longer belonged to `from_profile`."""
        move = {
            "Update": {
                "TableName": self.profiles_table_name,
                "Key": wire(identity_key(identifier)),
                "UpdateExpression": "SET profile_id = :to",
                "ConditionExpression": "profile_id = :from",
                "ExpressionAttributeValues": wire({":to": to_profile, ":from": from_profile}),
            }
        }
        writes = [
            move,
            {"Delete": {"TableName": self.profiles_table_name, "Key": wire(member_key(from_profile, identifier))}},
            {
                "Put": {
                    "TableName": self.profiles_table_name,
                    "Item": wire({**member_key(to_profile, identifier), "profile_id": to_profile}),
                }
            },
        ]
        try:
            transact(writes)
        except ConcurrentChange:
            return False
        return True

    def _record_move(self, move: RecordMove) -> dict[str, Any]:
        condition = "profile_id = :from AND " + (
            "merged_by = :before" if move.merged_by_before else "(attribute_not_exists(merged_by) OR merged_by = :before)"
        )
        return {
            "Update": {
                "TableName": self.ledger_table_name,
                "Key": wire(record_key(move.pk)),
                "UpdateExpression": "SET profile_id = :to, merged_by = :after",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": wire(
                    {
                        ":from": move.from_profile,
                        ":to": move.to_profile,
                        ":before": list(move.merged_by_before),
                        ":after": list(move.merged_by_after),
                    }
                ),
            }
        }

    def _aggregates_update(self, profile: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """SET `values` on a live profile still at both versions read, and bump `aggregates_version`."""
        names = {f"#v{i}": name for i, name in enumerate(values)}
        condition, condition_values = _version_condition(profile)
        return {
            "Update": {
                "TableName": self.profiles_table_name,
                "Key": wire(profile_key(profile["profile_id"])),
                "UpdateExpression": "SET "
                + ", ".join(f"#v{i} = :v{i}" for i in range(len(values)))
                + " ADD aggregates_version :one",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": wire(
                    {**{f":v{i}": value for i, value in enumerate(values.values())}, **condition_values, ":one": 1}
                ),
            }
        }

    def move_records(self, moves: list[RecordMove], profile_values: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Re-point ledger records and set the aggregates they change, in one transaction (at most 100 items).

        Each profile of `profile_values` (its item as read, the values to set) must still be live at the versions
        read; each record still on its `from_profile` with its `merged_by` as read. Otherwise ConcurrentChange,
        naming in `moved_away` the records another writer moved first.
        """
        writes = [self._record_move(move) for move in moves]
        writes += [self._aggregates_update(item, values) for item, values in profile_values]
        try:
            transact(writes)
        except ConcurrentChange as change:
            moved_away = frozenset(move.pk for move, code in zip(moves, change.reasons) if code == "ConditionalCheckFailed")
            raise ConcurrentChange(str(change), change.reasons, moved_away) from change

    def owner_of(self, identifier: Identifier) -> str | None:
        """The profile id an identifier is bound to (as stored: redirects not followed), or None."""
        item = self.profiles.get_item(Key=identity_key(identifier), ConsistentRead=True).get("Item")
        return item["profile_id"] if item else None
