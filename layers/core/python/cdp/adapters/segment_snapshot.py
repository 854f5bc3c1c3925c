"""Where the segment membership snapshot is: `segment_memberships/latest.json` in the curated bucket names the
newest run's first Parquet part and its segments' sizes (JSON only here; the parts, all of the run's folder, are read
by `segment_snapshots.read_snapshot`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client
from cdp.errors import NotFound

if TYPE_CHECKING:
    from cdp.adapters.snapshot_audience import SnapshotAudience

LATEST_KEY = "segment_memberships/latest.json"


def _latest(bucket: str) -> dict[str, Any] | None:
    try:
        body = client("s3").get_object(Bucket=bucket, Key=LATEST_KEY)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return dict(json.loads(body))


def latest_segments(bucket: str) -> set[str] | None:
    """The segments the latest snapshot sizes; None before the segments first ran."""
    latest = _latest(bucket)
    return set(latest.get("sizes", {})) if latest is not None else None


class SegmentSnapshots:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def latest(self) -> str:
        latest = _latest(self.bucket)
        if latest is None:
            raise NotFound("no segment membership snapshot yet: the segments have not run")
        return str(latest["key"])

    def audience(self, snapshot_key: str) -> SnapshotAudience:
        from cdp.adapters.segment_snapshots import read_snapshot  # pyarrow: only the campaign start loads it
        from cdp.adapters.snapshot_audience import SnapshotAudience

        return SnapshotAudience(read_snapshot(self.bucket, snapshot_key))
