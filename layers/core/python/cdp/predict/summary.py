"""Per-customer purchase histories (x, t_x, T, mean repeat spend) from transaction rows, with pyarrow and numpy.

A transaction is one customer's purchases on one calendar day (amounts of the same day are summed), as in Fader,
Hardie and Lee: x counts the repeat purchase days after the first one up to the calibration end, t_x is the time
from the first purchase day to the last, T the time from the first purchase day to the calibration end, both in the
chosen unit (days, or weeks of 7 days). Customers whose first purchase is after the calibration end are not in the
calibration summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.predict.histories import DAYS_PER_UNIT, PurchaseHistories, TimeUnit

__all__ = ["DAYS_PER_UNIT", "PurchaseHistories", "TimeUnit", "Transactions", "summarise"]

REQUIRED_COLUMNS = ("customer_id", "date", "amount")


class InvalidTransactions(ValueError):
    """The transactions cannot be summarised; the message says which column or row is at fault."""


@dataclass(frozen=True)
class Transactions:
    """Validated transaction rows: customer ids, purchase days (days since 1970-01-01) and amounts."""

    customer_id: pa.Array
    day: np.ndarray
    amount: np.ndarray

    @classmethod
    def from_table(cls, table: pa.Table) -> Transactions:
        """Check and convert a table with customer_id, date (date, timestamp or ISO string) and amount columns."""
        require_columns(table, REQUIRED_COLUMNS)
        customer_id = pc.cast(table.column("customer_id"), pa.string()).combine_chunks()
        day = days_since_epoch(table.column("date"))
        try:
            amount = pc.cast(table.column("amount"), pa.float64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise InvalidTransactions(f"column amount: not a number ({error})") from None
        bad_amounts = np.flatnonzero(~np.isfinite(amount) | (amount < 0))
        if bad_amounts.size:
            first = int(bad_amounts[0])
            raise InvalidTransactions(f"column amount: {bad_amounts.size} negative or non-finite value(s), "
                                      f"the first in data row {first + 1} ({amount[first]})")
        return cls(customer_id=customer_id, day=day, amount=amount)


def require_columns(table: pa.Table, names: tuple[str, ...]) -> None:
    """Refuse a table without rows, without one of these columns, or with an empty value in one of them."""
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise InvalidTransactions(f"missing column(s): {', '.join(missing)} (need {', '.join(names)})")
    if table.num_rows == 0:
        raise InvalidTransactions("no rows")
    for name in names:
        nulls = table.column(name).null_count
        if nulls:
            raise InvalidTransactions(f"column {name}: {nulls} empty value(s)")


def days_since_epoch(column: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970-01-01 of a date, timestamp or ISO 8601 string column (time of day dropped)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            column = pc.cast(column, pa.timestamp("s"))
        except pa.ArrowInvalid as error:
            raise InvalidTransactions(f"column date: not an ISO date such as 1997-09-30 ({error})") from None
    if pa.types.is_timestamp(column.type):
        column = pc.cast(pc.floor_temporal(column, unit="day"), pa.date32())
    if not pa.types.is_date32(column.type):
        raise InvalidTransactions(f"column date: expected dates, got {column.type}")
    return column.combine_chunks().view(pa.int32()).to_numpy().astype(np.int64)


def day_number(value: date) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return (value - date(1970, 1, 1)).days


@dataclass(frozen=True)
class CustomerDays:
    """One row per (customer, purchase day) with the day's total amount, sorted by customer then day."""

    customer: np.ndarray  # index into `customer_ids`
    day: np.ndarray
    amount: np.ndarray
    customer_ids: pa.Array

    @classmethod
    def from_transactions(cls, transactions: Transactions, until_day: int | None = None) -> CustomerDays:
        """Sum each customer's amounts per day, keeping days on or before until_day when given."""
        encoded = pc.dictionary_encode(transactions.customer_id)
        customer = encoded.indices.to_numpy().astype(np.int64)
        day, amount = transactions.day, transactions.amount
        if until_day is not None:
            kept = day <= until_day
            customer, day, amount = customer[kept], day[kept], amount[kept]
        order = np.lexsort((day, customer))
        customer, day, amount = customer[order], day[order], amount[order]
        new_day = np.r_[True, (customer[1:] != customer[:-1]) | (day[1:] != day[:-1])][:day.size]
        starts = np.flatnonzero(new_day)
        return cls(customer=customer[starts], day=day[starts], amount=np.add.reduceat(amount, starts)
                   if starts.size else amount, customer_ids=encoded.dictionary)


def summarise(transactions: Transactions, calibration_end: date, time_unit: TimeUnit = "days") -> PurchaseHistories:
    """Each customer's (x, t_x, T, m) from the purchases on or before calibration_end."""
    end_day = day_number(calibration_end)
    days = CustomerDays.from_transactions(transactions, until_day=end_day)
    if days.day.size == 0:
        raise InvalidTransactions(f"no purchase on or before the calibration end {calibration_end.isoformat()}")
    customers, first_index, purchase_days = np.unique(days.customer, return_index=True, return_counts=True)
    last_index = first_index + purchase_days - 1
    repeat_spend = np.add.reduceat(days.amount, first_index) - days.amount[first_index]
    frequency = purchase_days - 1
    unit = DAYS_PER_UNIT[time_unit]
    first_day, last_day = days.day[first_index], days.day[last_index]
    return PurchaseHistories(
        customer_id=days.customer_ids.take(pa.array(customers)),
        first_day=first_day,
        last_day=last_day,
        frequency=frequency,
        recency=(last_day - first_day) / unit,
        age=(end_day - first_day) / unit,
        mean_repeat_spend=np.divide(repeat_spend, frequency, out=np.zeros(frequency.size), where=frequency > 0),
        calibration_end_day=end_day,
        time_unit=time_unit,
    )


def repeat_purchases_between(transactions: Transactions, histories: PurchaseHistories, end: date) -> np.ndarray:
    """Purchase days of each summarised customer after the calibration end and on or before `end` (aligned with
    histories); every such day is a repeat purchase since each customer's first purchase is in the calibration."""
    end_day = day_number(end)
    in_period = (transactions.day > histories.calibration_end_day) & (transactions.day <= end_day)
    period = Transactions(customer_id=transactions.customer_id.filter(pa.array(in_period)),
                          day=transactions.day[in_period], amount=transactions.amount[in_period])
    counts = np.zeros(len(histories), dtype=np.int64)
    if period.day.size == 0:
        return counts
    days = CustomerDays.from_transactions(period)
    per_customer = np.bincount(days.customer, minlength=len(days.customer_ids))
    position = pc.fill_null(pc.index_in(days.customer_ids, value_set=histories.customer_id), -1).to_numpy()
    known = position >= 0
    np.add.at(counts, position[known], per_customer[known])
    return counts
