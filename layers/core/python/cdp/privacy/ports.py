"""What privacy (consent, erasure, export) needs from storage and AWS: small Protocols, and the consent statement
value the consent store writes as it is given.

The consent store never decides which statement wins: the domain passes `ConsentPlan` (cdp.privacy.consent's
`newest_per_key`), the store applies its answer under optimistic conditions and re-asks after a concurrent change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol

from cdp.canonical import Identifier
from cdp.identity.ports import Redirects

Item = dict[str, Any]


def consent_key(channel: str, purpose: str) -> str:
    return f"{channel}:{purpose}"


def stored_time(moment: datetime) -> str:
    """UTC ISO text with microseconds, so stored times compare correctly as strings in a condition."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


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


ConsentPlan = Callable[[dict[str, Any] | None, list[ConsentChange]], dict[str, dict[str, Any]]]
"""(the profile's stored consent map, statements) -> the entries to set, per key."""


class LiveProfiles(Redirects, Protocol):
    """Who holds an identifier, and the live profile behind a profile id."""

    def find_bound(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]: ...


class ConsentStore(Protocol):
    def record_consents(
        self, profile_id: str, changes: list[ConsentChange], now: datetime, plan: ConsentPlan, profile: Item | None = None
    ) -> list[bool]: ...

    def record_consents_batch(
        self, changes_by_profile: Mapping[str, list[ConsentChange]], now: datetime, plan: ConsentPlan
    ) -> dict[str, list[bool]]: ...


class ErasedRegister(Protocol):
    """The register of erased identifier digests (no PII)."""

    def erased_among(self, digests: Iterable[str]) -> set[str]: ...

    def erased_register(self, lookups: int) -> frozenset[str] | None: ...

    def erased_by_key(self, digests: Iterable[str]) -> set[str]: ...

    def mark_erased(self, digests: Iterable[str], erasure_id: str, erased_at: str) -> None: ...


class PersonalData(LiveProfiles, ErasedRegister, Protocol):
    """Everything stored about a person, to export or erase it, and the erasures' status items."""

    def profile_consistently(self, profile_id: str, follow_redirects: bool = False) -> Item | None: ...

    def profile_items(self, profile_id: str) -> list[Item]: ...

    def ledger_items(self, profile_id: str) -> list[Item]: ...

    def items_naming(self, profile_ids: list[str]) -> list[Item]: ...

    def delete_profile_items(self, items: Iterable[Item]) -> int: ...

    def delete_ledger_items(self, items: Iterable[Item]) -> int: ...

    def forget_natural_keys(self, values: list[str]) -> int:
        """Delete the natural-key items whose key holds one of these identifier values."""
        ...

    def scrub_edges(self, edges: Iterable[Item]) -> int: ...

    def put_erasure(self, erasure: Item) -> None: ...

    def update_erasure(self, erasure_id: str, values: Item) -> None: ...

    def get_erasure(self, erasure_id: str) -> Item | None: ...


class VersionedObjects(Protocol):
    """Every version of every object of a bucket, to find and remove a person's rows."""

    def object_versions(self, bucket: str, prefix: str = "") -> Iterator[Item]: ...

    def delete_versions(self, bucket: str, versions: Iterable[tuple[str, str]]) -> int: ...

    def open_object(
        self, bucket: str, key: str, version_id: str | None = None, byte_ranges: list[tuple[int, int | None]] | None = None
    ) -> BinaryIO: ...

    def write_parquet(self, bucket: str, key: str, table: Any) -> None: ...

    def write_json_lines(self, bucket: str, key: str, records: Iterable[Item]) -> None: ...
