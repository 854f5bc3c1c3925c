"""Per-customer histories (x, t_x, T, m) and holdout counts from hand-made transaction rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from cdp.predict.summary import InvalidTransactions, Transactions, repeat_purchases_between, summarise

CALIBRATION_END = date(2026, 1, 29)


def _transactions(rows: list[tuple[str, str, float]]) -> Transactions:
    return Transactions.from_table(pa.table({"customer_id": [row[0] for row in rows],
                                             "date": [row[1] for row in rows],
                                             "amount": [row[2] for row in rows]}))


ROWS = [
    ("A", "2026-01-01", 10.0), ("A", "2026-01-01T18:30:00", 5.0),  # first day: two orders, one purchase day
    ("A", "2026-01-08", 20.0), ("A", "2026-01-15", 12.0), ("A", "2026-01-15", 8.0),  # two repeat days: 20 and 20
    ("A", "2026-02-05", 99.0),  # after the calibration end: holdout
    ("B", "2026-01-22", 7.0),  # one purchase only
    ("C", "2026-02-01", 3.0), ("C", "2026-02-10", 3.0),  # first seen after the calibration end
    ("B", "2026-02-20", 1.0), ("B", "2026-02-20", 1.0), ("B", "2026-03-01", 1.0),
]


def test_repeat_purchases_are_distinct_days_after_the_first_and_spend_is_their_mean() -> None:
    # When summarised in weeks at 2026-01-29
    histories = summarise(_transactions(ROWS), CALIBRATION_END, "weeks")
    # Then A has 2 repeat days, the last 2 weeks after the first, is 4 weeks old and spent 20 a repeat day;
    # B made no repeat purchase; C is not a customer yet
    assert histories.customer_id.to_pylist() == ["A", "B"]
    assert histories.frequency.tolist() == [2, 0]
    assert histories.recency.tolist() == [2.0, 0.0]
    assert histories.age.tolist() == [4.0, 1.0]
    assert histories.mean_repeat_spend.tolist() == [20.0, 0.0]
    # And in days, t_x and T are 7 times larger
    in_days = summarise(_transactions(ROWS), CALIBRATION_END, "days")
    assert in_days.recency.tolist() == [14.0, 0.0] and in_days.age.tolist() == [28.0, 7.0]


def test_holdout_purchases_are_counted_on_distinct_days_for_calibration_customers_only() -> None:
    transactions = _transactions(ROWS)
    histories = summarise(transactions, CALIBRATION_END, "days")
    assert repeat_purchases_between(transactions, histories, date(2026, 2, 28)).tolist() == [1, 1]
    assert repeat_purchases_between(transactions, histories, date(2026, 3, 31)).tolist() == [1, 2]
    assert repeat_purchases_between(transactions, histories, date(2026, 1, 30)).tolist() == [0, 0]


@pytest.mark.parametrize(("table", "message"), [
    (pa.table({"customer_id": ["A"], "amount": [1.0]}), "missing column(s): date"),
    (pa.table({"customer_id": ["A"], "date": ["2026-01-01"], "amount": [np.inf]}), "non-finite"),
    (pa.table({"customer_id": ["A", "B"], "date": ["2026-01-01", "2026-01-02"], "amount": [1.0, -0.01]}),
     "the first in data row 2"),
    (pa.table({"customer_id": ["A"], "date": ["01/02/2026"], "amount": [1.0]}), "not an ISO date"),
    (pa.table({"customer_id": ["A"], "date": [3.5], "amount": [1.0]}), "expected dates"),
    (pa.table({"customer_id": ["A"], "date": [None], "amount": [1.0]}, schema=pa.schema(
        [("customer_id", pa.string()), ("date", pa.string()), ("amount", pa.float64())])), "1 empty value"),
])
def test_malformed_transactions_are_refused_with_the_column_at_fault(table: pa.Table, message: str) -> None:
    with pytest.raises(InvalidTransactions) as refused:
        Transactions.from_table(table)
    assert message in str(refused.value)
