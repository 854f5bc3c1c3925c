"""The curated orders as recommendation input: every Parquet object under `orders/` in the curated bucket, each line
given the live profile of its customer (the line's first identifier in priority order that identity knows).

Objects that are not Parquet (the local Firehose writes JSON where AWS converts to Parquet) are skipped and counted.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdp.adapters.clients import client
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.object_store import read_small_object
from cdp.recommendations import LINE_COLUMNS, LINE_SCHEMA

IDENTIFIER_COLUMNS = ("customer_id", "email", "phone", "anonymous_id")  # identity's priority, strongest first
READ_COLUMNS = [name for name in LINE_COLUMNS if name != "profile_id"] + list(IDENTIFIER_COLUMNS)


class CuratedOrderHistory:
    def __init__(self, curated_bucket: str, identity: IdentityStore) -> None:
        self.bucket = curated_bucket
        self.identity = identity
        self.skipped_objects = 0

    def _tables(self) -> list[pa.Table]:
        tables = []
        for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="orders/"):
            for entry in page.get("Contents", []):
                body = read_small_object(self.bucket, entry["Key"])
                try:
                    table = pq.read_table(io.BytesIO(body or b""))
                except (pa.ArrowInvalid, OSError):
                    self.skipped_objects += 1
                    continue
                tables.append(table.select([name for name in READ_COLUMNS if name in table.column_names]))
        return tables

    def order_lines(self) -> pa.Table:
        tables = self._tables()
        if not tables:
            return LINE_SCHEMA.empty_table()
        lines = pa.concat_tables(tables, promote_options="permissive")
        for name in READ_COLUMNS:
            if name not in lines.column_names:
                lines = lines.append_column(name, pa.nulls(lines.num_rows, pa.string()))
        keys = self._identifier_keys(lines)
        profiles = self._profiles_of(set(keys.drop_null().to_pylist()))
        mapping = pa.table({"key": list(profiles), "profile_id": list(profiles.values())}, schema=pa.schema(
            [("key", pa.string()), ("profile_id", pa.string())]))  # fmt: skip
        positions = pc.index_in(keys, mapping["key"])
        profile_ids = pc.take(mapping["profile_id"], positions)
        return lines.append_column("profile_id", profile_ids).select(list(LINE_COLUMNS))

    @staticmethod
    def _identifier_keys(lines: pa.Table) -> pa.ChunkedArray:
        """`<type>#<value>` of each line's first present identifier (null when it has none)."""
        keys: Any = pa.nulls(lines.num_rows, pa.string())
        for name in reversed(IDENTIFIER_COLUMNS):
            values = pc.cast(lines[name], pa.string())
            keys = pc.if_else(pc.is_valid(values), pc.binary_join_element_wise(f"{name}", values, "#"), keys)
        return keys  # type: ignore[no-any-return]

    def _profiles_of(self, keys: set[str]) -> dict[str, str]:
        identifiers = [tuple(key.split("#", 1)) for key in sorted(keys)]
        bound = self.identity.find_bound(identifiers)  # type: ignore[arg-type]
        live = self.identity.live_profile_ids(set(bound.values()))
        return {
            f"{kind}#{value}": live_id for (kind, value), profile in bound.items() if (live_id := live.get(profile))
        }
