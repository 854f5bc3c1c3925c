"""Holdout and variant assignment: deterministic, independent per journey or campaign, and uniform."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from cdp.messaging.assignment import HOLDOUT, assign

PROFILES = [f"profile-{number}" for number in range(40_000)]


def test_same_profile_same_group_every_time() -> None:
    # Given / When / Then
    groups = {profile: assign(profile, "spring_sale", 10, {"a": 50, "b": 50}) for profile in PROFILES[:500]}
    assert all(assign(profile, "spring_sale", 10, {"a": 50, "b": 50}) == group for profile, group in groups.items())


def test_split_is_uniform_within_four_standard_deviations() -> None:
    # Given
    weights = {"a": 50, "b": 30, "c": 20}
    expected = {HOLDOUT: 0.10, "a": 0.45, "b": 0.27, "c": 0.18}
    # When
    counts = Counter(assign(profile, "spring_sale", 10, weights) for profile in PROFILES)
    # Then
    for group, share in expected.items():
        sigma = math.sqrt(len(PROFILES) * share * (1 - share))
        assert abs(counts[group] - len(PROFILES) * share) < 4 * sigma, (group, counts)


def test_groups_are_independent_between_campaigns() -> None:
    # Given / When
    first = [assign(profile, "campaign_one", 50, {"main": 1}) for profile in PROFILES[:10_000]]
    second = [assign(profile, "campaign_two", 50, {"main": 1}) for profile in PROFILES[:10_000]]
    # Then: held out of both about a quarter of the time, as independent halves would be
    both = sum(one == two == HOLDOUT for one, two in zip(first, second))
    assert abs(both - 2_500) < 4 * math.sqrt(10_000 * 0.25 * 0.75)


def test_growing_the_holdout_only_moves_profiles_into_it() -> None:
    # Given / When
    small = {profile: assign(profile, "winback", 5) for profile in PROFILES[:5_000]}
    large = {profile: assign(profile, "winback", 20) for profile in PROFILES[:5_000]}
    # Then
    assert all(large[profile] == HOLDOUT for profile, group in small.items() if group == HOLDOUT)
    assert {assign(profile, "winback", 0) for profile in PROFILES[:200]} == {"main"}
    assert {assign(profile, "winback", 100) for profile in PROFILES[:200]} == {HOLDOUT}


@pytest.mark.parametrize(("holdout", "variants"), [(-1, {"a": 1}), (101, {"a": 1}), (10, {}), (10, {"a": 0}),
                                                   (10, {"a": -1, "b": 2}), (10, {"holdout": 1})])
def test_bad_splits_are_refused(holdout: float, variants: dict[str, int]) -> None:
    # Given / When / Then
    with pytest.raises(ValueError):
        assign("p", "x", holdout, variants)
