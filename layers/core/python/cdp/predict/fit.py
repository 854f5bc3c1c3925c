"""Fit both models on purchase histories and predict every customer: numpy and scipy only, no pyarrow, so it runs
in the function whose layer carries scipy (pyarrow and scipy together exceed Lambda's 250 MB)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cdp.predict.bgnbd import fit_bgnbd
from cdp.predict.contract import PredictionSettings
from cdp.predict.customers import prediction_columns
from cdp.predict.gamma_gamma import fit_gamma_gamma
from cdp.predict.histories import PurchaseHistories, canonical_order, taken

DIGITS = 6


def fit_and_predict(histories: PurchaseHistories, settings: PredictionSettings) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-customer prediction arrays (cdp.predict.customers.prediction_columns) and the fitted parameters;
    raises FitFailed when the data do not identify a model. Fitted in the histories' canonical order, so the same
    customers give the same parameters however they were ordered or split."""
    order = canonical_order(histories)
    histories = taken(histories, order)
    bgnbd = fit_bgnbd(histories)
    spend = fit_gamma_gamma(histories.frequency, histories.mean_repeat_spend)
    parameters = {
        "bgnbd": {name: round(value, DIGITS) for name, value in bgnbd.parameters.as_dict().items()},
        "gamma_gamma": {name: round(value, DIGITS) for name, value in spend.parameters.as_dict().items()},
        "customers": bgnbd.customers,
    }
    columns = prediction_columns(histories, bgnbd.parameters, spend.parameters, settings)
    restored = np.empty_like(order)
    restored[order] = np.arange(order.size)
    return {name: values[restored] for name, values in columns.items()}, parameters
