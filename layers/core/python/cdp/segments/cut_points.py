"""RFM quintile cut points: where the last scheduled run split its buyers, so one profile can be scored alone.

The run scores a buyer's value v as 1 + floor(5 * c / n), c the number of buyers ranked strictly below v (SQL RANK),
n the buyers. So score >= k exactly when c >= q_k = ceil((k - 1) * n / 5), that is when v beats the value at
position q_k - 1 of the buyers sorted from worst to best (`quintile_positions`). Storing those four values per
measure reproduces the run's score for any value, against the population as the run saw it (`RfmCutPoints`, in
cdp.segments.live_ports). Pure Python.
"""

from __future__ import annotations

QUINTILES = 5


def quintile_positions(buyers: int) -> list[int | None]:
    """For scores 2..5, the position (0-based, worst first) of the value a buyer must beat; None: every buyer does."""
    positions: list[int | None] = []
    for score in range(2, QUINTILES + 1):
        below = -(-(score - 1) * buyers // QUINTILES)
        positions.append(below - 1 if below > 0 else None)
    return positions
