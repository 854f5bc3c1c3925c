"""Column-wise standardisers (pyarrow compute): each turns one string column into a typed clean column and a
mask of values that were present but invalid."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from cdp import identifiers
from cdp.clean import reference_codes as codes

MONEY_PATTERN = r"^[-+]?[0-9]{1,14}(\.[0-9]{0,4})?$|^[-+]?\.[0-9]{1,4}$"
INTEGER_PATTERN = r"^[-+]?[0-9]{1,15}$"
LANGUAGE_PATTERN = (
    r"^(?P<language>[a-z]{2,3})(?:-(?P<script>[a-z]{4}))?(?:-(?P<region>[a-z]{2}|[0-9]{3}))?(?P<variants>(?:-[a-z0-9]{5,8})*)$"
)
MONEY_TYPE = pa.decimal128(18, 4)
NUMBER_TEXT_LIMIT = 24  # longer number texts are checked by pattern
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# A local date-time, then optional fractional seconds and an optional UTC offset (only after a time of day).
TIMESTAMP_PARTS = r"^(?P<local>.*?[0-9]:[0-9]{2}(?::[0-9]{2})?)(?P<fraction>\.[0-9]{1,9})?\s*(?P<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
TRUE_WORDS = ["true", "yes", "y", "1", "t", "on", "granted", "opted_in", "subscribed"]
FALSE_WORDS = ["false", "no", "n", "0", "f", "off", "denied", "opted_out", "unsubscribed", "not_subscribed"]


class Standardised(NamedTuple):
    """A clean column (null where absent or invalid) and where the input was present but invalid."""

    values: pa.Array
    invalid: pa.Array


@dataclass(frozen=True)
class Context:
    """What a standardiser may read besides its column: earlier clean columns and the mapping's source defaults."""

    clean: dict[str, pa.Array] = field(default_factory=dict)
    timezone: str = "UTC"
    timestamp_formats: tuple[str, ...] = ()
    phone_region: str | None = None
    choices: tuple[str, ...] = ()


def blank_to_null(column: pa.Array) -> pa.Array:
    """Trim whitespace; empty strings become null."""
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _invalid_where(present: pa.Array, valid: pa.Array) -> pa.Array:
    return pc.and_(pc.is_valid(present), pc.invert(pc.fill_null(valid, False)))


def _keep_valid(values: pa.Array, invalid: pa.Array) -> pa.Array:
    return pc.if_else(invalid, pa.scalar(None, values.type), values)


def _checked(values: pa.Array, valid: pa.Array) -> Standardised:
    invalid = _invalid_where(values, valid)
    return Standardised(_keep_valid(values, invalid), invalid)


def _lookup(values: pa.Array, table: dict[str, str]) -> pa.Array:
    """Map each value through `table` (null where it has no entry), as one vectorised take."""
    return pc.take(pa.array(list(table.values()), pa.string()), pc.index_in(values, pa.array(list(table), pa.string())))


def text(column: pa.Array, _context: Context) -> Standardised:
    """Free text: trimmed, never invalid."""
    values = blank_to_null(column)
    return Standardised(values, pc.and_(pc.is_valid(values), pa.scalar(False)))


def email(column: pa.Array, _context: Context) -> Standardised:
    """`cdp.identifiers.normalise_email` over a column: ASCII values in Arrow (trim, lower-case, pattern); the rare
    non-ASCII ones (IDN domains, Unicode case rules) through the scalar function itself."""
    values = blank_to_null(column)
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(values), True))
    normalised = pc.utf8_lower(values)
    if pc.any(non_ascii).as_py():
        scalar = [identifiers.normalise_email(value) for value in pc.filter(values, non_ascii).to_pylist()]
        normalised = _where(non_ascii, pa.array(scalar, pa.string()), normalised)
    invalid = _invalid_where(values, pc.match_substring_regex(normalised, identifiers.EMAIL_PATTERN))
    return Standardised(_keep_valid(normalised, invalid), invalid)


def push_endpoint(column: pa.Array, _context: Context) -> Standardised:
    """`cdp.identifiers.normalise_push_endpoint` over a column: trimmed, an SNS platform endpoint ARN."""
    values = blank_to_null(column)
    return _checked(values, pc.match_substring_regex(values, identifiers.PUSH_ENDPOINT_PATTERN))


