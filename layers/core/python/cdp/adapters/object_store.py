"""S3 reads and writes for raw, quarantined and curated objects (raw objects streamed, never read whole), and every
version of a bucket listed or deleted for erasure. The module itself implements the object-store ports."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from cdp.adapters.clients import client

STREAM_BUFFER_BYTES = 1 << 20
DELETE_BATCH = 1000


class _StreamingBodiesReader(io.RawIOBase):
    """botocore StreamingBodies, one after the other, as one raw binary stream (for io.BufferedReader, pyarrow)."""

    def __init__(self, bodies: list[Any]) -> None:
        self._bodies = bodies

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._bodies:
            chunk = self._bodies[0].read(len(buffer))
            if chunk:
                buffer[: len(chunk)] = chunk
                return len(chunk)
            self._bodies.pop(0).close()
        return 0

    def close(self) -> None:
        for body in self._bodies:
            body.close()
        super().close()


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _body(bucket: str, key: str, version_id: str | None, byte_range: tuple[int, int | None] | None) -> Any:
    request: dict[str, Any] = {"Bucket": bucket, "Key": key, **_version(version_id)}
    if byte_range is not None:
        start, end = byte_range
        request["Range"] = f"bytes={start}-{'' if end is None else end}"
    return client("s3").get_object(**request)["Body"]


def open_object(
    bucket: str, key: str, version_id: str | None = None, byte_ranges: list[tuple[int, int | None]] | None = None
) -> BinaryIO:
    """A buffered stream over one object version, or over its inclusive byte ranges (end None: to the end) in turn,
    fetched from S3 as it is consumed (never the whole object in memory)."""
    bodies = [_body(bucket, key, version_id, byte_range) for byte_range in byte_ranges or [None]]  # type: ignore[list-item]
    return io.BufferedReader(_StreamingBodiesReader(bodies), buffer_size=STREAM_BUFFER_BYTES)  # type: ignore[return-value]


def object_size(bucket: str, key: str, version_id: str | None = None) -> int:
    return int(client("s3").head_object(Bucket=bucket, Key=key, **_version(version_id))["ContentLength"])


def read_small_object(bucket: str, key: str) -> bytes | None:
    """The whole body of a small object (a manifest, a curated batch), or None when there is no such key."""
    try:
        return client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def copy_object(
    source_bucket: str,
    source_key: str,
    source_version: str | None,
    bucket: str,
    key: str,
    metadata: dict[str, str],
) -> None:
    """Server-side copy (multipart when large), so quarantining a whole file never loads it into memory."""
    client("s3").copy(
        {"Bucket": source_bucket, "Key": source_key, **_version(source_version)},
        bucket,
        key,
        ExtraArgs={"Metadata": metadata, "MetadataDirective": "REPLACE"},
    )


def write_json_lines(bucket: str, key: str, records: Iterable[dict[str, Any]]) -> None:
    body = "".join(json.dumps(record, default=str, ensure_ascii=False) + "\n" for record in records)
    client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType="application/x-ndjson")


def write_bytes(bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {})


def write_parquet(bucket: str, key: str, table: Any) -> None:
    """Write a pyarrow table as one Parquet object (pyarrow is imported here, only by batch functions)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    write_bytes(bucket, key, buffer.getvalue(), "application/vnd.apache.parquet")


def read_parquet(bucket: str, key: str) -> Any:
    """A Parquet object as a pyarrow table, or None when there is no such key (pyarrow imported here, as above)."""
    import pyarrow.parquet as pq

    body = read_small_object(bucket, key)
    return None if body is None else pq.read_table(io.BytesIO(body))


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
