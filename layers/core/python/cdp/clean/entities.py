"""The canonical entities a file can carry: their columns, how each is standardised, and their natural keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean import standardise
from cdp.clean.standardise import Standardised

ORDER_STATUSES = ("completed", "refunded", "cancelled")


@dataclass(frozen=True)
class ColumnRule:
    """How one canonical column is cleaned, and what a bad value is called in quarantine."""

    name: str
    standardise: Callable[[pa.Array, dict[str, pa.Array]], Standardised]
    required: bool = False
    invalid_reason: str = ""

    @property
    def missing_reason(self) -> str:
        return f"missing_{self.name}"


@dataclass(frozen=True)
class EntitySpec:
    """One canonical entity: its column rules in checking order, and the columns that identify a row."""

    name: str
    columns: tuple[ColumnRule, ...]
    natural_key: tuple[str, ...]
    row_checks: tuple[tuple[str, Callable[[dict[str, pa.Array]], pa.Array]], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [rule.name for rule in self.columns]


def _plain(function: Callable[[pa.Array], Standardised]) -> Callable[[pa.Array, dict[str, pa.Array]], Standardised]:
    return lambda column, _clean_so_far: function(column)


def _phone_in_row_country(column: pa.Array, clean_so_far: dict[str, pa.Array]) -> Standardised:
    return standardise.phone(column, clean_so_far["country"])


def _negative_amount(clean: dict[str, pa.Array]) -> pa.Array:
    return pc.fill_null(pc.less(clean["total_amount"], pa.scalar(0, clean["total_amount"].type)), False)


CUSTOMERS = EntitySpec(
    name="customers",
    columns=(
        ColumnRule("customer_id", _plain(standardise.text), required=True),
        ColumnRule("country", _plain(standardise.country), invalid_reason="invalid_country"),
        ColumnRule("email", _plain(standardise.email), invalid_reason="invalid_email"),
        ColumnRule("phone", _phone_in_row_country, invalid_reason="invalid_phone"),
        ColumnRule("first_name", _plain(standardise.text)),
        ColumnRule("last_name", _plain(standardise.text)),
        ColumnRule("city", _plain(standardise.text)),
        ColumnRule("signup_at", _plain(standardise.timestamp), invalid_reason="invalid_timestamp"),
        ColumnRule("email_consent", _plain(standardise.boolean), invalid_reason="invalid_consent"),
        ColumnRule("sms_consent", _plain(standardise.boolean), invalid_reason="invalid_consent"),
    ),
    natural_key=("customer_id",),
)

ORDERS = EntitySpec(
    name="orders",
    columns=(
        ColumnRule("order_id", _plain(standardise.text), required=True),
        ColumnRule("customer_id", _plain(standardise.text), required=True),
        ColumnRule("ordered_at", _plain(standardise.timestamp), required=True, invalid_reason="invalid_timestamp"),
        ColumnRule("currency", _plain(standardise.currency), required=True, invalid_reason="invalid_currency"),
        ColumnRule("total_amount", _plain(standardise.decimal), required=True, invalid_reason="invalid_amount"),
        ColumnRule("items", _plain(standardise.integer), invalid_reason="invalid_items"),
        ColumnRule("category", _plain(standardise.text)),
        ColumnRule(
            "status",
            _plain(lambda column: standardise.choice(column, ORDER_STATUSES)),
            required=True,
            invalid_reason="invalid_status",
        ),
    ),
    natural_key=("order_id",),
    row_checks=(("negative_amount", _negative_amount),),
)

ENTITIES: dict[str, EntitySpec] = {spec.name: spec for spec in (CUSTOMERS, ORDERS)}