def country(column: pa.Array, _context: Context) -> Standardised:
    """ISO 3166-1 alpha-2 from alpha-2, alpha-3 or an English name (case and punctuation ignored)."""
    values = blank_to_null(column)
    alpha_2 = per_distinct(values, lambda distinct: _lookup(codes.name_key(distinct), codes.COUNTRY_KEYS))
    return Standardised(alpha_2, pc.and_(pc.is_valid(values), pc.is_null(alpha_2)))


def phone(column: pa.Array, context: Context) -> Standardised:
    """`cdp.identifiers.normalise_phone` over a column: national numbers are read in the row's country, else the
    context's phone region."""
    present = blank_to_null(column)
    unmarked = pc.replace_substring_regex(present, identifiers.TRUNK_MARK, "")
    digits = pc.replace_substring_regex(unmarked, identifiers.PHONE_SEPARATORS, "")
    international = pc.replace_substring_regex(digits, identifiers.INTERNATIONAL_PREFIX, "+")
    region = context.clean.get("country", pa.nulls(len(column), pa.string()))
    if context.phone_region:
        region = pc.fill_null(region, context.phone_region)
    calling_code = _lookup(region, identifiers.COUNTRY_CALLING_CODES)
    keeps_trunk_digit = pc.is_in(region, pa.array(sorted(identifiers.NO_TRUNK_PREFIX)))
    national = pc.if_else(keeps_trunk_digit, international, pc.replace_substring_regex(international, r"^0", ""))
    with_code = pc.binary_join_element_wise("+", calling_code, national, "")
    values = pc.if_else(pc.starts_with(international, "+"), international, with_code)
    invalid = _invalid_where(present, pc.match_substring_regex(values, identifiers.E164_PATTERN))
    return Standardised(_keep_valid(values, invalid), invalid)


def _zero_padded(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, r"\b([0-9])\b", r"0\1")


def _parse_local(local: pa.Array, formats: tuple[str, ...]) -> pa.Array:
    """Naive timestamps from the first format that reads each value as a real calendar time (no roll-over)."""
    parsed = pa.nulls(len(local), pa.timestamp("s"))
    padded = _zero_padded(local)
    for time_format in formats:
        pending = pc.and_(pc.is_valid(local), pc.is_null(parsed))
        if not pc.any(pending).as_py():
            break
        candidate = pc.strptime(local, format=time_format, unit="s", error_is_null=True)
        real = pc.equal(pc.strftime(candidate, format=time_format), padded)
        parsed = pc.coalesce(parsed, pc.if_else(pc.fill_null(real, False), candidate, pa.scalar(None, parsed.type)))
    return pc.cast(parsed, pa.timestamp("us"))


def _offset_micros(offset: pa.Array) -> pa.Array:
    """'Z', '+01', '+0130', '-01:30' as signed microseconds east of UTC."""
    digits = pc.replace_substring_regex(pc.replace_substring(offset, "Z", "0000"), r"[^0-9]", "")
    hours = pc.cast(pc.utf8_slice_codeunits(digits, 0, 2), pa.int64())
    minutes = pc.cast(pc.if_else(pc.equal(pc.utf8_length(digits), 4), pc.utf8_slice_codeunits(digits, 2, 4), "0"), pa.int64())
    sign = pc.if_else(pc.starts_with(offset, "-"), -1, 1)
    magnitude = pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60_000_000)
    return pc.multiply(sign, magnitude)


def _strict_iso(values: pa.Array, timezone: str) -> pa.Array | None:
    """The fast path: Arrow's strict ISO 8601 cast, when every value has an offset or none has; else None."""
    try:
        return pc.cast(values, TIMESTAMP_TYPE)
    except pa.ArrowInvalid:
        pass
    try:
        naive = pc.cast(values, pa.timestamp("us"))
    except pa.ArrowInvalid:
        return None
    return pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="latest")


def _any_format(values: pa.Array, context: Context) -> pa.Array:
    """Value by value: ISO 8601 or the mapping's formats, optional fraction and offset (else local time)."""
    values = pc.utf8_upper(values)
    parts = pc.extract_regex(values, TIMESTAMP_PARTS)
    local = pc.coalesce(pc.struct_field(parts, "local"), values)
    offset = pc.struct_field(parts, "offset")
    offset = pc.if_else(pc.equal(offset, ""), pa.scalar(None, pa.string()), offset)
    fraction = pc.utf8_slice_codeunits(pc.struct_field(parts, "fraction"), 1, 7)
    micros = pc.cast(pc.utf8_slice_codeunits(pc.binary_join_element_wise(fraction, "000000", ""), 0, 6), pa.int64())
    naive = _parse_local(local, context.timestamp_formats + ISO_FORMATS)
    naive_micros = pc.add(pc.cast(naive, pa.int64()), pc.fill_null(micros, 0))
    with_offset = pc.cast(pc.subtract(naive_micros, _offset_micros(offset)), TIMESTAMP_TYPE)
    local_time = pc.assume_timezone(
        pc.cast(naive_micros, pa.timestamp("us")), context.timezone, ambiguous="earliest", nonexistent="latest"
    )
    return pc.if_else(pc.is_valid(offset), with_offset, pc.cast(local_time, TIMESTAMP_TYPE))


