"""The segment runs' membership snapshots in the curated bucket: `segment_memberships/dt=<day>/run=<run id>/
part-0.parquet` (segment, profile_id), the run's `report.json` beside it, and `segment_memberships/latest.json`
({run_id, key, computed_at, sizes}) pointing at the newest."""

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


class SegmentSnapshots:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def write(self, run_id: str, computed_at: datetime, memberships: pa.Table, report: dict[str, Any]) -> str:
        folder = f"{PREFIX}dt={computed_at.date().isoformat()}/run={run_id}/"
        key = f"{folder}part-0.parquet"
        object_store.write_parquet(self.bucket, key, memberships.select(["segment", "profile_id"]))
        report = {**report, "snapshot": key}
        object_store.write_bytes(self.bucket, f"{folder}report.json", json.dumps(report, default=str).encode(),
                                 "application/json")
        latest = {"run_id": run_id, "key": key, "computed_at": computed_at.isoformat(), "sizes": report["segments"]}
        object_store.write_bytes(self.bucket, LATEST_KEY, json.dumps(latest).encode(), "application/json")
        return key

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
        table = object_store.read_parquet(self.bucket, latest["key"])
        return sorted(table.filter(pc.equal(table["segment"], segment))["profile_id"].to_pylist())
