"""The BG/NBD model of repeat buying (Fader, Hardie and Lee 2005, "Counting your customers the easy way").

While alive, a customer buys as a Poisson process of rate lambda ~ Gamma(r, alpha); after each purchase they drop
out with probability p ~ Beta(a, b). The likelihood of a history (x, t_x, T) is equation (6) of the paper, written
as in its section 7: L = A1 * A2 * (A3 + [x > 0] * A4). The fit maximises it over log-parameters with the analytic
gradient, on histories grouped by identical (x, t_x, T) and weighted by their count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1

from cdp.predict.contract import FitFailed
from cdp.predict.fitting import group_rows, maximise, standard_errors
from cdp.predict.histories import PurchaseHistories

SCALED_MAX_AGE = 10.0  # the fit runs with time rescaled so the oldest customer is this old (better conditioning)
STARTS = ((0.0, 0.0, 0.0, 0.0), (np.log(0.3), np.log(3.0), np.log(0.8), np.log(3.0)), (1.0, 1.0, -1.0, 1.0))


@dataclass(frozen=True)
class BgNbdParameters:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class GroupedHistories:
    """Distinct (x, t_x, T) triples and how many customers share each; the terms that depend on x alone are
    computed once per distinct x (`repeat_values`, indexed by `repeat_index`)."""

    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    weight: np.ndarray
    repeat_values: np.ndarray
    repeat_index: np.ndarray

    @classmethod
    def of(cls, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> GroupedHistories:
        (x, t_x, t), weight = group_rows(frequency, recency, age)
        repeat_values, repeat_index = np.unique(x, return_inverse=True)
        return cls(frequency=x, recency=t_x, age=t, weight=weight, repeat_values=repeat_values,
                   repeat_index=repeat_index)


def _log_likelihood_terms(parameters: np.ndarray, data: GroupedHistories) -> tuple[np.ndarray, np.ndarray]:
    """Each group's log-likelihood and its gradient with respect to (r, alpha, a, b), shape (4, groups)."""
    r, alpha, a, b = parameters
    t_x, age = data.recency, data.age
    values, at = data.repeat_values, data.repeat_index
    # A1 and A2 (with their derivatives) depend on x alone: evaluate per distinct x, then spread to the groups
    a1 = (gammaln(r + values) - gammaln(r))[at] + r * np.log(alpha)
    a2 = (gammaln(a + b) + gammaln(b + values) - gammaln(b) - gammaln(a + b + values))[at]
    x, repeat = data.frequency, data.frequency > 0
    b_repeat = np.where(repeat, b + x - 1, 1.0)  # b + x - 1 only matters where x > 0
    a3 = -(r + x) * np.log(alpha + age)
    a4 = np.where(repeat, np.log(a) - np.log(b_repeat) - (r + x) * np.log(alpha + t_x), -np.inf)
    tail = np.logaddexp(a3, a4)
    share4 = np.exp(a4 - tail)  # the weight of A4 in A3 + A4
    share3 = 1.0 - share4
    gradient = np.array([
        (digamma(r + values) - digamma(r))[at] + np.log(alpha) - share3 * np.log(alpha + age)
        - share4 * np.log(alpha + t_x),
        r / alpha - (r + x) * (share3 / (alpha + age) + share4 / (alpha + t_x)),
        (digamma(a + b) - digamma(a + b + values))[at] + share4 / a,
        (digamma(a + b) + digamma(b + values) - digamma(b) - digamma(a + b + values))[at] - share4 / b_repeat,
    ])
    return a1 + a2 + tail, gradient


def mean_log_likelihood(log_parameters: np.ndarray, data: GroupedHistories) -> tuple[float, np.ndarray]:
    """Mean log-likelihood per customer and its gradient with respect to the log-parameters."""
    parameters = np.exp(log_parameters)
    terms, gradient = _log_likelihood_terms(parameters, data)
    total = data.weight.sum()
    return float(data.weight @ terms / total), parameters * (gradient @ data.weight) / total


