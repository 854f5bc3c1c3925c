"""The prediction service as a Lambda function of its own (numpy and scipy, no pyarrow): histories go to S3 as a
`.npz`, the function fits and predicts and writes its `.npz` answer beside them, which is read back here."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import numpy as np

from cdp.adapters import object_store
from cdp.adapters.clients import client

WORK_PREFIX = "segment_work/predictions/"


class PredictionFunctionError(RuntimeError):
    """The prediction function failed; its error type and message."""


class PredictionFunction:
    def __init__(self, function_name: str, bucket: str) -> None:
        self.function_name, self.bucket = function_name, bucket

    def predict(self, histories: Any) -> dict[str, Any]:
        """PredictionService.predict: `histories` (cdp.predict.histories.PurchaseHistories) saved by its `arrays()`."""
        folder = f"{WORK_PREFIX}{uuid.uuid4()}/"
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **histories.arrays())  # type: ignore[arg-type]
        object_store.write_bytes(self.bucket, f"{folder}histories.npz", buffer.getvalue(), "application/octet-stream")
        response = client("lambda").invoke(
            FunctionName=self.function_name,
            Payload=json.dumps({"bucket": self.bucket, "histories_key": f"{folder}histories.npz",
                                "predictions_key": f"{folder}predictions.npz"}).encode(),
        )  # fmt: skip
        answer = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise PredictionFunctionError(f"{answer.get('errorType')}: {answer.get('errorMessage')}")
        if answer.get("failed"):
            return {"failed": answer["failed"]}
        body = object_store.read_small_object(self.bucket, f"{folder}predictions.npz")
        if body is None:
            raise PredictionFunctionError("the prediction function wrote no predictions")
        with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
            result: dict[str, Any] = {name: arrays[name] for name in arrays.files}
        return {**result, "parameters": answer.get("parameters", {})}
