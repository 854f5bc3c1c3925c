"""Uplift against holdouts and its statistics, against published and hand-computed values (no scipy)."""

from __future__ import annotations

import math

import pytest
from cdp.measure.rules import MeasurementRules
from cdp.measure.statistics import (
    Sample,
    difference_interval,
    relative_lift_interval,
    sample_size_per_group,
    student_t_quantile,
    welch_interval,
    wilson_interval,
)
from cdp.measure.uplift import uplift
from measure_tables import DAY, HOUR, NOW, message, messages, order, orders


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
    ],
)
def test_difference_interval_is_newcombes_hybrid_score(x1, n1, x2, n2, low, high) -> None:
    interval = difference_interval(x1, n1, x2, n2)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_wilson_interval_matches_the_formula_by_hand() -> None:
    # 81 of 263 (Newcombe 1998b's example): 0.2553 to 0.3662
    interval = wilson_interval(81, 263)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(("degrees", "quantile"), [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (1000, 1.962)])
def test_student_t_quantile_matches_the_tables(degrees, quantile) -> None:
    assert round(student_t_quantile(0.975, degrees), 3) == quantile


def test_welch_interval_by_hand() -> None:
    # Given treated revenues 0, 0, 10, 20 and control 0, 5
    treated, control = Sample.of(4, 30, 500), Sample.of(2, 5, 25)
    assert (treated.mean, round(treated.variance, 4), control.mean, control.variance) == (7.5, 91.6667, 2.5, 12.5)
    # When: standard error sqrt(91.667/4 + 12.5/2) = 5.4006; Welch-Satterthwaite df = 29.1667^2 /
    # (22.9167^2/3 + 6.25^2/1) = 3.9730
    interval = welch_interval(treated, control)
    assert interval is not None
    half = (interval.high - interval.low) / 2
    # Then the half-width is t(0.975, 3.973) x 5.4006, t between the table's 2.776 (4 df) and 3.182 (3 df)
    assert 2.776 * 5.4006 < half < 2.80 * 5.4006
    assert math.isclose((interval.low + interval.high) / 2, 5.0)
    assert welch_interval(Sample.of(1, 5, 25), control) is None


def test_relative_lift_is_katzs_log_interval() -> None:
    # ln(0.1/0.05) = 0.6931, SE = sqrt(1/20 - 1/200 + 1/10 - 1/200) = 0.3742, so exp(0.6931 +- 1.96 x 0.3742) - 1
    interval = relative_lift_interval(20, 200, 10, 200)
    assert interval is not None
    assert (round(interval.low, 3), round(interval.high, 3)) == (round(math.exp(0.693147 - 1.959964 * 0.374166) - 1, 3),
                                                                 round(math.exp(0.693147 + 1.959964 * 0.374166) - 1, 3))  # fmt: skip
    assert relative_lift_interval(0, 100, 5, 100) is None


def test_sample_size_for_five_against_six_percent() -> None:
    # The textbook figure: 8,158 per group for 5% vs 6% at alpha 0.05 two-sided and 80% power (equal groups)
    assert sample_size_per_group(0.06, 0.05, 1.0) == (8158, 8158)
    # a 9:1 split needs more in all, fewer in the holdout
    messaged, holdout = sample_size_per_group(0.06, 0.05, 9.0) or (0, 0)
    assert holdout < 8158 < messaged and messaged == pytest.approx(9 * holdout, abs=9)
    assert sample_size_per_group(0.05, 0.05, 1.0) is None


def _assigned(count: int, converted: int, group: str, variant: str = "a", start: int = 0) -> tuple[list[dict], list[dict]]:
    """`count` profiles assigned at NOW - 10 days; the first `converted` order 10.0 a day later."""
    at = NOW - 10 * DAY
    rows, bought = [], []
    for number in range(start, start + count):
        rows.append(message(f"P{number}", "holdout" if group == "holdout" else "assigned", at, variant=variant))
        if number - start < converted:
            bought.append(order(f"O{number}", f"P{number}", at + DAY, 10.0))
    return rows, bought


def test_uplift_compares_the_messaged_group_with_its_holdout() -> None:
    # Given 200 messaged of whom 20 ordered within the window, and 200 held out of whom 10 did
    messaged_rows, messaged_orders = _assigned(200, 20, "messaged")
    holdout_rows, holdout_orders = _assigned(200, 10, "holdout", start=1000)
    late = [order("late", "P1000", NOW - 10 * DAY + 6 * DAY, 99.0)]  # after the 5-day window: not counted
    early = [order("early", "P1001", NOW - 10 * DAY - HOUR, 99.0)]  # before assignment: not counted
    # When uplift is computed
    results = uplift(messages(messaged_rows + holdout_rows), orders(messaged_orders + holdout_orders + late + early),
                     MeasurementRules())  # fmt: skip
    # Then all variants together and variant a compare 10% with 5%
    assert [(r["variant"]) for r in results] == ["*", "a"]
    result = results[0]
    assert (result["messaged"]["conversion_rate"], result["holdout"]["conversion_rate"]) == (0.1, 0.05)
    assert result["absolute_lift"] == 0.05 and result["relative_lift"] == 1.0
    expected = difference_interval(20, 200, 10, 200)
    assert result["absolute_lift_interval"] == [round(expected.low, 6), round(expected.high, 6)]
    assert result["revenue_per_recipient_lift"] == 0.5  # 1.00 - 0.50
    # and the interval spans zero: not significant, with the recipients still needed at this split
    assert not result["significant"]
    needed = sample_size_per_group(0.1, 0.05, 1.0)
    assert needed is not None and result["more_recipients_needed"] == needed[0] - 200 + needed[1] - 200
    assert result["verdict"].startswith("not yet significant: need about")


def test_a_large_lift_on_enough_recipients_is_significant_and_a_profile_counts_once() -> None:
    # Given 1,000 messaged (30% convert) against 1,000 held out (10%), one messaged profile assigned twice
    messaged_rows, messaged_orders = _assigned(1000, 300, "messaged", variant="b")
    holdout_rows, holdout_orders = _assigned(1000, 100, "holdout", start=5000)
    again = [message("P0", "assigned", NOW - 2 * DAY, variant="b")]
    # When uplift is computed
    results = uplift(messages(messaged_rows + holdout_rows + again), orders(messaged_orders + holdout_orders),
                     MeasurementRules())  # fmt: skip
    # Then the lift is significant and nothing more is needed
    result = results[0]
    assert result["messaged"]["recipients"] == 1000
    assert result["significant"] and result["more_recipients_needed"] == 0 and result["verdict"] == "significant"


def test_no_holdout_no_uplift() -> None:
    rows, bought = _assigned(50, 5, "messaged")
    assert uplift(messages(rows), orders(bought), MeasurementRules()) == []
