"""Fitted model parameters as small JSON objects: `segment_work/models/<time unit>/<calibration end day>.json` in the
bucket the segment runs work in (DailyModels)."""

from __future__ import annotations

import json
from typing import Any

from cdp.adapters import object_store

MODELS_PREFIX = "segment_work/models/"


class DailyModelObjects:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def _key(self, time_unit: str, day: int) -> str:
        return f"{MODELS_PREFIX}{time_unit}/{day}.json"

    def kept(self, time_unit: str, day: int) -> dict[str, Any] | None:
        body = object_store.read_small_object(self.bucket, self._key(time_unit, day))
        return None if body is None else json.loads(body)  # type: ignore[no-any-return]

    def keep(self, time_unit: str, day: int, models: dict[str, Any]) -> None:
        object_store.write_bytes(self.bucket, self._key(time_unit, day), json.dumps(models).encode(), "application/json")
