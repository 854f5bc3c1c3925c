"""The segment runs' membership snapshots in the curated bucket: `segment_memberships/dt=<day>/run=<run id>/
part-<shard>.parquet` (segment, profile_id; one part, `part-0`, for a run in one function, one per shard for a
sharded run), the run's `report.json` beside them, and `segment_memberships/latest.json` ({run_id, key, parts,
computed_at, sizes}, `key` the first part) pointing at the newest. A snapshot is all the parts in its run's folder."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.adapters import object_store
from cdp.adapters.clients import client

PREFIX = "segment_memberships/"
LATEST_KEY = f"{PREFIX}latest.json"


def _folder(run_id: str, computed_at: datetime) -> str:
    return f"{PREFIX}dt={computed_at.date().isoformat()}/run={run_id}/"


def read_snapshot(bucket: str, key: str) -> pa.Table:
    """Every part of the snapshot whose (first) part is `key`: the `.parquet` objects of its run's folder."""
    folder = key.rsplit("/", 1)[0] + "/"
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
    keys = sorted(summary["Key"] for page in pages for summary in page.get("Contents", [])
                  if summary["Key"].endswith(".parquet"))  # fmt: skip
    return pa.concat_tables([object_store.read_parquet(bucket, part).select(["segment", "profile_id"]) for part in keys])


class SegmentSnapshots:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def write(self, run_id: str, computed_at: datetime, memberships: pa.Table, report: dict[str, Any]) -> str:
        return self.publish(run_id, computed_at, [self.write_part(run_id, computed_at, 0, memberships)], report)

    def write_part(self, run_id: str, computed_at: datetime, shard: int, memberships: pa.Table) -> str:
        key = f"{_folder(run_id, computed_at)}part-{shard}.parquet"
        object_store.write_parquet(self.bucket, key, memberships.select(["segment", "profile_id"]))
        return key

    def publish(self, run_id: str, computed_at: datetime, parts: list[str], report: dict[str, Any]) -> str:
        report = {**report, "snapshot": parts[0], "snapshot_parts": len(parts)}
        object_store.write_bytes(self.bucket, f"{_folder(run_id, computed_at)}report.json",
                                 json.dumps(report, default=str).encode(), "application/json")  # fmt: skip
        latest = {"run_id": run_id, "key": parts[0], "parts": parts, "computed_at": computed_at.isoformat(),
                  "sizes": report["segments"]}  # fmt: skip
        object_store.write_bytes(self.bucket, LATEST_KEY, json.dumps(latest).encode(), "application/json")
        return parts[0]

    def _report_keys(self) -> list[str]:
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=PREFIX)
        return sorted(summary["Key"] for page in pages for summary in page.get("Contents", [])
                      if summary["Key"].endswith("/report.json"))  # fmt: skip

    def size_history(self, limit: int) -> list[dict[str, Any]]:
        history = []
        for key in self._report_keys()[-limit:]:
            body = object_store.read_small_object(self.bucket, key)
            if body:
                report = json.loads(body)
                history.append({"computed_at": report["computed_at"], "sizes": report.get("segments", {})})
        return sorted(history, key=lambda run: run["computed_at"])

    def latest(self) -> dict[str, Any] | None:
        body = object_store.read_small_object(self.bucket, LATEST_KEY)
        return json.loads(body) if body else None

    def members(self, segment: str) -> list[str]:
        """The newest snapshot's members of a segment (AudienceSource)."""
        latest = self.latest()
        if latest is None:
            return []
        table = read_snapshot(self.bucket, latest["key"])
        return sorted(table.filter(pc.equal(table["segment"], segment))["profile_id"].to_pylist())
