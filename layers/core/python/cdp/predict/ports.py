"""What the prediction fit needs from storage: the models fitted for a day, kept so the day's later runs reuse them."""

from __future__ import annotations

from typing import Any, Protocol


class DailyModels(Protocol):
    """Fitted model parameters (cdp.predict.fit.fitted_models) by time unit and calibration end day."""

    def kept(self, time_unit: str, day: int) -> dict[str, Any] | None:
        """The parameters kept for that day, or None when none were."""
        ...

    def keep(self, time_unit: str, day: int, models: dict[str, Any]) -> None: ...
