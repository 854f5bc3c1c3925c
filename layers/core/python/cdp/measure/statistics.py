"""Interval estimates and sample sizes for comparing a messaged group with its holdout, in pure Python.

- Difference of two proportions: Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two
  groups' Wilson score intervals. Unlike the Wald interval it stays inside [-1, 1] and keeps its coverage when a
  group is small or converts rarely, which is the usual case of a shop's holdout.
- Relative lift (ratio of the rates minus one): the Katz log interval of the risk ratio.
- Difference of two means (revenue per recipient, zeros included): Welch's t interval, Welch-Satterthwaite degrees
  of freedom; Student's t quantile from the regularised incomplete beta function.
- Sample size: per group, to detect the observed difference of proportions with a two-sided test at the given
  level and power, for the groups' observed size ratio (Fleiss' formula without continuity correction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


def normal_quantile(probability: float) -> float:
    return _NORMAL.inv_cdf(probability)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval of one proportion."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    z = normal_quantile(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval of p1 - p2 (group 1 messaged, group 2 holdout)."""
    p1, p2 = x1 / n1, x2 / n2
    first, second = wilson_interval(x1, n1, confidence), wilson_interval(x2, n2, confidence)
    difference = p1 - p2
    return Interval(
        difference - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2),
        difference + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2),
    )


def relative_lift_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval | None:
    """Katz's log interval of p1/p2, minus one; None when either group has no conversion (the ratio is unbounded)."""
    if x1 == 0 or x2 == 0:
        return None
    z = normal_quantile(0.5 + confidence / 2)
    log_ratio = math.log((x1 / n1) / (x2 / n2))
    error = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return Interval(math.exp(log_ratio - z * error) - 1, math.exp(log_ratio + z * error) - 1)


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, epsilon = 1e-300, 1e-14
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < epsilon:
            break
    return result


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _continued_fraction(b, a, 1 - x) / b


def student_t_cdf(t: float, degrees: float) -> float:
    tail = 0.5 * regularized_beta(degrees / 2, 0.5, degrees / (degrees + t * t))
    return 1 - tail if t > 0 else tail


def student_t_quantile(probability: float, degrees: float) -> float:
    """The t with P(T <= t) = probability, by bisection on the distribution function (0.5 < probability < 1)."""
    low, high = 0.0, 1.0
    while student_t_cdf(high, degrees) < probability:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if student_t_cdf(middle, degrees) < probability:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Sample:
    """Count, mean and sample variance of one group's values (e.g. revenue per recipient, zeros included)."""

    count: int
    mean: float
    variance: float

    @classmethod
    def of(cls, count: int, total: float, total_of_squares: float) -> Sample:
        """From n, sum and sum of squares: the mean and the unbiased variance."""
        mean = total / count if count else 0.0
        variance = max(0.0, (total_of_squares - count * mean * mean) / (count - 1)) if count > 1 else 0.0
        return cls(count, mean, variance)


def welch_interval(treated: Sample, control: Sample, confidence: float = 0.95) -> Interval | None:
    """Welch's interval of treated.mean - control.mean; None when it is undefined (a group of fewer than two, or no
    variance in either)."""
    if treated.count < 2 or control.count < 2:
        return None
    a, b = treated.variance / treated.count, control.variance / control.count
    if a + b == 0:
        return None
    degrees = (a + b) ** 2 / (a * a / (treated.count - 1) + b * b / (control.count - 1))
    half = student_t_quantile(0.5 + confidence / 2, degrees) * math.sqrt(a + b)
    difference = treated.mean - control.mean
    return Interval(difference - half, difference + half)


def sample_size_per_group(p1: float, p2: float, ratio: float, confidence: float = 0.95, power: float = 0.8) -> tuple[int, int] | None:
    """(n1, n2) with n1 = ratio x n2 to detect p1 != p2 (two-sided) at this level and power; None if p1 == p2 (no
    observed difference to detect) or a rate is 0 or 1 in both groups."""
    difference = abs(p1 - p2)
    if difference == 0 or ratio <= 0:
        return None
    z_alpha, z_beta = normal_quantile(0.5 + confidence / 2), normal_quantile(power)
    pooled = (ratio * p1 + p2) / (ratio + 1)
    spread = z_alpha * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio)) + z_beta * math.sqrt(
        p1 * (1 - p1) / ratio + p2 * (1 - p2)
    )
    control = math.ceil((spread / difference) ** 2)
    return math.ceil(ratio * control), control
