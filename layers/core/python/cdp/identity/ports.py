"""What identity resolution, merges, splits and lookups need from storage: the identity repository port.

Items are plain dicts (a profile item as stored); identifiers are `cdp.canonical.Identifier` tuples. Writes that
lose a race raise `cdp.errors.ConcurrentChange`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from cdp.canonical import Identifier

Item = dict[str, Any]


@dataclass(frozen=True)
class RecordMove:
    """One ledger record re-pointed from one profile to another, its `merged_by` list from `before` to `after`."""

    pk: str
    from_profile: str
    to_profile: str
    merged_by_before: tuple[str, ...]
    merged_by_after: tuple[str, ...]


class Redirects(Protocol):
    def live_profile_ids(self, profile_ids: Iterable[str]) -> dict[str, str | None]:
        """The live profile each id is or was merged into (None: no such profile), redirects followed."""
        ...


class IdentityRepository(Redirects, Protocol):
    """Identity items, memberships, redirects, edges and the ledger records' `profile_id`."""

    def find_bound(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]: ...

    def owner_of(self, identifier: Identifier) -> str | None: ...

    def get_profile(self, profile_id: str) -> Item | None: ...

    def profile_chain(self, profile_id: str) -> list[Item]:
        """The profile items from `profile_id` to its live profile (the last); [] when there is no such profile."""
        ...

    def members(self, profile_id: str) -> list[Identifier]: ...

    def edges(self, profile_id: str, newest_first: bool = True) -> list[Item]: ...

    def records_of(self, profile_id: str) -> list[Item]: ...

    def create_profiles(self, creations: list[tuple[Item, list[Identifier]]]) -> None: ...

    def create_profile(self, profile: Item, identifiers: list[Identifier]) -> None: ...

    def bind(self, profile_id: str, identifier: Identifier, limit: int, now: str) -> bool: ...

    def append_edge(self, profile_id: str, edge: Item) -> None: ...

    def redirect(self, loser: Item, survivor: Item, survivor_values: Item, edge: Item) -> None: ...

    def restore(self, restored: Item, redirected: Item, survivor: Item, survivor_values: Item, edge: Item) -> None: ...

    def move_identifier(self, identifier: Identifier, from_profile: str, to_profile: str) -> bool: ...

    def move_records(self, moves: list[RecordMove], profile_values: list[tuple[Item, Item]]) -> None: ...


class IdentityHistory(Protocol):
    """The whole identity graph, read for a rule preview."""

    def scan_identities(self) -> Iterator[tuple[Identifier, str]]: ...

    def scan_split_pairs(self) -> Iterator[tuple[str, str]]: ...

    def scan_records(self) -> Iterator[Item]: ...
