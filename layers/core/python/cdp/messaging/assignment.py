"""Holdout and A/B variant assignment: deterministic per (origin name, profile), uniform, the same everywhere.

One sha256 of `"<origin_name>:<profile_id>"` read as a number in [0, 1): the first `holdout_percent` of that range is
the holdout (the control group, never messaged); the rest is split between the variants in proportion to their
weights. A profile therefore keeps its group across retries, runs and Lambdas, and changing the holdout size moves
only the profiles at the boundary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from itertools import accumulate

HOLDOUT = "holdout"
DEFAULT_VARIANTS: Mapping[str, int] = {"main": 100}
_SCALE = float(1 << 64)


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
    return Split(origin_name, holdout_percent, variants).group(profile_id)


class Split:
    """One journey's or campaign's holdout and variants, validated once: the group of any number of profiles, the
    same as `assign` gives each (a campaign's audience of a million is assigned without re-validating per profile)."""

    def __init__(
        self, origin_name: str, holdout_percent: float, variants: Mapping[str, int] = DEFAULT_VARIANTS
    ) -> None:
        validate_split(holdout_percent, variants)
        self.prefix = f"{origin_name}:".encode()
        self.holdout_percent = holdout_percent
        self.total = sum(variants.values())
        self.bounds = list(zip(variants, accumulate(variants.values()), strict=True))
        self.top = [name for name, weight in variants.items() if weight > 0][-1]  # float edge at the very top

    def group(self, profile_id: str) -> str:
        return self.groups([profile_id])[0]

    def groups(self, profile_ids: Iterable[str]) -> list[str]:
        """The group of each profile, in order."""
        sha256, prefix = hashlib.sha256, self.prefix
        return [
            self._choose(int.from_bytes(sha256(prefix + profile_id.encode()).digest()[:8], "big") / _SCALE * 100)
            for profile_id in profile_ids
        ]

    def _choose(self, position: float) -> str:
        """The group at `position` in [0, 100): holdout first, then each variant's share of the rest."""
        if position < self.holdout_percent:
            return HOLDOUT
        within = (position - self.holdout_percent) / (100 - self.holdout_percent) * self.total
        for name, cumulative in self.bounds:
            if within < cumulative:
                return name
        return self.top
