"""Reference code tables: ISO 3166-1 countries (alpha-2, alpha-3, names), ISO 4217
currencies, IANA time zones and administrative region codes. The country and region tables are data files in
`data/` (see data/README.md for their sources and coverage)."""

from __future__ import annotations

import csv
import re
import zoneinfo
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

DATA = Path(__file__).parent / "data"
NAME_PUNCTUATION = r"[^\p{L}\p{N}]+"
REGION_SUFFIXES = (
    r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|sheng|shi|province|municipality|autonomousregion|"
    r"specialadministrativeregion|sar)$"
)

# Active ISO 4217 currency codes.
CURRENCY_CODES: frozenset[str] = frozenset(
    """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split()
)


def name_key(values: pa.Array) -> pa.Array:
    """A place name as a lookup key: lower-cased, without spaces or punctuation ("Xi'an" -> "xian")."""
    return pc.utf8_lower(pc.replace_substring_regex(values, NAME_PUNCTUATION, ""))


def _plain_key(name: str) -> str:
    return re.sub(r"[\W_]+", "", name).lower()


def _read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _country_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for row in _read("countries.csv"):
        for name in (row["alpha_2"], row["alpha_3"], row["name"], *filter(None, row["other_names"].split("|"))):
            keys.setdefault(_plain_key(name), row["alpha_2"])
    return keys


COUNTRY_KEYS: dict[str, str] = _country_keys()
"""Lookup key (alpha-2, alpha-3 or an English name, see name_key) -> ISO 3166-1 alpha-2."""

TIMEZONES: dict[str, str] = {name.lower(): name for name in sorted(zoneinfo.available_timezones())}


@cache
def _region_tables() -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """(country|key -> code) and (key -> code for names unique across countries), as Arrow arrays."""
    by_country: dict[str, str] = {}
    anywhere: dict[str, set[str]] = {}
    for row in _read("region_codes.csv"):
        names = (row["code"], row["name"], *filter(None, row["other_names"].split("|")))
        for name in names:
            key = re.sub(REGION_SUFFIXES, "", _plain_key(name)) or _plain_key(name)
            by_country.setdefault(f"{row['country']}|{key}", row["code"])
            anywhere.setdefault(key, set()).add(row["code"])
    unique = {key: next(iter(found)) for key, found in anywhere.items() if len(found) == 1}
    return (
        pa.array(list(by_country), pa.string()),
        pa.array(list(by_country.values()), pa.string()),
        pa.array(list(unique), pa.string()),
        pa.array(list(unique.values()), pa.string()),
    )


def region_lookup(names: pa.Array, countries: pa.Array) -> pa.Array:
    """The region code of each name (a code, or a name in English, pinyin or Chinese, with or without 省/市/Sheng/
    Province...) within its row's country; a row without a country matches names unique in the whole table."""
    if names.null_count == len(names):
        return pa.nulls(len(names), pa.string())
    country_keys, country_codes, unique_keys, unique_codes = _region_tables()
    plain = name_key(names)
    key = pc.replace_substring_regex(plain, REGION_SUFFIXES, "")
    key = pc.if_else(pc.equal(key, ""), plain, key)
    in_country = pc.take(country_codes, pc.index_in(pc.binary_join_element_wise(countries, key, "|"), country_keys))
    anywhere = pc.take(unique_codes, pc.index_in(key, unique_keys))
    return pc.coalesce(in_country, pc.if_else(pc.is_null(countries), anywhere, pa.scalar(None, pa.string())))
