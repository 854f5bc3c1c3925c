"""Standardisers for one string column each: they return the clean column and a mask of invalid values."""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean.reference_codes import COUNTRY_CALLING_CODES, CURRENCY_CODES, NO_TRUNK_PREFIX

EMAIL_PATTERN = (
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"
DECIMAL_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,2})?$"
INTEGER_PATTERN = r"^-?[0-9]{1,12}$"
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
TRUE_WORDS = ["true", "yes", "y", "1"]
BOOLEAN_WORDS = TRUE_WORDS + ["false", "no", "n", "0"]


class Standardised(NamedTuple):
    """A clean column (null where absent or invalid) and where the input was present but invalid."""

    values: pa.Array
    invalid: pa.Array


def blank_to_null(column: pa.Array) -> pa.Array:
    """Trim whitespace; empty strings become null."""
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _invalid_where(present: pa.Array, valid: pa.Array) -> pa.Array:
    return pc.and_(pc.is_valid(present), pc.invert(pc.fill_null(valid, False)))


def _keep_valid(values: pa.Array, invalid: pa.Array) -> pa.Array:
    return pc.if_else(invalid, pa.scalar(None, values.type), values)


def text(column: pa.Array) -> Standardised:
    """Free text: trimmed, never invalid."""
    values = blank_to_null(column)
    return Standardised(values, pc.and_(pc.is_valid(values), pa.scalar(False)))


def email(column: pa.Array) -> Standardised:
    """Lower-cased, trimmed, syntax-checked addresses."""
    values = pc.utf8_lower(blank_to_null(column))
    invalid = _invalid_where(values, pc.match_substring_regex(values, EMAIL_PATTERN))
    return Standardised(_keep_valid(values, invalid), invalid)


def phone(column: pa.Array, country: pa.Array) -> Standardised:
    """Phone numbers to E.164, reading national numbers in the row's country."""
    digits = pc.replace_substring_regex(blank_to_null(column), r"[\s\-().]", "")
    international = pc.replace_substring_regex(digits, r"^00", "+")
    calling_code = pc.take(
        pa.array(list(COUNTRY_CALLING_CODES.values())),
        pc.index_in(country, pa.array(list(COUNTRY_CALLING_CODES))),
    )
    keeps_trunk_digit = pc.is_in(country, pa.array(sorted(NO_TRUNK_PREFIX)))
    national = pc.if_else(keeps_trunk_digit, international, pc.replace_substring_regex(international, r"^0", ""))
    with_code = pc.binary_join_element_wise("+", calling_code, national, "")
    values = pc.if_else(pc.starts_with(international, "+"), international, with_code)
    invalid = _invalid_where(digits, pc.match_substring_regex(values, E164_PATTERN))
    return Standardised(_keep_valid(values, invalid), invalid)


def timestamp(column: pa.Array) -> Standardised:
    """ISO 8601 timestamps to UTC; values without an offset are read as UTC; impossible dates are invalid."""
    values = blank_to_null(column)
    parsed = pa.nulls(len(values), pa.timestamp("s", tz="UTC"))
    for time_format in TIMESTAMP_FORMATS:
        candidate = pc.strptime(values, format=time_format, unit="s", error_is_null=True)
        if candidate.type.tz is None:
            candidate = pc.assume_timezone(candidate, "UTC")
        parsed = pc.coalesce(parsed, candidate)
    date_part = pc.utf8_slice_codeunits(values, 0, 10)
    calendar_date = pc.strptime(date_part, format="%Y-%m-%d", unit="s", error_is_null=True)
    real_date = pc.equal(pc.strftime(calendar_date, format="%Y-%m-%d"), date_part)
    invalid = _invalid_where(values, pc.and_(pc.is_valid(parsed), real_date))
    return Standardised(_keep_valid(parsed, invalid), invalid)


def decimal(column: pa.Array) -> Standardised:
    """Decimal amounts with at most two places."""
    values = blank_to_null(column)
    well_formed = pc.match_substring_regex(values, DECIMAL_PATTERN)
    invalid = _invalid_where(values, well_formed)
    amounts = pc.cast(_keep_valid(values, invalid), pa.decimal128(17, 2))
    return Standardised(amounts, invalid)


def integer(column: pa.Array) -> Standardised:
    values = blank_to_null(column)
    invalid = _invalid_where(values, pc.match_substring_regex(values, INTEGER_PATTERN))
    return Standardised(pc.cast(_keep_valid(values, invalid), pa.int64()), invalid)


def code(column: pa.Array, allowed: frozenset[str]) -> Standardised:
    """Upper-cased codes checked against a reference table (ISO 3166, ISO 4217)."""
    values = pc.utf8_upper(blank_to_null(column))
    invalid = _invalid_where(values, pc.is_in(values, pa.array(sorted(allowed))))
    return Standardised(_keep_valid(values, invalid), invalid)


def currency(column: pa.Array) -> Standardised:
    return code(column, CURRENCY_CODES)


def country(column: pa.Array) -> Standardised:
    return code(column, frozenset(COUNTRY_CALLING_CODES))


def boolean(column: pa.Array) -> Standardised:
    """true/false, yes/no, y/n, 1/0 in any case."""
    values = pc.utf8_lower(blank_to_null(column))
    invalid = _invalid_where(values, pc.is_in(values, pa.array(BOOLEAN_WORDS)))
    return Standardised(pc.is_in(_keep_valid(values, invalid), pa.array(TRUE_WORDS)), invalid)


def choice(column: pa.Array, allowed: tuple[str, ...]) -> Standardised:
    """Lower-cased values from a fixed vocabulary."""
    values = pc.utf8_lower(blank_to_null(column))
    invalid = _invalid_where(values, pc.is_in(values, pa.array(list(allowed))))
    return Standardised(_keep_valid(values, invalid), invalid)
