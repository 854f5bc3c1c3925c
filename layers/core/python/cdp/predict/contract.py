"""What the segment run and the prediction fit share without scipy: the settings a prediction asks for and the
failure a fit may answer (the segment run's function carries numpy and pyarrow only; the fit's carries scipy)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PredictionSettings:
    horizon_days: float = 90.0  # the window of "expected purchases in the next N days"
    months: int = 12
    monthly_discount: float = 0.01


class FitFailed(RuntimeError):
    """The optimiser found no finite maximum of the likelihood (the data do not identify the model)."""