def log_likelihood(parameters: BgNbdParameters, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> float:
    """The total log-likelihood of these histories under the parameters (time in the histories' unit)."""
    return _total_log_likelihood(parameters, GroupedHistories.of(frequency, recency, age))


def _total_log_likelihood(parameters: BgNbdParameters, data: GroupedHistories) -> float:
    terms, _ = _log_likelihood_terms(np.array([parameters.r, parameters.alpha, parameters.a, parameters.b]), data)
    return float(data.weight @ terms)


@dataclass(frozen=True)
class BgNbdFit:
    parameters: BgNbdParameters
    standard_errors: BgNbdParameters
    log_likelihood: float
    customers: int


def fit_bgnbd(histories: PurchaseHistories) -> BgNbdFit:
    """Maximum likelihood estimates of (r, alpha, a, b) for these customers."""
    if not np.any(histories.frequency > 0):
        raise FitFailed("BG/NBD: no customer made a repeat purchase, so drop-out cannot be estimated")
    scale = SCALED_MAX_AGE / max(float(histories.age.max()), 1e-9)
    data = GroupedHistories.of(histories.frequency, histories.recency * scale, histories.age * scale)
    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return mean_log_likelihood(theta, data)

    log_parameters = maximise(objective, STARTS, "BG/NBD")
    r, alpha, a, b = np.exp(log_parameters)
    se_r, se_alpha, se_a, se_b = standard_errors(objective, log_parameters, len(histories))
    parameters = BgNbdParameters(r=float(r), alpha=float(alpha / scale), a=float(a), b=float(b))
    in_time_unit = replace(data, recency=data.recency / scale, age=data.age / scale)
    return BgNbdFit(parameters=parameters, customers=len(histories),
                    standard_errors=BgNbdParameters(r=float(se_r), alpha=float(se_alpha / scale), a=float(se_a),
                                                    b=float(se_b)),
                    log_likelihood=_total_log_likelihood(parameters, in_time_unit))


def _death_odds(parameters: BgNbdParameters, frequency: np.ndarray, recency: np.ndarray,
                age: np.ndarray) -> np.ndarray:
    """[x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x): the odds of having dropped out."""
    p = parameters
    x = np.asarray(frequency, dtype=float)
    log_odds = (np.log(p.a) - np.log(np.where(x > 0, p.b + x - 1, 1.0))
                + (p.r + x) * np.log((p.alpha + age) / (p.alpha + recency)))
    return np.where(x > 0, np.exp(np.minimum(log_odds, 700.0)), 0.0)


def probability_alive(parameters: BgNbdParameters, frequency: np.ndarray, recency: np.ndarray,
                      age: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))."""
    return 1.0 / (1.0 + _death_odds(parameters, frequency, recency, age))


def expected_purchases(parameters: BgNbdParameters, horizon: float | np.ndarray, frequency: np.ndarray,
                       recency: np.ndarray, age: np.ndarray) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in the next `horizon` time units (paper, equation 10)."""
    p = parameters
    x = np.asarray(frequency, dtype=float)
    t = np.asarray(horizon, dtype=float)
    hyp_a, hyp_b, hyp_c, z = p.r + x, p.b + x, p.a + p.b + x - 1, t / (p.alpha + age + t)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_hyp = np.log(hyp2f1(hyp_a, hyp_b, hyp_c, z))
        # Euler's transformation, where the series overflows: 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z)
        log_hyp_euler = np.log(hyp2f1(hyp_c - hyp_a, hyp_c - hyp_b, hyp_c, z)) + (hyp_c - hyp_a - hyp_b) * np.log1p(-z)
    log_hyp = np.where(np.isfinite(log_hyp), log_hyp, log_hyp_euler)
    remaining = -np.expm1(log_hyp + (p.r + x) * np.log((p.alpha + age) / (p.alpha + age + t)))
    return (p.a + p.b + x - 1) / (p.a - 1) * remaining / (1.0 + _death_odds(parameters, x, recency, age))
