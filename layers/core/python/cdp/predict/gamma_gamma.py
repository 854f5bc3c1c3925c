"""The Gamma-Gamma model of spend per transaction (Fader and Hardie, "The Gamma-Gamma Model of Monetary Value").

A customer's transaction values are Gamma(p, nu) around their own mean; nu ~ Gamma(q, gamma) across customers. The
likelihood of a customer's mean m of x repeat transactions is the note's equation (1a); the fit maximises it over
log-parameters with the analytic gradient, on customers with x > 0 and m > 0 grouped by identical (x, m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from cdp.predict.contract import FitFailed
from cdp.predict.fitting import group_rows, maximise, standard_errors

STARTS = ((0.0, 0.0, 0.0), (np.log(5.0), np.log(3.0), 0.0), (1.0, 2.0, -1.0))


@dataclass(frozen=True)
class GammaGammaParameters:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


@dataclass(frozen=True)
class GammaGammaFit:
    parameters: GammaGammaParameters
    standard_errors: GammaGammaParameters
    log_likelihood: float
    customers: int  # customers in the fit: repeat buyers with a positive mean repeat spend
    left_out: int  # repeat buyers whose mean repeat spend is not positive


@dataclass(frozen=True)
class GroupedSpend:
    """Distinct (x, m) pairs and how many customers share each; the terms that depend on x alone are computed once
    per distinct x (`frequency_values`, indexed by `frequency_index`)."""

    frequency: np.ndarray
    mean_spend: np.ndarray
    weight: np.ndarray
    frequency_values: np.ndarray
    frequency_index: np.ndarray

    @classmethod
    def of(cls, frequency: np.ndarray, mean_spend: np.ndarray) -> GroupedSpend:
        (x, m), weight = group_rows(frequency, mean_spend)
        values, index = np.unique(x, return_inverse=True)
        return cls(frequency=x, mean_spend=m, weight=weight, frequency_values=values, frequency_index=index)


def _terms(parameters: np.ndarray, data: GroupedSpend) -> tuple[np.ndarray, np.ndarray]:
    """Each group's log-likelihood and its gradient with respect to (p, q, gamma), shape (3, groups)."""
    p, q, scale = parameters
    x, m, values, at = data.frequency, data.mean_spend, data.frequency_values, data.frequency_index
    px = p * x
    log_m, log_total = np.log(m), np.log(scale + m * x)
    terms = ((gammaln(p * values + q) - gammaln(p * values) + p * values * np.log(values))[at] - gammaln(q)
             + q * np.log(scale) + (px - 1) * log_m - (px + q) * log_total)
    digamma_sum = digamma(p * values + q)[at]
    gradient = np.array([
        x * (digamma_sum - digamma(p * values)[at] + log_m + np.log(values)[at] - log_total),
        digamma_sum - digamma(q) + np.log(scale) - log_total,
        q / scale - (px + q) / (scale + m * x),
    ])
    return terms, gradient


def mean_log_likelihood(log_parameters: np.ndarray, data: GroupedSpend) -> tuple[float, np.ndarray]:
    """Mean log-likelihood per customer and its gradient with respect to the log-parameters."""
    parameters = np.exp(log_parameters)
    terms, gradient = _terms(parameters, data)
    total = data.weight.sum()
    return float(data.weight @ terms / total), parameters * (gradient @ data.weight) / total


def fit_gamma_gamma(frequency: np.ndarray, mean_spend: np.ndarray) -> GammaGammaFit:
    """Maximum likelihood estimates of (p, q, gamma) from repeat buyers' frequency and mean repeat spend; repeat
    buyers whose mean is not positive are left out and counted."""
    repeat = frequency > 0
    usable = repeat & (mean_spend > 0)
    if np.count_nonzero(usable) < 2:
        raise FitFailed("Gamma-Gamma: fewer than 2 repeat buyers with a positive mean repeat spend")
    spend_scale = float(np.mean(mean_spend[usable]))  # fit in units of the mean spend, for conditioning
    data = GroupedSpend.of(frequency[usable], mean_spend[usable] / spend_scale)
    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return mean_log_likelihood(theta, data)

    log_parameters = maximise(objective, STARTS, "Gamma-Gamma")
    p, q, scale = np.exp(log_parameters)
    se_p, se_q, se_scale = standard_errors(objective, log_parameters, float(data.weight.sum()))
    parameters = GammaGammaParameters(p=float(p), q=float(q), gamma=float(scale * spend_scale))
    original = GroupedSpend.of(frequency[usable], mean_spend[usable])
    terms, _ = _terms(np.array([parameters.p, parameters.q, parameters.gamma]), original)
    return GammaGammaFit(parameters=parameters, log_likelihood=float(original.weight @ terms),
                         standard_errors=GammaGammaParameters(p=float(se_p), q=float(se_q),
                                                              gamma=float(se_scale * spend_scale)),
                         customers=int(np.count_nonzero(usable)),
                         left_out=int(np.count_nonzero(repeat & ~usable)))


def expected_average_spend(parameters: GammaGammaParameters, frequency: np.ndarray,
                           mean_spend: np.ndarray) -> np.ndarray:
    """E[M | x, m] = (q - 1)/(p x + q - 1) * p gamma/(q - 1) + p x/(p x + q - 1) * m (the note's equation 5): a
    weighted mean of the population mean and the customer's own. A customer with x = 0 or no positive mean gets the
    population mean p gamma / (q - 1), which exists only when q > 1."""
    p, q, scale = parameters.p, parameters.q, parameters.gamma
    if q <= 1:
        raise FitFailed(f"Gamma-Gamma: q = {q:.3f} <= 1, so the population mean spend is not finite")
    x = np.where(mean_spend > 0, np.asarray(frequency, dtype=float), 0.0)
    own_weight = p * x / (p * x + q - 1)
    return (1 - own_weight) * p * scale / (q - 1) + own_weight * np.where(mean_spend > 0, mean_spend, 0.0)
