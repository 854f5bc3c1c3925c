"""Maximum likelihood over log-parameters with scipy: several starts, BFGS on the analytic gradient, checked result."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

from cdp.predict.contract import FitFailed

GRADIENT_TOLERANCE = 1e-7
MAX_GRADIENT = 1e-4  # of the mean log-likelihood per customer, in log-parameters
MAX_LOG_PARAMETER = 25.0


ObjectiveWithGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


def maximise(mean_log_likelihood: ObjectiveWithGradient, starts: Sequence[Sequence[float]], model: str) -> np.ndarray:
    """The log-parameters that maximise `mean_log_likelihood` (which answers the mean log-likelihood per customer
    and its gradient in log-parameters): BFGS from the first start, and from the next ones only while the runs so
    far stopped short of a maximum with a zero gradient."""

    def negative(log_parameters: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = mean_log_likelihood(log_parameters)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_parameters)
        return -value, -gradient

    best = None
    for start in starts:
        result = minimize(negative, np.asarray(start, dtype=float), jac=True, method="BFGS",
                          options={"gtol": GRADIENT_TOLERANCE, "maxiter": 2000})
        if np.all(np.isfinite(result.x)) and np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
        if best is not None and _at_interior_maximum(best.x, negative(best.x)[1]):
            break
    if best is None:
        raise FitFailed(f"{model}: the likelihood has no finite maximum on these data")
    _, gradient = negative(best.x)
    if not _at_interior_maximum(best.x, gradient):
        raise FitFailed(f"{model}: the optimiser did not converge to an interior maximum "
                        f"(log-parameters {np.round(best.x, 3).tolist()}, gradient {np.round(gradient, 6).tolist()})")
    return np.asarray(best.x)


def _at_interior_maximum(log_parameters: np.ndarray, gradient: np.ndarray) -> bool:
    """The gradient vanishes and no parameter ran off towards 0 or infinity."""
    return bool(np.max(np.abs(gradient)) <= MAX_GRADIENT and np.max(np.abs(log_parameters)) <= MAX_LOG_PARAMETER)


def group_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of these equal-length columns (sorted) and how many times each occurs."""
    order = np.lexsort(columns[::-1])
    ordered = [np.asarray(column, dtype=float)[order] for column in columns]
    changes = np.zeros(order.size, dtype=bool)
    changes[:1] = True
    for column in ordered:
        changes[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(changes)
    return [column[starts] for column in ordered], np.diff(np.r_[starts, order.size]).astype(float)


def standard_errors(mean_log_likelihood: ObjectiveWithGradient, log_parameters: np.ndarray,
                    customers: float) -> np.ndarray:
    """Asymptotic standard errors of the parameters (not their logs) at the maximum: the inverse observed
    information in log-parameters (Hessian by central differences of the analytic gradient), by the delta method."""
    step = 1e-5
    hessian = np.array([
        (mean_log_likelihood(log_parameters + step * unit)[1] - mean_log_likelihood(log_parameters - step * unit)[1])
        / (2 * step)
        for unit in np.eye(log_parameters.size)
    ])
    covariance = np.linalg.inv(-(hessian + hessian.T) / 2 * customers)
    return np.exp(log_parameters) * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
