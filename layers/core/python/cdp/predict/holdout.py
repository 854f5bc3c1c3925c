"""Holdout validation: predicted against actual repeat purchases per customer over a period after the calibration.

The comparison the BG/NBD paper draws in its conditional-expectations figure: customers grouped by their number of
calibration repeat purchases (0, 1, ..., 6, 7+), with the mean actual and mean predicted holdout purchases of each
group, plus aggregate errors over all customers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cdp.predict.bgnbd import BgNbdParameters, expected_purchases
from cdp.predict.histories import PurchaseHistories

LAST_GROUP = 7  # "7+"


def compare_holdout(bgnbd: BgNbdParameters, histories: PurchaseHistories, actual: np.ndarray,
                    length: float) -> dict[str, Any]:
    """The figure-style table and aggregate errors for a holdout `length` time units long."""
    predicted = expected_purchases(bgnbd, length, histories.frequency, histories.recency, histories.age)
    group = np.minimum(histories.frequency, LAST_GROUP)
    rows = []
    for value in range(LAST_GROUP + 1):
        members = group == value
        if not members.any():
            continue
        rows.append({
            "calibration_repeat_purchases": f"{value}+" if value == LAST_GROUP else str(value),
            "customers": int(members.sum()),
            "actual_mean": round(float(actual[members].mean()), 4),
            "predicted_mean": round(float(predicted[members].mean()), 4),
        })
    error = predicted - actual
    return {
        "length": length,
        "by_calibration_repeat_purchases": rows,
        "aggregate": {
            "actual_total": int(actual.sum()),
            "predicted_total": round(float(predicted.sum()), 2),
            "total_relative_error": round(float(error.sum() / max(actual.sum(), 1)), 4),
            "mean_absolute_error": round(float(np.abs(error).mean()), 4),
            "root_mean_squared_error": round(float(np.sqrt((error ** 2).mean())), 4),
            "correlation": round(float(np.corrcoef(predicted, actual)[0, 1]), 4) if actual.std() > 0 else None,
        },
    }
