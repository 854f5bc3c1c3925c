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


def no_histories(calibration_end_day: int, time_unit: TimeUnit) -> PurchaseHistories:
    """Histories of no customer (a shard without buyers), to be concatenated with others."""
    return PurchaseHistories(customer_id=None, **{name: np.zeros(0, np.int64 if name in ("first_day", "last_day",
                                                                                          "frequency") else float)
                                                  for name in ARRAYS},
                             calibration_end_day=calibration_end_day, time_unit=time_unit)  # fmt: skip


def concatenated(parts: list[PurchaseHistories]) -> PurchaseHistories:
    """One set of histories from parts sharing a calibration end and time unit (ids dropped)."""
    first = parts[0]
    if any(part.calibration_end_day != first.calibration_end_day or part.time_unit != first.time_unit for part in parts):
        raise ValueError("histories parts differ in calibration end or time unit")
    return PurchaseHistories(customer_id=None, **{name: np.concatenate([getattr(part, name) for part in parts])
                                                  for name in ARRAYS},
                             calibration_end_day=first.calibration_end_day, time_unit=first.time_unit)  # fmt: skip


def canonical_order(histories: PurchaseHistories) -> np.ndarray:
    """The positions that sort the customers by their statistics: fitting in this order gives the same parameters,
    to the last bit, whatever order (or split into shards) the histories came in."""
    return np.lexsort(tuple(getattr(histories, name) for name in reversed(ARRAYS)))


def taken(histories: PurchaseHistories, positions: np.ndarray) -> PurchaseHistories:
    """The histories of the customers at `positions`, in that order."""
    ids = None if histories.customer_id is None else histories.customer_id.take(positions)
    return PurchaseHistories(customer_id=ids, **{name: getattr(histories, name)[positions] for name in ARRAYS},
                             calibration_end_day=histories.calibration_end_day, time_unit=histories.time_unit)
