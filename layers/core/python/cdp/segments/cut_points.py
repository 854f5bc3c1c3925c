"""RFM quintile cut points: where the last scheduled run split its buyers, so one profile can be scored alone.

The run scores a buyer's value v as 1 + floor(5 * c / n), c the number of buyers ranked strictly below v (SQL RANK),
n the buyers. So score >= k exactly when c >= q_k = ceil((k - 1) * n / 5), that is when v beats the value at
position q_k - 1 of the buyers sorted from worst to best (`quintile_positions`). Storing those four values per
measure reproduces the run's score for any value, against the population as the run saw it. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUINTILES = 5


def quintile_positions(buyers: int) -> list[int | None]:
    """For scores 2..5, the position (0-based, worst first) of the value a buyer must beat; None: every buyer does."""
    positions: list[int | None] = []
    for score in range(2, QUINTILES + 1):
        below = -(-(score - 1) * buyers // QUINTILES)
        positions.append(below - 1 if below > 0 else None)
    return positions


@dataclass(frozen=True)
class RfmCutPoints:
    """The quintile boundaries of the last scheduled run: a value beats `thresholds[k-2]` to score k or more.

    For F and M (more is better) score >= k when the value is above the threshold; for recency (fewer days is better)
    when it is below. A missing threshold means every buyer reaches that score (too few buyers to split)."""

    recency_days: tuple[float | None, ...]
    orders_count: tuple[float | None, ...]
    revenue: tuple[float | None, ...]
    computed_at: str

    def score(self, name: str, value: float) -> int:
        if name == "recency_days":
            return 1 + sum(threshold is None or value < threshold for threshold in self.recency_days)
        thresholds = self.orders_count if name == "orders_count" else self.revenue
        return 1 + sum(threshold is None or value > threshold for threshold in thresholds)

    def as_item(self) -> dict[str, Any]:
        return {"recency_days": list(self.recency_days), "orders_count": list(self.orders_count),
                "revenue": list(self.revenue), "computed_at": self.computed_at}  # fmt: skip

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RfmCutPoints:
        def thresholds(name: str) -> tuple[float | None, ...]:
            return tuple(None if value is None else float(value) for value in item[name])

        return cls(thresholds("recency_days"), thresholds("orders_count"), thresholds("revenue"), str(item["computed_at"]))
