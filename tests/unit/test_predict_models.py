"""BG/NBD and Gamma-Gamma on data drawn from known parameters: the analytic gradients, parameter recovery within
sampling error, time-unit invariance, and the per-customer predictions (P(alive), expected purchases, CLV, next
order interval, confidence)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from cdp.predict import bgnbd, gamma_gamma
from cdp.predict.bgnbd import BgNbdParameters, expected_purchases, fit_bgnbd, probability_alive
from cdp.predict.contract import FitFailed
from cdp.predict.customers import (
    PredictionSettings,
    confidence,
    lifetime_value,
    predict_customers,
    waiting_time_quantile,
)
from cdp.predict.gamma_gamma import GammaGammaParameters, expected_average_spend, fit_gamma_gamma
from cdp.predict.summary import PurchaseHistories, Transactions, summarise
from cdp_local.clv_data import SimulatedCustomers, histories_at, mean_spends, simulate_customers, transactions

TRUE_BGNBD = BgNbdParameters(r=0.5, alpha=20.0, a=0.8, b=3.0)  # alpha in days
TRUE_SPEND = GammaGammaParameters(p=6.0, q=4.0, gamma=15.0)
START, CALIBRATION_END, HOLDOUT_END = date(2024, 1, 1), date(2024, 12, 31), date(2025, 6, 30)


@pytest.fixture(scope="module")
def simulated() -> SimulatedCustomers:
    return simulate_customers(20_000, TRUE_BGNBD, TRUE_SPEND, START, 90, HOLDOUT_END, np.random.default_rng(3))


@pytest.fixture(scope="module")
def calibration(simulated: SimulatedCustomers) -> PurchaseHistories:
    return histories_at(simulated, CALIBRATION_END)


def _vector(parameters: BgNbdParameters | GammaGammaParameters) -> np.ndarray:
    return np.array(list(parameters.as_dict().values()))


# ---------------------------------------------------------------- likelihoods and fits


def test_the_bgnbd_analytic_gradient_matches_finite_differences(calibration: PurchaseHistories) -> None:
    data = bgnbd.GroupedHistories.of(calibration.frequency, calibration.recency, calibration.age)
    for theta in (np.log([0.5, 20.0, 0.8, 3.0]), np.log([2.0, 5.0, 3.0, 0.5]), np.log([0.1, 100.0, 0.2, 10.0])):
        _, analytic = bgnbd.mean_log_likelihood(theta, data)
        numeric = [(bgnbd.mean_log_likelihood(theta + 1e-6 * unit, data)[0]
                    - bgnbd.mean_log_likelihood(theta - 1e-6 * unit, data)[0]) / 2e-6 for unit in np.eye(4)]
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_the_gamma_gamma_analytic_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(5)
    frequency = rng.integers(1, 10, 500).astype(float)
    data = gamma_gamma.GroupedSpend.of(frequency, mean_spends(frequency, TRUE_SPEND, rng))
    for theta in (np.log([6.0, 4.0, 15.0]), np.log([1.0, 1.5, 2.0]), np.log([20.0, 10.0, 100.0])):
        _, analytic = gamma_gamma.mean_log_likelihood(theta, data)
        numeric = [(gamma_gamma.mean_log_likelihood(theta + 1e-6 * unit, data)[0]
                    - gamma_gamma.mean_log_likelihood(theta - 1e-6 * unit, data)[0]) / 2e-6 for unit in np.eye(3)]
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_bgnbd_recovers_the_parameters_it_was_drawn_from_within_three_standard_errors(
        calibration: PurchaseHistories) -> None:
    # When 20,000 simulated customers are fitted
    fit = fit_bgnbd(calibration)
    # Then each estimate is within 3 of its standard errors of the truth, and those errors are a few percent
    errors = _vector(fit.standard_errors)
    assert np.all(np.abs(_vector(fit.parameters) - _vector(TRUE_BGNBD)) < 3 * errors), fit
    assert np.all(errors / _vector(TRUE_BGNBD) < 0.1)


def test_gamma_gamma_recovers_the_parameters_it_was_drawn_from_within_three_standard_errors() -> None:
    rng = np.random.default_rng(11)
    frequency = rng.poisson(3.0, 8_000) + 1
    fit = fit_gamma_gamma(frequency, mean_spends(frequency, TRUE_SPEND, rng))
    assert np.all(np.abs(_vector(fit.parameters) - _vector(TRUE_SPEND)) < 3 * _vector(fit.standard_errors)), fit


def test_gamma_gamma_leaves_out_and_counts_repeat_buyers_whose_mean_spend_is_not_positive() -> None:
    rng = np.random.default_rng(2)
    frequency = np.r_[rng.poisson(3.0, 2_000) + 1, [2, 3, 0, 0]]
    spend = np.r_[mean_spends(frequency[:2_000], TRUE_SPEND, rng), [0.0, -4.0, 0.0, 0.0]]
    fit = fit_gamma_gamma(frequency, spend)
    assert (fit.customers, fit.left_out) == (2_000, 2)
    reference = fit_gamma_gamma(frequency[:2_000], spend[:2_000])
    assert fit.parameters == reference.parameters


def test_a_fit_on_customers_without_any_repeat_purchase_is_refused_with_a_reason(
        calibration: PurchaseHistories) -> None:
    first_buyers_only = replace(calibration, frequency=np.zeros_like(calibration.frequency),
                                recency=np.zeros_like(calibration.recency))
    with pytest.raises(FitFailed, match="no customer made a repeat purchase"):
        fit_bgnbd(first_buyers_only)
    with pytest.raises(FitFailed, match="fewer than 2 repeat buyers"):
        fit_gamma_gamma(np.array([0, 1]), np.array([0.0, 5.0]))


def test_fitting_in_weeks_or_days_gives_the_same_model_with_alpha_in_the_unit() -> None:
    # Given dated transactions drawn from the model
    rng = np.random.default_rng(8)
    sim = simulate_customers(3_000, TRUE_BGNBD, TRUE_SPEND, START, 90, CALIBRATION_END, rng)
    rows = Transactions.from_table(transactions(sim, TRUE_SPEND, rng))
    # When fitted with time in days and in weeks
    in_days = fit_bgnbd(summarise(rows, CALIBRATION_END, "days"))
    in_weeks = fit_bgnbd(summarise(rows, CALIBRATION_END, "weeks"))
    # Then r, a, b agree, alpha scales by 7, and the log-likelihoods differ by the Jacobian sum(x) ln 7
    days, weeks = in_days.parameters, in_weeks.parameters
    assert (weeks.r, weeks.a, weeks.b) == pytest.approx((days.r, days.a, days.b), rel=1e-4)
    assert weeks.alpha * 7 == pytest.approx(days.alpha, rel=1e-4)
    repeats = summarise(rows, CALIBRATION_END, "days").frequency.sum()
    assert in_weeks.log_likelihood - in_days.log_likelihood == pytest.approx(repeats * np.log(7), rel=1e-6)


# ---------------------------------------------------------------- predictions


def test_probability_alive_is_one_without_repeat_purchases_and_falls_with_silence() -> None:
    x, t_x = np.array([0, 3, 3, 3]), np.array([0.0, 30.0, 30.0, 30.0])
    alive = probability_alive(TRUE_BGNBD, x, t_x, np.array([50.0, 30.0, 100.0, 300.0]))
    assert alive[0] == 1.0
    assert alive[1] > alive[2] > alive[3] > 0
    # the paper's formula: 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))
    odds = 0.8 / (3.0 + 3 - 1) * ((20.0 + 100.0) / (20.0 + 30.0)) ** 3.5
    assert alive[2] == pytest.approx(1 / (1 + odds))


def test_conditional_expected_purchases_forecast_the_simulated_holdout(
        simulated: SimulatedCustomers, calibration: PurchaseHistories) -> None:
    # Given the true parameters and each customer's purchases in the 181 days after the calibration end
    length = float((HOLDOUT_END - CALIBRATION_END).days)
    age = calibration.age[simulated.customer]
    in_holdout = (simulated.elapsed >= age) & (simulated.elapsed < age + length)
    actual = np.bincount(simulated.customer[in_holdout], minlength=len(calibration))
    # When the expected purchases are computed from the calibration histories
    predicted = expected_purchases(TRUE_BGNBD, length, calibration.frequency, calibration.recency, calibration.age)
    # Then the forecast total is within 3% of what happened, and within 10% for each group x = 0, 1, 2, 3+
    assert predicted.sum() == pytest.approx(actual.sum(), rel=0.03)
    for group in (calibration.frequency == 0, calibration.frequency == 1, calibration.frequency == 2,
                  calibration.frequency >= 3):
        assert predicted[group].mean() == pytest.approx(actual[group].mean(), rel=0.1)
    # And nothing is expected over no time, more over more time
    assert np.all(expected_purchases(TRUE_BGNBD, 0.0, calibration.frequency, calibration.recency,
                                     calibration.age) == 0)
    assert np.all(expected_purchases(TRUE_BGNBD, 2 * length, calibration.frequency, calibration.recency,
                                     calibration.age) > predicted)


def test_expected_average_spend_shrinks_a_customers_mean_towards_the_population_mean() -> None:
    population = 6.0 * 15.0 / (4.0 - 1)
    spend = expected_average_spend(TRUE_SPEND, np.array([0, 1, 50, 2]), np.array([0.0, 60.0, 60.0, -5.0]))
    assert spend[0] == pytest.approx(population)
    assert population < spend[1] < spend[2] < 60.0
    assert spend[1] == pytest.approx((4.0 - 1) / (6.0 + 4.0 - 1) * population + 6.0 / (6.0 + 4.0 - 1) * 60.0)
    assert spend[3] == pytest.approx(population)  # no usable spend history
    with pytest.raises(FitFailed, match="q = 0.900"):
        expected_average_spend(replace(TRUE_SPEND, q=0.9), np.array([1]), np.array([10.0]))


def test_clv_is_the_discounted_sum_of_monthly_expected_spend(calibration: PurchaseHistories) -> None:
    spend = np.full(len(calibration), 40.0)
    undiscounted = lifetime_value(TRUE_BGNBD, calibration, spend, months=12, monthly_discount=0.0)
    year = expected_purchases(TRUE_BGNBD, 360.0, calibration.frequency, calibration.recency, calibration.age)
    assert undiscounted == pytest.approx(40.0 * year)
    discounted = lifetime_value(TRUE_BGNBD, calibration, spend, months=12, monthly_discount=0.01)
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.01 ** 12)


def test_the_next_order_interval_matches_the_waiting_times_of_simulated_alive_customers() -> None:
    # Given a customer with 2 repeat purchases observed for 200 days
    history = replace(_one_customer(), frequency=np.array([2]), recency=np.array([150.0]), age=np.array([200.0]))
    # When waits are drawn from the posterior rate Gamma(r + x, alpha + T) and an exponential wait at that rate
    rng = np.random.default_rng(1)
    rates = rng.gamma(TRUE_BGNBD.r + 2, 1 / (TRUE_BGNBD.alpha + 200.0), 400_000)
    waits = rng.exponential(1 / rates)
    # Then the closed-form 10% and 90% quantiles match the simulated ones
    for quantile in (0.1, 0.5, 0.9):
        assert waiting_time_quantile(TRUE_BGNBD, history, quantile)[0] == pytest.approx(
            np.quantile(waits, quantile), rel=0.02)


def _one_customer() -> PurchaseHistories:
    return PurchaseHistories(customer_id=pa.array(["c"]), first_day=np.array([0]), last_day=np.array([0]),
                             frequency=np.array([0]), recency=np.array([0.0]), age=np.array([0.0]),
                             mean_repeat_spend=np.array([0.0]), calibration_end_day=0, time_unit="days")


@pytest.mark.parametrize(("repeats", "age", "expected"), [
    (0, 300.0, "low"),  # no repeat purchase yet
    (5, 30.0, "low"),  # seen for less than the mean time between purchases, alpha / r = 40 days
    (1, 300.0, "medium"),
    (2, 300.0, "medium"),
    (3, 300.0, "high"),
])
def test_the_confidence_flag(repeats: int, age: float, expected: str) -> None:
    history = replace(_one_customer(), frequency=np.array([repeats]), recency=np.array([age / 2]),
                      age=np.array([age]))
    assert confidence(TRUE_BGNBD, history).tolist() == [expected]


def test_predictions_have_one_row_per_customer_with_every_figure(calibration: PurchaseHistories) -> None:
    table = predict_customers(calibration, TRUE_BGNBD, TRUE_SPEND, PredictionSettings())
    assert table.num_rows == len(calibration)
    assert table.column_names == ["customer_id", "repeat_purchases", "probability_alive", "expected_purchases",
                                  "expected_average_spend", "clv", "next_order_date", "next_order_in_days",
                                  "next_order_in_days_p10", "next_order_in_days_p90", "confidence"]
    for column in ("probability_alive", "expected_purchases", "clv", "next_order_in_days"):
        values = table.column(column).to_numpy()
        assert np.all(np.isfinite(values)) and np.all(values >= 0), column
    p10, p90 = table.column("next_order_in_days_p10").to_numpy(), table.column("next_order_in_days_p90").to_numpy()
    assert np.all(p10 < p90)
    assert set(table.column("confidence").to_pylist()) == {"low", "medium", "high"}


def test_spend_data_without_any_variation_is_refused_rather_than_fitted_to_infinite_parameters() -> None:
    # every repeat buyer spends exactly 10: the likelihood grows without bound as p and q grow
    with pytest.raises(FitFailed, match="did not converge to an interior maximum"):
        fit_gamma_gamma(np.full(100, 2), np.full(100, 10.0))
