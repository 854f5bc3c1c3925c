"""What a sharded segment run's steps hand each other, in the curated bucket under `segment_work/runs/<run id>/`:
JSON documents, Parquet tables, and each shard's purchase histories and predictions as `.npz` (the prediction
function reads and writes those without pyarrow)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pyarrow as pa

from cdp.adapters import object_store

WORK_PREFIX = "segment_work/runs/"


class ShardWorkMissing(RuntimeError):
    """A step's input is not where the plan or an earlier step left it."""


class SegmentShardWork:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def _key(self, run_id: str, name: str) -> str:
        return f"{WORK_PREFIX}{run_id}/{name}"

    def read_bytes(self, key: str) -> bytes:
        body = object_store.read_small_object(self.bucket, key)
        if body is None:
            raise ShardWorkMissing(f"no {key} in {self.bucket}")
        return body

    def write_json(self, run_id: str, name: str, document: dict[str, Any]) -> None:
        object_store.write_bytes(self.bucket, self._key(run_id, f"{name}.json"),
                                 json.dumps(document, default=str).encode(), "application/json")  # fmt: skip

    def read_json(self, run_id: str, name: str) -> dict[str, Any]:
        return dict(json.loads(self.read_bytes(self._key(run_id, f"{name}.json"))))

    def write_table(self, run_id: str, name: str, table: pa.Table) -> None:
        object_store.write_parquet(self.bucket, self._key(run_id, f"{name}.parquet"), table)

    def read_table(self, run_id: str, name: str) -> pa.Table:
        key = self._key(run_id, f"{name}.parquet")
        self.read_bytes(key)  # a missing input is named, not a bare NoSuchKey
        table: pa.Table = object_store.read_parquet(self.bucket, key)
        return table

    def write_histories(self, run_id: str, shard: int, histories: Any) -> None:
        """ShardWork.write_histories: `histories` (cdp.predict.histories.PurchaseHistories) saved by its `arrays()`."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **histories.arrays())  # type: ignore[arg-type]
        object_store.write_bytes(self.bucket, self._key(run_id, f"histories-{shard}.npz"), buffer.getvalue(),
                                 "application/octet-stream")  # fmt: skip

    def fit_request(self, run_id: str, shards: int) -> dict[str, Any]:
        return {"bucket": self.bucket,
                "histories_keys": [self._key(run_id, f"histories-{shard}.npz") for shard in range(shards)],
                "predictions_keys": [self._key(run_id, f"predictions-{shard}.npz") for shard in range(shards)]}  # fmt: skip

    def predicted(self, run_id: str, shard: int) -> dict[str, Any]:
        with np.load(io.BytesIO(self.read_bytes(self._key(run_id, f"predictions-{shard}.npz"))), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}

    def clear(self, run_id: str) -> int:
        """Delete every version of the run's work (it holds profile ids and values), its population last, so a
        retry of a step that stopped half way finds either everything it needs or a named missing input."""
        versions = [(item["Key"], item["VersionId"]) for item in object_store.object_versions(self.bucket, self._key(run_id, ""))]
        last = self._key(run_id, "population.json")
        deleted = object_store.delete_versions(self.bucket, [version for version in versions if version[0] != last])
        return deleted + object_store.delete_versions(self.bucket, [version for version in versions if version[0] == last])

    def fitted(self, run_id: str, shard: int, fit: dict[str, Any]) -> FittedPredictions:
        return FittedPredictions(self, run_id, shard, fit)


class FittedPredictions:
    """The prediction service of one shard's compute step: the predictions the fit already wrote for its histories."""

    def __init__(self, work: SegmentShardWork, run_id: str, shard: int, fit: dict[str, Any]) -> None:
        self.work, self.run_id, self.shard, self.fit = work, run_id, shard, fit

    def predict(self, histories: Any) -> dict[str, Any]:
        if self.fit.get("failed"):
            return {"failed": self.fit["failed"]}
        result = self.work.predicted(self.run_id, self.shard)
        if any(len(values) != len(histories) for values in result.values()):
            raise ShardWorkMissing(f"the fit predicted other customers than shard {self.shard}'s histories")
        return {**result, "parameters": self.fit.get("parameters", {})}
