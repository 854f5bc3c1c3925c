"""The exports bucket as cdp.segments.audience.ExportFiles: each export written as one object, fetched through a
pre-signed GET URL (signed with the function's own role, so it works only while that role may read the object)."""

from __future__ import annotations

from datetime import timedelta

from cdp.adapters.clients import client
from cdp.adapters.object_store import write_bytes


class S3ExportFiles:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def publish(self, key: str, body: bytes, content_type: str, lifetime: timedelta) -> str:
        write_bytes(self.bucket, key, body, content_type)
        return str(client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=int(lifetime.total_seconds())
        ))  # fmt: skip
