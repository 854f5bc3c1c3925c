"""Per-customer predictions from fitted BG/NBD and Gamma-Gamma models: P(alive), expected purchases, expected
spend, discounted 12-month CLV, expected next order date with an interval, and a confidence flag.

Definitions (docs/predictions.md gives the formulas):
- CLV follows lifetimes' `customer_lifetime_value`: for each month i = 1..months, the expected repeat purchases in
  that month (difference of E[Y(t)] at the month's end and start; a month is 30 days or 4.345 weeks) times the
  expected average spend, divided by (1 + monthly_discount)^i.
- Next order, for a customer still alive: the posterior purchase rate given (x, T) is Gamma(r + x, alpha + T), so
  the expected next order is 1 / E[rate] = (alpha + T) / (r + x) time units after the calibration end (purchases
  are memoryless). Its 10%-90% interval comes from the predictive waiting time of an alive customer,
  P(W > w) = ((alpha + T) / (alpha + T + w))^(r + x), so w_q = (alpha + T) ((1 - q)^(-1 / (r + x)) - 1).
- Confidence: "low" when the customer has no repeat purchase or was observed for less than the population's mean
  time between purchases (alpha / r); "medium" with one or two repeat purchases; "high" otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cdp.predict.bgnbd import BgNbdParameters, expected_purchases, probability_alive
from cdp.predict.contract import PredictionSettings
from cdp.predict.gamma_gamma import GammaGammaParameters, expected_average_spend
from cdp.predict.histories import DAYS_PER_UNIT, PurchaseHistories

UNITS_PER_MONTH = {"days": 30.0, "weeks": 4.345}  # as lifetimes' customer_lifetime_value
HIGH_CONFIDENCE_REPEATS = 3
INTERVAL_QUANTILES = (0.1, 0.9)
MAX_WAIT_DAYS = 36_500.0  # waiting times beyond 100 years are reported as 100 years


def lifetime_value(bgnbd: BgNbdParameters, histories: PurchaseHistories, average_spend: np.ndarray, months: int,
                   monthly_discount: float) -> np.ndarray:
    """Discounted expected spend over the next `months` months (lifetimes' customer_lifetime_value)."""
    month = UNITS_PER_MONTH[histories.time_unit]
    value = np.zeros(len(histories))
    bought_before = np.zeros(len(histories))
    for i in range(1, months + 1):
        bought = expected_purchases(bgnbd, i * month, histories.frequency, histories.recency, histories.age)
        value += average_spend * (bought - bought_before) / (1 + monthly_discount) ** i
        bought_before = bought
    return value


def waiting_time_quantile(bgnbd: BgNbdParameters, histories: PurchaseHistories, quantile: float) -> np.ndarray:
    """The quantile of an alive customer's wait for their next purchase, in time units after the calibration end."""
    shape = bgnbd.r + histories.frequency
    return (bgnbd.alpha + histories.age) * np.expm1(-np.log1p(-quantile) / shape)


def confidence(bgnbd: BgNbdParameters, histories: PurchaseHistories) -> np.ndarray:
    """The confidence flag of each customer's predictions (rule in the module docstring)."""
    short = (histories.frequency == 0) | (histories.age < bgnbd.alpha / bgnbd.r)
    return np.where(short, "low", np.where(histories.frequency < HIGH_CONFIDENCE_REPEATS, "medium", "high"))


def prediction_columns(histories: PurchaseHistories, bgnbd: BgNbdParameters, spend: GammaGammaParameters,
                       settings: PredictionSettings) -> dict[str, np.ndarray]:
    """Each customer's predictions as of the calibration end, as numpy arrays aligned with the histories."""
    days = DAYS_PER_UNIT[histories.time_unit]
    x, t_x, age = histories.frequency, histories.recency, histories.age
    average_spend = expected_average_spend(spend, x, histories.mean_repeat_spend)
    wait_days = np.minimum((bgnbd.alpha + age) / (bgnbd.r + x) * days, MAX_WAIT_DAYS)
    earliest, latest = (np.minimum(waiting_time_quantile(bgnbd, histories, q) * days, MAX_WAIT_DAYS)
                        for q in INTERVAL_QUANTILES)
    return {
        "repeat_purchases": x.astype(np.int64),
        "probability_alive": probability_alive(bgnbd, x, t_x, age),
        "expected_purchases": expected_purchases(bgnbd, settings.horizon_days / days, x, t_x, age),
        "expected_average_spend": average_spend,
        "clv": lifetime_value(bgnbd, histories, average_spend, settings.months, settings.monthly_discount),
        "next_order_day": histories.calibration_end_day + np.ceil(wait_days).astype(np.int64),
        "next_order_in_days": wait_days,
        "next_order_in_days_p10": earliest,
        "next_order_in_days_p90": latest,
        "confidence": confidence(bgnbd, histories),
    }


def predict_customers(histories: PurchaseHistories, bgnbd: BgNbdParameters, spend: GammaGammaParameters,
                      settings: PredictionSettings) -> Any:
    """One row of predictions per customer, as of the calibration end, as a pyarrow table (pyarrow is imported
    here only: the fit function uses `prediction_columns` without it)."""
    import pyarrow as pa

    columns = prediction_columns(histories, bgnbd, spend, settings)
    next_order_day = columns.pop("next_order_day")
    table: dict[str, Any] = {"customer_id": histories.customer_id, **columns}
    table["repeat_purchases"] = pa.array(columns["repeat_purchases"], pa.int64())
    table["next_order_date"] = pa.array(next_order_day.astype(np.int32), pa.int32()).cast(pa.date32())
    table["confidence"] = pa.array(columns["confidence"], pa.string())
    order = ["customer_id", "repeat_purchases", "probability_alive", "expected_purchases", "expected_average_spend",
             "clv", "next_order_date", "next_order_in_days", "next_order_in_days_p10", "next_order_in_days_p90",
             "confidence"]
    return pa.table({name: table[name] for name in order})
