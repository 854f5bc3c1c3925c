"""One segment membership snapshot (Parquet rows of `segment, profile_id`) read with pyarrow: the campaigns'
audience source (the contract's AudienceSource, plus everyone in it for `not` rules). Only the campaign start
function loads this module."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class SnapshotAudience:
    def __init__(self, memberships: pa.Table) -> None:
        self.memberships = memberships

    @classmethod
    def from_parquet(cls, body: bytes) -> SnapshotAudience:
        return cls(pq.read_table(pa.BufferReader(body), columns=["segment", "profile_id"]))

    def members(self, segment: str) -> list[str]:
        chosen = self.memberships.filter(pc.equal(self.memberships["segment"], segment))
        return chosen["profile_id"].to_pylist()  # type: ignore[no-any-return]

    def everyone(self) -> list[str]:
        return pc.unique(self.memberships["profile_id"]).to_pylist()  # type: ignore[no-any-return]

    def segments(self) -> set[str]:
        return set(pc.unique(self.memberships["segment"]).to_pylist())
