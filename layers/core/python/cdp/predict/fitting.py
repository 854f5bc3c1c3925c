"""Maximum likelihood over log-parameters with scipy: several starts, BFGS on the analytic gradient, checked result."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

GRADIENT_TOLERANCE = 1e-7


class FitFailed(RuntimeError):
    """The optimiser found no finite maximum of the likelihood (the data do not identify the model)."""


ObjectiveWithGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


def maximise(mean_log_likelihood: ObjectiveWithGradient, starts: Sequence[Sequence[float]], model: str) -> np.ndarray:
    """The log-parameters that maximise `mean_log_likelihood` (which answers the mean log-likelihood per customer
    and its gradient in log-parameters), from the best of several starting points."""

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
    if best is None:
        raise FitFailed(f"{model}: the likelihood has no finite maximum on these data")
    _, gradient = negative(best.x)
    if np.max(np.abs(gradient)) > 1e-4 or np.max(np.abs(best.x)) > 25:
        raise FitFailed(f"{model}: the optimiser did not converge to an interior maximum "
                        f"(log-parameters {np.round(best.x, 3).tolist()}, gradient {np.round(gradient, 6).tolist()})")
    return np.asarray(best.x)
