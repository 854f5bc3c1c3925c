"""The RFM cut points of one scored run (column work with pyarrow), for the live segments to score profiles alone."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.rfm import monetary, quintile_thresholds


def _thresholds(values: pa.ChunkedArray, order: str) -> tuple[float | None, ...]:
    return quintile_thresholds(values, order, len(values))


def rfm_cut_points(profiles: pa.Table, scored: pa.Table, computed_at: datetime) -> RfmCutPoints:
    """Cut points of the buyers scored in `scored` (cdp.segments.rfm.score_profiles of `profiles`, same rows)."""
    buyers = pc.is_valid(scored["recency_days"])
    return RfmCutPoints(
        recency_days=_thresholds(scored["recency_days"].filter(buyers), "descending"),
        orders_count=_thresholds(profiles["orders_count"].filter(buyers), "ascending"),
        revenue=_thresholds(monetary(profiles["revenue"]).filter(buyers), "ascending"),
        computed_at=computed_at.isoformat(),
    )
