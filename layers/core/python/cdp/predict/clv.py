"""The CLV use case: fit BG/NBD and Gamma-Gamma on a calibration period, report the parameters, validate on a
holdout period and predict per customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from cdp.predict.bgnbd import BgNbdFit, fit_bgnbd
from cdp.predict.contract import PredictionSettings
from cdp.predict.customers import predict_customers
from cdp.predict.gamma_gamma import GammaGammaFit, fit_gamma_gamma
from cdp.predict.holdout import compare_holdout
from cdp.predict.summary import (
    DAYS_PER_UNIT,
    InvalidTransactions,
    PurchaseHistories,
    TimeUnit,
    Transactions,
    day_number,
    repeat_purchases_between,
    summarise,
)

DIGITS = 6


@dataclass(frozen=True)
class ClvModels:
    histories: PurchaseHistories
    bgnbd: BgNbdFit
    spend: GammaGammaFit

    def report(self) -> dict[str, Any]:
        """The fitted parameters, the customers fitted and the repeat buyers left out of the spend model."""
        bgnbd = {name: round(value, DIGITS) for name, value in self.bgnbd.parameters.as_dict().items()}
        return {
            "bgnbd": bgnbd | {"log_likelihood": round(self.bgnbd.log_likelihood, 3)},
            "gamma_gamma": {name: round(value, DIGITS) for name, value in self.spend.parameters.as_dict().items()},
            "customers": self.bgnbd.customers,
            "repeat_customers_without_positive_spend": self.spend.left_out,
        }

    def predictions(self, settings: PredictionSettings) -> pa.Table:
        return predict_customers(self.histories, self.bgnbd.parameters, self.spend.parameters, settings)


def fit_models(transactions: Transactions, calibration_end: date, time_unit: TimeUnit) -> ClvModels:
    """Both models fitted on the purchases up to calibration_end (inclusive)."""
    histories = summarise(transactions, calibration_end, time_unit)
    return ClvModels(histories=histories, bgnbd=fit_bgnbd(histories),
                     spend=fit_gamma_gamma(histories.frequency, histories.mean_repeat_spend))


def holdout_report(models: ClvModels, transactions: Transactions, holdout_end: date) -> dict[str, Any]:
    """Predicted against actual repeat purchases of the calibration customers from the day after the calibration
    end to holdout_end (inclusive)."""
    histories = models.histories
    length_days = day_number(holdout_end) - histories.calibration_end_day
    if length_days <= 0:
        raise InvalidTransactions("the holdout end must be after the calibration end")
    actual = repeat_purchases_between(transactions, histories, holdout_end)
    report = compare_holdout(models.bgnbd.parameters, histories, actual, length_days / DAYS_PER_UNIT[histories.time_unit])
    return {"end": holdout_end.isoformat(), "time_unit": histories.time_unit} | report