def per_distinct(values: pa.Array, function: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`function` over the distinct values only, when values repeat (order lines of one order, countries)."""
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) * 2 > len(values):
        return function(values)
    return pc.take(function(encoded.dictionary), encoded.indices)


def timestamp(column: pa.Array, context: Context) -> Standardised:
    """Timestamps to UTC microseconds: ISO 8601 (with or without offset and fraction) or the mapping's formats;
    values without an offset are local time in the mapping's timezone (a time skipped by a clock change moves
    forward, a repeated one takes the earlier instant); impossible dates are invalid."""
    values = blank_to_null(column)
    parsed = _strict_iso(values, context.timezone)
    if parsed is None:
        parsed = per_distinct(values, lambda distinct: _any_format(distinct, context))
    return Standardised(parsed, pc.and_(pc.is_valid(values), pc.is_null(parsed)))


def date(column: pa.Array, context: Context) -> Standardised:
    """Calendar dates (date32) in ISO or the mapping's formats; no time zone conversion."""
    values = blank_to_null(column)
    formats = tuple(form for form in context.timestamp_formats if "%H" not in form) + ("%Y-%m-%d", "%Y%m%d")
    parsed = pc.cast(_parse_local(values, formats), pa.date32())
    return Standardised(parsed, pc.and_(pc.is_valid(values), pc.is_null(parsed)))


def _whole_column_cast(values: pa.Array, to: pa.DataType) -> Standardised | None:
    """The fast path for numbers: one strict cast of the whole column, or None when some value needs checking
    (Arrow's decimal cast wraps numbers of hundreds of digits instead of failing, so long values never take it)."""
    if (pc.max(pc.utf8_length(values)).as_py() or 0) > NUMBER_TEXT_LIMIT:
        return None
    try:
        cast = pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return Standardised(cast, pc.and_(pc.is_valid(values), pa.scalar(False)))


def money(column: pa.Array, _context: Context) -> Standardised:
    """Decimal amounts with at most four places, as decimal128(18, 4); exponents and thousands separators are
    refused."""
    values = blank_to_null(column)
    if not pc.any(pc.match_substring(values, "e", ignore_case=True)).as_py():
        if (fast := _whole_column_cast(values, MONEY_TYPE)) is not None:
            return fast
    values = pc.replace_substring_regex(values, r"^\+", "")
    valid = pc.match_substring_regex(values, MONEY_PATTERN)
    invalid = _invalid_where(values, valid)
    return Standardised(pc.cast(_keep_valid(values, invalid), MONEY_TYPE), invalid)


def integer(column: pa.Array, _context: Context) -> Standardised:
    values = blank_to_null(column)
    if (fast := _whole_column_cast(values, pa.int64())) is not None:
        return fast
    values = pc.replace_substring_regex(values, r"^\+", "")
    invalid = _invalid_where(values, pc.match_substring_regex(values, INTEGER_PATTERN))
    return Standardised(pc.cast(_keep_valid(values, invalid), pa.int64()), invalid)


def boolean(column: pa.Array, _context: Context) -> Standardised:
    """true/false, yes/no, y/n, 1/0, granted/denied... in any case."""
    values = pc.utf8_lower(blank_to_null(column))
    invalid = _invalid_where(values, pc.is_in(values, pa.array(TRUE_WORDS + FALSE_WORDS)))
    truth = pc.if_else(pc.is_valid(values), pc.is_in(values, pa.array(TRUE_WORDS)), pa.scalar(None, pa.bool_()))
    return Standardised(_keep_valid(truth, invalid), invalid)


def choice(column: pa.Array, context: Context) -> Standardised:
    """Lower-cased values from a fixed vocabulary."""
    values = pc.utf8_lower(blank_to_null(column))
    return _checked(values, pc.is_in(values, pa.array(list(context.choices), pa.string())))


