"""Invoked by the segment run: fit BG/NBD and Gamma-Gamma on the purchase histories it left in S3 and write each
customer's predictions beside them (numpy and scipy only: this function carries no pyarrow). A sharded run leaves
one histories part per shard: the models are fitted once on all of them, and each part's predictions written apart.

The models are fitted once a day: the day's first run fits them and keeps their parameters (cdp.adapters.daily_models),
the later runs of that day predict with those (cdp.predict.fit.predict_with_the_days_models)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, observed_handler
from cdp.predict.contract import FitFailed, PredictionSettings
from cdp.predict.fit import predict_with_the_days_models
from cdp.predict.histories import PurchaseHistories, concatenated
from pydantic import BaseModel, Field, model_validator


class FitRequest(BaseModel):
    """One histories object and where its predictions go, or (a sharded run) one per shard, in the same order."""

    bucket: str = Field(min_length=1)
    histories_keys: list[str] = Field(min_length=1, max_length=1000)
    predictions_keys: list[str] = Field(min_length=1, max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _one_part(cls, data: Any) -> Any:
        if isinstance(data, dict) and "histories_key" in data:
            return {"bucket": data.get("bucket"), "histories_keys": [data["histories_key"]],
                    "predictions_keys": [data.get("predictions_key")]}  # fmt: skip
        return data

    @model_validator(mode="after")
    def _aligned(self) -> FitRequest:
        if len(self.histories_keys) != len(self.predictions_keys):
            raise ValueError("histories_keys and predictions_keys differ in length")
        return self


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FitRequest.model_validate(event)
    objects = wiring.objects()
    parts = []
    for key in request.histories_keys:
        body = objects.read_small_object(request.bucket, key)
        if body is None:
            return {"failed": f"no histories at {key}"}
        with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
            parts.append(PurchaseHistories.from_arrays(arrays))
    try:
        histories = concatenated(parts)
        columns, parameters, fitted = predict_with_the_days_models(
            histories, PredictionSettings(), wiring.daily_models(request.bucket)
        )
    except (FitFailed, ValueError) as error:
        logger.warning("prediction fit failed", extra={"reason": str(error), "customers": sum(map(len, parts))})
        return {"failed": str(error)}
    ends = np.cumsum([len(part) for part in parts])
    for key, start, end in zip(request.predictions_keys, [0, *ends[:-1]], ends):
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: values[start:end] for name, values in columns.items()})  # type: ignore[arg-type]
        objects.write_bytes(request.bucket, key, buffer.getvalue(), "application/octet-stream")
    logger.info("predictions made", extra={"customers": len(histories), "parameters": parameters, "fitted": fitted})
    return {"parameters": parameters, "customers": len(histories), "fitted": fitted}
