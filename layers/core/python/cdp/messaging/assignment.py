"""Holdout and A/B variant assignment: deterministic per (origin name, profile), uniform, the same everywhere.

One sha256 of `"<origin_name>:<profile_id>"` read as a number in [0, 1): the first `holdout_percent` of that range is
the holdout (the control group, never messaged); the rest is split between the variants in proportion to their
weights. A profile therefore keeps its group across retries, runs and Lambdas, and changing the holdout size moves
only the profiles at the boundary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

HOLDOUT = "holdout"
DEFAULT_VARIANTS: Mapping[str, int] = {"main": 100}
_SCALE = float(1 << 64)


def unit_interval(origin_name: str, profile_id: str) -> float:
    """The profile's fixed position in [0, 1) for this journey or campaign."""
    digest = hashlib.sha256(f"{origin_name}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def validate_split(holdout_percent: float, variants: Mapping[str, int]) -> None:
    """A holdout in [0, 100] and at least one variant, weights >= 0 summing to more than 0."""
    if not 0 <= holdout_percent <= 100:
        raise ValueError(f"holdout_percent must be between 0 and 100, not {holdout_percent}")
    if not variants:
        raise ValueError("at least one variant is needed")
    if any(weight < 0 for weight in variants.values()) or sum(variants.values()) <= 0:
        raise ValueError(f"variant weights must be >= 0 and sum to more than 0: {dict(variants)}")
    if HOLDOUT in variants:
        raise ValueError(f"{HOLDOUT!r} is reserved for the control group, not a variant name")


def assign(
    profile_id: str, origin_name: str, holdout_percent: float, variants: Mapping[str, int] = DEFAULT_VARIANTS
) -> str:
    """`"holdout"` or the name of the variant this profile receives."""
    validate_split(holdout_percent, variants)
    position = unit_interval(origin_name, profile_id) * 100
    if position < holdout_percent:
        return HOLDOUT
    within = (position - holdout_percent) / (100 - holdout_percent) * sum(variants.values())
    cumulative = 0
    for name, weight in variants.items():
        cumulative += weight
        if within < cumulative:
            return name
    return [name for name, weight in variants.items() if weight > 0][-1]  # float edge at the very top