def currency(column: pa.Array, _context: Context) -> Standardised:
    """ISO 4217 codes, upper-cased."""
    values = pc.utf8_upper(blank_to_null(column))
    return _checked(values, pc.is_in(values, pa.array(sorted(codes.CURRENCY_CODES))))


def timezone(column: pa.Array, _context: Context) -> Standardised:
    """IANA time zone names, in their canonical case."""
    values = blank_to_null(column)
    canonical = _lookup(pc.utf8_lower(values), codes.TIMEZONES)
    invalid = _invalid_where(values, pc.is_valid(canonical))
    return Standardised(_keep_valid(canonical, invalid), invalid)


def language(column: pa.Array, _context: Context) -> Standardised:
    """BCP 47 tags (language[-Script][-REGION][-variant]); '_' is read as '-'; canonical case (en-GB, zh-Hans-CN)."""
    values = pc.utf8_lower(pc.replace_substring(blank_to_null(column), "_", "-"))
    parts = pc.extract_regex(values, LANGUAGE_PATTERN)
    script, region = pc.struct_field(parts, "script"), pc.struct_field(parts, "region")
    tagged = pc.binary_join_element_wise(
        pc.struct_field(parts, "language"),
        pc.if_else(pc.equal(script, ""), "", pc.binary_join_element_wise("-", pc.utf8_capitalize(script), "")),
        pc.if_else(pc.equal(region, ""), "", pc.binary_join_element_wise("-", pc.utf8_upper(region), "")),
        pc.struct_field(parts, "variants"),
        "",
    )
    return _checked(tagged, pc.is_valid(tagged))


def _where(mask: pa.Array, subset: pa.Array, otherwise: pa.Array) -> pa.Array:
    """Put `subset` (one value per true row of `mask`, in order) back in place; other rows keep `otherwise`."""
    rank = pc.max_element_wise(pc.subtract(pc.cumulative_sum(pc.cast(mask, pa.int64())), 1), 0)
    return pc.if_else(mask, pc.take(subset, rank) if len(subset) else pa.nulls(len(mask), subset.type), otherwise)


def _json_objects(values: pa.Array) -> pa.Array:
    looks_like_object = pc.fill_null(pc.and_(pc.starts_with(values, "{"), pc.ends_with(values, "}")), False)
    candidates = pc.take(values, pc.indices_nonzero(looks_like_object)).to_pylist()
    parsed = pa.array([_is_json_object(text) for text in candidates], pa.bool_())
    return _where(looks_like_object, parsed, pc.and_(looks_like_object, pa.scalar(False)))


def json_text(column: pa.Array, _context: Context) -> Standardised:
    """A JSON object as text; anything else is invalid. Arrow has no JSON validator, so the distinct values that
    look like objects are parsed in Python: the one per-value step of the clean path, on events only."""
    values = blank_to_null(column)
    return _checked(values, per_distinct(values, _json_objects))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def region_code(column: pa.Array, context: Context) -> Standardised:
    """The administrative region code from the shipped table: the value itself as a code or a name, else the row's
    city, else its province, each within the row's country. A name the table does not hold gives null, never a
    rejection: the table covers CN, GB and US (see data/README.md), and a region is no reason to lose a row."""
    country_column = context.clean.get("country", pa.nulls(len(column), pa.string()))
    found = codes.region_lookup(blank_to_null(column), country_column)
    for source in ("city", "province"):
        if source in context.clean:
            found = pc.coalesce(found, codes.region_lookup(context.clean[source], country_column))
    return Standardised(found, pc.and_(pc.is_valid(found), pa.scalar(False)))


CLEAN_TYPES: dict[str, pa.DataType] = {
    "timestamp": TIMESTAMP_TYPE,
    "date": pa.date32(),
    "money": MONEY_TYPE,
    "integer": pa.int64(),
    "boolean": pa.bool_(),
}
"""The clean type of each kind that is not a string."""

STANDARDISERS: dict[str, Callable[[pa.Array, Context], Standardised]] = {
    "text": text,
    "email": email,
    "phone": phone,
    "push_endpoint": push_endpoint,
    "country": country,
    "timestamp": timestamp,
    "date": date,
    "money": money,
    "integer": integer,
    "boolean": boolean,
    "choice": choice,
    "currency": currency,
    "timezone": timezone,
    "language": language,
    "json": json_text,
    "region_code": region_code,
}
