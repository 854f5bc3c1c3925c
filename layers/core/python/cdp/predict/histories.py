"""Per-customer purchase histories, the models' sufficient statistics, as numpy arrays only (no pyarrow): the
function that fits the models carries numpy and scipy and not pyarrow, and receives these arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

TimeUnit = Literal["days", "weeks"]
DAYS_PER_UNIT: dict[str, int] = {"days": 1, "weeks": 7}
ARRAYS = ("first_day", "last_day", "frequency", "recency", "age", "mean_repeat_spend")


@dataclass(frozen=True)
class PurchaseHistories:
    """The sufficient statistics of each customer seen by the calibration end (arrays aligned by customer)."""

    customer_id: Any  # a pyarrow array of ids where pyarrow is loaded; None in the fit function
    first_day: np.ndarray
    last_day: np.ndarray
    frequency: np.ndarray  # x: repeat purchase days
    recency: np.ndarray  # t_x in time units
    age: np.ndarray  # T in time units
    mean_repeat_spend: np.ndarray  # m: mean amount per repeat purchase day (0 when x = 0)
    calibration_end_day: int
    time_unit: TimeUnit

    def __len__(self) -> int:
        return int(self.frequency.size)

    def arrays(self) -> dict[str, np.ndarray]:
        """The numeric arrays and the calibration end, as `numpy.savez` stores them."""
        return {name: getattr(self, name) for name in ARRAYS} | {
            "calibration_end_day": np.array(self.calibration_end_day), "time_unit": np.array(self.time_unit)}

    @classmethod
    def from_arrays(cls, arrays: Any) -> PurchaseHistories:
        """Histories from `arrays()` (a loaded `.npz`), without customer ids."""
        unit = str(arrays["time_unit"])
        if unit not in DAYS_PER_UNIT:
            raise ValueError(f"time_unit {unit!r} is not one of {sorted(DAYS_PER_UNIT)}")
        return cls(customer_id=None, **{name: np.asarray(arrays[name]) for name in ARRAYS},
                   calibration_end_day=int(arrays["calibration_end_day"]), time_unit=unit)  # type: ignore[arg-type]
