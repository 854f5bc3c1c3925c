"""S3 reads and writes for raw, quarantined and curated objects."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from cdp.adapters.clients import client


def read_object(bucket: str, key: str, version_id: str | None = None) -> bytes:
    request = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    return client("s3").get_object(**request)["Body"].read()


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
