"""S3 object versions, for erasure: list every version of a bucket, delete versions permanently."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from cdp.adapters.clients import client

DELETE_BATCH = 1000


def object_versions(bucket: str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every version and delete marker in the bucket (or under a key prefix; paginated), each with Key, VersionId
    and IsLatest."""
    for page in client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Versions", [])
        yield from page.get("DeleteMarkers", [])


def delete_versions(bucket: str, versions: Iterable[tuple[str, str]]) -> int:
    """Permanently delete these (key, version id) pairs, 1,000 a request; returns how many were deleted."""
    pending = [{"Key": key, "VersionId": version_id} for key, version_id in versions]
    for start in range(0, len(pending), DELETE_BATCH):
        response = client("s3").delete_objects(Bucket=bucket, Delete={"Objects": pending[start : start + DELETE_BATCH]})
        if response.get("Errors"):
            raise RuntimeError(f"could not delete {len(response['Errors'])} object versions in {bucket}")
    return len(pending)
