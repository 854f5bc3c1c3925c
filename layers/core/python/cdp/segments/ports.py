"""What a segment run needs from storage: the profile snapshot, curated behaviour, stored definitions, predictions,
and where it saves what changed, announces transitions and keeps the membership snapshots.

`PROFILE_SCHEMA` is the RFM scoring table's schema; `StoredSegments` is what the last run left on a profile (its
memberships, their version, the digest of its computed values and the transitions it has not yet announced);
`ProfileUpdate` is one profile's new state as a run writes it, conditionally on the version it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import pyarrow as pa

from cdp.segments.arrow_types import ARROW_TYPES
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.vocabulary import PROFILE_FIELDS, RFM_FIELDS, FieldType

if TYPE_CHECKING:
    from cdp.predict.histories import PurchaseHistories

RFM_PREFIX, LIFECYCLE_PREFIX = "rfm:", "lifecycle:"
ENTERED, EXITED = "Segment Entered", "Segment Exited"

PROFILE_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("first_seen_at", pa.timestamp("us", tz="UTC")),
        ("last_order_at", pa.timestamp("us", tz="UTC")),
        ("last_cancelled_at", pa.timestamp("us", tz="UTC")),
        ("orders_count", pa.int64()),
        ("revenue", pa.float64()),
    ]
)

SNAPSHOT_FIELDS: dict[str, FieldType] = {
    **{name: field_type for name, field_type in PROFILE_FIELDS.items() if name not in RFM_FIELDS},
    "last_cancelled_at": "timestamp",
}
"""The profile snapshot's columns: the vocabulary's profile fields (the run derives the RFM scores) and, for
lifecycle stages, the last cancellation."""
SNAPSHOT_SCHEMA = pa.schema([(name, ARROW_TYPES[field_type]) for name, field_type in SNAPSHOT_FIELDS.items()])


class Membership(NamedTuple):
    segment: str
    profile_id: str


class Transition(NamedTuple):
    """One entry or exit: `kind` is ENTERED or EXITED."""

    kind: str
    segment: str


@dataclass(frozen=True)
class StoredSegments:
    """What the last run stored on a profile. `pending` are transitions written but not yet announced (the run's
    outbox), written at `pending_since`; `previous` the memberships held before them."""

    memberships: frozenset[str] = frozenset()
    version: int = 0
    digest: str | None = None
    pending: tuple[Transition, ...] = ()
    previous: tuple[str, ...] = ()
    pending_since: datetime | None = None


@dataclass(frozen=True)
class ProfileSnapshot:
    """Every live profile as one row (columns named as vocabulary.PROFILE_FIELDS), what each stores from the last
    run, and the identity index (`identifier` = `<type>#<value>`, `profile_id`) that maps curated rows to profiles."""

    profiles: pa.Table
    stored: dict[str, StoredSegments]
    identities: pa.Table


@dataclass(frozen=True)
class ProfileUpdate:
    """A profile's new computed values (None: cleared, the person refused profiling), its memberships, and the
    transitions from what it held; written only if the profile is still at `expected_version`."""

    profile_id: str
    values: dict[str, Any] | None
    digest: str
    memberships: list[str]
    transitions: list[Transition]
    previous: list[str]
    expected_version: int

    @property
    def version(self) -> int:
        return self.expected_version + 1


@dataclass(frozen=True)
class BehaviourRequest:
    """Which curated columns a run reads, and from when (None: all of it)."""

    columns: list[str]
    since: datetime | None


class SegmentStore(Protocol):
    def load_snapshot(self) -> ProfileSnapshot: ...

    def save(self, updates: list[ProfileUpdate], computed_at: datetime) -> list[ProfileUpdate]:
        """Write each update and its pending transitions if its profile is still at the expected version; answers
        the updates written (another run moved the others first: nothing of them is written)."""
        ...

    def move_memberships(self, entered: list[Membership], exited: list[Membership]) -> None: ...

    def save_cut_points(self, cut_points: RfmCutPoints) -> None:
        """Keep the run's RFM quintile cut points, which live segments score one profile against."""
        ...

    def mark_announced(self, announced: list[tuple[str, int]]) -> None:
        """Clear the pending transitions of each (profile id, version) (a later version's are left alone)."""
        ...


class BehaviourSource(Protocol):
    def order_lines(self, request: BehaviourRequest) -> pa.Table:
        """Curated order lines (customer_id, email, anonymous_id and the requested columns)."""
        ...

    def events(self, request: BehaviourRequest) -> pa.Table:
        """Curated events (customer_id, email, anonymous_id, event, occurred_at, properties as JSON text)."""
        ...


class DefinitionSource(Protocol):
    def stored_documents(self) -> list[dict[str, Any]]:
        """Definition documents stored through the API (each one segment or tag document), as JSON objects."""
        ...


class PredictionService(Protocol):
    def predict(self, histories: PurchaseHistories) -> dict[str, Any]:
        """Fit BG/NBD and Gamma-Gamma on the histories and answer per-customer arrays in their order (the columns
        of cdp.predict.customers.PREDICTION_COLUMNS) and the fitted `parameters`."""
        ...


class SnapshotStore(Protocol):
    def write(self, run_id: str, computed_at: datetime, memberships: pa.Table, report: dict[str, Any]) -> str:
        """Save the run's memberships (segment, profile_id) as Parquet and its report; point latest.json at it;
        answer the snapshot's key."""
        ...

    def size_history(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` runs' {computed_at, sizes}, oldest first."""
        ...

    def write_part(self, run_id: str, computed_at: datetime, shard: int, memberships: pa.Table) -> str:
        """Save one shard's memberships as the run's part `shard`; answer its key."""
        ...

    def publish(self, run_id: str, computed_at: datetime, parts: list[str], report: dict[str, Any]) -> str:
        """Save the run's report and point latest.json at its parts; answer the first part's key."""
        ...


class ShardWork(Protocol):
    """What a sharded run's steps hand each other (JSON documents and Arrow tables under the run's name)."""

    def write_json(self, run_id: str, name: str, document: dict[str, Any]) -> None: ...

    def read_json(self, run_id: str, name: str) -> dict[str, Any]: ...

    def write_table(self, run_id: str, name: str, table: pa.Table) -> None: ...

    def read_table(self, run_id: str, name: str) -> pa.Table: ...

    def write_histories(self, run_id: str, shard: int, histories: PurchaseHistories) -> None: ...

    def fit_request(self, run_id: str, shards: int) -> dict[str, Any]:
        """The prediction function's request to fit every shard's histories at once."""
        ...

    def predicted(self, run_id: str, shard: int) -> dict[str, Any]:
        """The arrays the fit predicted for the shard's histories (as PredictionService.predict answers them)."""
        ...

    def clear(self, run_id: str) -> int:
        """Delete the run's work (it holds profile ids and values); answers how many objects went."""
        ...

    def fitted(self, run_id: str, shard: int, fit: dict[str, Any]) -> PredictionService:
        """The predictions the fit wrote for this shard's histories, as the prediction service of its step."""
        ...


class AudienceSource(Protocol):
    def members(self, segment: str) -> list[str]: ...
