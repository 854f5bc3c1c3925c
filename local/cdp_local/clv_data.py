"""Customers drawn from known BG/NBD and Gamma-Gamma parameters, for the tests and the CLV bench.

Each customer makes a first purchase on a day drawn uniformly from the acquisition window, then buys as a Poisson
process of rate lambda ~ Gamma(r, alpha) (per day) and, after each repeat purchase, drops out with probability
p ~ Beta(a, b); each purchase is worth Gamma(p_spend, nu) with nu ~ Gamma(q, gamma) per customer. Repeat purchase
times are continuous (days after the first purchase): `histories_at` gives the exact (x, t_x, T) the model
describes, `transactions` the dated rows a shop would export (same-day purchases then count once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
from cdp.predict.bgnbd import BgNbdParameters
from cdp.predict.gamma_gamma import GammaGammaParameters
from cdp.predict.summary import PurchaseHistories, day_number


@dataclass(frozen=True)
class SimulatedCustomers:
    first_day: np.ndarray  # day number of each customer's first purchase
    customer: np.ndarray  # the customer of each repeat purchase, sorted by customer then time
    elapsed: np.ndarray  # days from the customer's first purchase to the repeat purchase
    spend_rate: np.ndarray  # nu of each customer


def simulate_customers(customers: int, bgnbd: BgNbdParameters, spend: GammaGammaParameters, start: date,
                       acquisition_days: int, end: date, rng: np.random.Generator) -> SimulatedCustomers:
    """Customers acquired from `start` over acquisition_days, followed to the end of `end`; alpha is in days."""
    rate = rng.gamma(bgnbd.r, 1 / bgnbd.alpha, customers)
    dropout = np.clip(rng.beta(bgnbd.a, bgnbd.b, customers), 1e-12, 1.0)
    first_day = day_number(start) + rng.integers(0, acquisition_days, customers)
    observed = (day_number(end) + 1 - first_day).astype(float)
    counts = rng.poisson(rate * observed)  # purchases the process makes by the end, were the customer never to drop
    repeats = np.minimum(counts, rng.geometric(dropout))  # dropping out comes right after a repeat purchase
    # given their count, a Poisson process's arrival times are sorted uniform times: keep the first `repeats`
    customer = np.repeat(np.arange(customers), counts)
    elapsed = rng.random(customer.size) * observed[customer]
    order = np.lexsort((elapsed, customer))
    customer, elapsed = customer[order], elapsed[order]
    rank = np.arange(customer.size) - np.repeat(np.cumsum(counts) - counts, counts)
    kept = rank < repeats[customer]
    return SimulatedCustomers(first_day=first_day, customer=customer[kept], elapsed=elapsed[kept],
                              spend_rate=rng.gamma(spend.q, 1 / spend.gamma, customers))


def histories_at(simulated: SimulatedCustomers, calibration_end: date) -> PurchaseHistories:
    """The exact continuous-time (x, t_x, T) in days of every customer at the end of calibration_end."""
    end = day_number(calibration_end) + 1
    customers = simulated.first_day.size
    age = (end - simulated.first_day).astype(float)
    within = simulated.elapsed < age[simulated.customer]
    frequency = np.bincount(simulated.customer[within], minlength=customers)
    recency = np.zeros(customers)
    np.maximum.at(recency, simulated.customer[within], simulated.elapsed[within])
    return PurchaseHistories(customer_id=pa.array(np.arange(customers).astype(str)), first_day=simulated.first_day,
                             last_day=simulated.first_day + np.floor(recency).astype(np.int64), frequency=frequency,
                             recency=recency, age=age, mean_repeat_spend=np.zeros(customers),
                             calibration_end_day=end - 1, time_unit="days")


def mean_spends(frequency: np.ndarray, spend: GammaGammaParameters, rng: np.random.Generator) -> np.ndarray:
    """The mean of x purchase values of each customer (x > 0): Gamma(p x, x nu) with nu ~ Gamma(q, gamma)."""
    spend_rate = rng.gamma(spend.q, 1 / spend.gamma, frequency.size)
    return rng.gamma(spend.p * frequency, 1 / (frequency * spend_rate))


def transactions(simulated: SimulatedCustomers, spend: GammaGammaParameters, rng: np.random.Generator) -> pa.Table:
    """customer_id, date and amount of every purchase, first ones included, in time order per customer."""
    customers = simulated.first_day.size
    every_customer = np.concatenate([np.arange(customers), simulated.customer])
    day = np.concatenate([simulated.first_day,
                          simulated.first_day[simulated.customer] + np.floor(simulated.elapsed).astype(np.int64)])
    amount = rng.gamma(spend.p, 1 / simulated.spend_rate[every_customer])
    order = np.lexsort((day, every_customer))
    return pa.table({
        "customer_id": pa.array(np.char.add("C", every_customer[order].astype(str))),
        "date": pa.array(day[order].astype(np.int32)).cast(pa.date32()),
        "amount": np.round(amount[order], 2),
    })
