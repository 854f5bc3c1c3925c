"""Invoked by the segment run: fit BG/NBD and Gamma-Gamma on the purchase histories it left in S3 and write each
customer's predictions beside them (numpy and scipy only: this function carries no pyarrow)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, observed_handler
from cdp.predict.customers import PredictionSettings
from cdp.predict.fit import fit_and_predict
from cdp.predict.fitting import FitFailed
from cdp.predict.histories import PurchaseHistories
from pydantic import BaseModel, Field


class FitRequest(BaseModel):
    bucket: str = Field(min_length=1)
    histories_key: str = Field(min_length=1)
    predictions_key: str = Field(min_length=1)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FitRequest.model_validate(event)
    objects = wiring.objects()
    body = objects.read_small_object(request.bucket, request.histories_key)
    if body is None:
        return {"failed": f"no histories at {request.histories_key}"}
    with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
        histories = PurchaseHistories.from_arrays(arrays)
    try:
        columns, parameters = fit_and_predict(histories, PredictionSettings())
    except FitFailed as error:
        logger.warning("prediction fit failed", extra={"reason": str(error), "customers": len(histories)})
        return {"failed": str(error)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **columns)  # type: ignore[arg-type]
    objects.write_bytes(request.bucket, request.predictions_key, buffer.getvalue(), "application/octet-stream")
    logger.info("predictions fitted", extra={"customers": len(histories), "parameters": parameters})
    return {"parameters": parameters, "customers": len(histories)}
