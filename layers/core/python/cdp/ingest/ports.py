"""What file ingest needs from storage and AWS: objects, the file ledger (claims, leases, range reports), the
natural-key ledger (cross-file dedupe), the profile-batch queue, the large-file state machine, and the profiles'
store and erased register beside them.

`IngestPorts` bundles them for one invocation; `cdp.wiring` builds it from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol

from cdp.events import DomainEvent
from cdp.privacy.ports import ErasedRegister
from cdp.records.ports import LiveDecisions, ProfileLedger


@dataclass(frozen=True)
class FirstSeen:
    """Where a natural key was first accepted."""

    file_id: str
    source_key: str
    source_version: str
    line: int


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a version: `claimed`, or `done` with its report, or `busy` (someone else's lease)."""

    state: str
    report: dict[str, Any] | None = None


class ObjectStore(Protocol):
    def open_object(
        self, bucket: str, key: str, version_id: str | None = None, byte_ranges: list[tuple[int, int | None]] | None = None
    ) -> BinaryIO: ...

    def object_size(self, bucket: str, key: str, version_id: str | None = None) -> int: ...

    def read_small_object(self, bucket: str, key: str) -> bytes | None: ...

    def copy_object(
        self,
        source_bucket: str,
        source_key: str,
        source_version: str | None,
        bucket: str,
        key: str,
        metadata: dict[str, str],
    ) -> None: ...

    def write_json_lines(self, bucket: str, key: str, records: Iterable[dict[str, Any]]) -> None: ...

    def write_parquet(self, bucket: str, key: str, table: Any) -> None: ...

    def read_parquet(self, bucket: str, key: str) -> Any: ...


class FileClaims(Protocol):
    """The file ledger: one claim per object version (leased), its report, and the large files' range reports."""

    def claim(self, bucket: str, key: str, version: str, owner: str, now: datetime, lease: timedelta) -> Claim: ...

    def renew(self, bucket: str, key: str, version: str, owner: str, now: datetime, lease: timedelta) -> None: ...

    def finish(self, bucket: str, key: str, version: str, owner: str, report: dict[str, Any]) -> None: ...

    def release(self, bucket: str, key: str, version: str, owner: str) -> None: ...

    def record_range(self, bucket: str, key: str, version: str, range_index: int, report: dict[str, Any]) -> None: ...

    def range_reports(self, bucket: str, key: str, version: str) -> list[dict[str, Any]]: ...

    def record_profile_batch(self, bucket: str, key: str, version: str, batch: int) -> None: ...


class NaturalKeys(Protocol):
    """The natural keys one file's rows claim; counts the requests it made."""

    read_requests: int
    write_requests: int

    def claim(self, natural_keys: list[str], lines: list[int]) -> dict[int, FirstSeen]:
        """Claim each row's natural key; returns {row index: first owner} for the rows that are duplicates."""
        ...


NaturalKeysFor = Callable[[str, FirstSeen, datetime], NaturalKeys]  # (entity, file as owner, now) -> its ledger


@dataclass(frozen=True)
class IngestPorts:
    """Everything an ingest invocation writes to or reads from, and the erasure salt."""

    objects: ObjectStore
    files: FileClaims
    natural_keys: NaturalKeysFor
    profiles: ProfileLedger
    erased: ErasedRegister
    queue_batch: Callable[[dict[str, Any]], None]  # a curated batch's message to the profile-batch queue
    start_large_file: Callable[[str, dict[str, Any]], str]  # (execution name, input) -> execution ARN
    publish: Callable[[list[DomainEvent]], object]
    salt: str


@dataclass(frozen=True)
class CuratedBatchPorts:
    """What applying a queued curated batch to profiles needs (and the live segments deciding each written profile)."""

    objects: ObjectStore
    files: FileClaims
    profiles: ProfileLedger
    publish: Callable[[list[DomainEvent]], object]
    salt: str
    live_segments: LiveDecisions | None = None
