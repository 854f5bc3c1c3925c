"""Fit both models on purchase histories and predict every customer: numpy and scipy only, no pyarrow, so it runs
in the function whose layer carries scipy (pyarrow and scipy together exceed Lambda's 250 MB)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cdp.predict.bgnbd import BgNbdParameters, fit_bgnbd
from cdp.predict.contract import PredictionSettings
from cdp.predict.customers import prediction_columns
from cdp.predict.gamma_gamma import GammaGammaParameters, fit_gamma_gamma
from cdp.predict.histories import PurchaseHistories, canonical_order, taken
from cdp.predict.ports import DailyModels

DIGITS = 6


def fitted_models(histories: PurchaseHistories) -> dict[str, Any]:
    """Both models fitted on the histories, at full precision: `{"bgnbd": {r, alpha, a, b}, "gamma_gamma": {p, q,
    gamma}, "customers": n}` (JSON-ready). Fitted in the histories' canonical order, so the same customers give the
    same parameters however they were ordered or split; raises FitFailed when the data do not identify a model."""
    histories = taken(histories, canonical_order(histories))
    bgnbd = fit_bgnbd(histories)
    spend = fit_gamma_gamma(histories.frequency, histories.mean_repeat_spend)
    return {"bgnbd": bgnbd.parameters.as_dict(), "gamma_gamma": spend.parameters.as_dict(), "customers": bgnbd.customers}


def fit_and_predict(
    histories: PurchaseHistories, settings: PredictionSettings, models: dict[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-customer prediction arrays (cdp.predict.customers.prediction_columns) from `models` (as `fitted_models`
    returns them; fitted on these histories when None), and their parameters rounded for a report."""
    models = models if models is not None else fitted_models(histories)
    bgnbd, spend = BgNbdParameters(**models["bgnbd"]), GammaGammaParameters(**models["gamma_gamma"])
    parameters = {
        "bgnbd": {name: round(value, DIGITS) for name, value in bgnbd.as_dict().items()},
        "gamma_gamma": {name: round(value, DIGITS) for name, value in spend.as_dict().items()},
        "customers": models["customers"],
    }
    return prediction_columns(histories, bgnbd, spend, settings), parameters


def predict_with_the_days_models(
    histories: PurchaseHistories, settings: PredictionSettings, models: DailyModels
) -> tuple[dict[str, np.ndarray], dict[str, Any], bool]:
    """Predict every customer with the models of the histories' calibration day: those an earlier run of the day
    kept, else fitted on these histories now and kept. Returns the prediction arrays, the parameters for a report
    and whether they were fitted now. Refitting at every run would move every buyer's predictions a little with
    each new order anywhere, and so rewrite every buyer's profile at every run."""
    day_models = models.kept(histories.time_unit, histories.calibration_end_day)
    fitted_now = day_models is None
    if day_models is None:
        day_models = fitted_models(histories)
        models.keep(histories.time_unit, histories.calibration_end_day, day_models)
    columns, parameters = fit_and_predict(histories, settings, day_models)
    return columns, parameters, fitted_now
