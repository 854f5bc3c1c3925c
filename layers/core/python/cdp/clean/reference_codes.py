"""Reference code tables: ISO 3166-1 countries (alpha-2, alpha-3, names) with their calling codes, ISO 4217
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

# ISO 3166-1 alpha-2 -> ITU calling code (without +).
COUNTRY_CALLING_CODES: dict[str, str] = {
    "AD": "376", "AE": "971", "AF": "93", "AG": "1", "AI": "1", "AL": "355", "AM": "374", "AO": "244",
    "AR": "54", "AS": "1", "AT": "43", "AU": "61", "AW": "297", "AX": "358", "AZ": "994", "BA": "387",
    "BB": "1", "BD": "880", "BE": "32", "BF": "226", "BG": "359", "BH": "973", "BI": "257", "BJ": "229",
    "BL": "590", "BM": "1", "BN": "673", "BO": "591", "BQ": "599", "BR": "55", "BS": "1", "BT": "975",
    "BW": "267", "BY": "375", "BZ": "501", "CA": "1", "CD": "243", "CF": "236", "CG": "242", "CH": "41",
    "CI": "225", "CK": "682", "CL": "56", "CM": "237", "CN": "86", "CO": "57", "CR": "506", "CU": "53",
    "CV": "238", "CW": "599", "CY": "357", "CZ": "420", "DE": "49", "DJ": "253", "DK": "45", "DM": "1",
    "DO": "1", "DZ": "213", "EC": "593", "EE": "372", "EG": "20", "ER": "291", "ES": "34", "ET": "251",
    "FI": "358", "FJ": "679", "FK": "500", "FM": "691", "FO": "298", "FR": "33", "GA": "241", "GB": "44",
    "GD": "1", "GE": "995", "GF": "594", "GG": "44", "GH": "233", "GI": "350", "GL": "299", "GM": "220",
    "GN": "224", "GP": "590", "GQ": "240", "GR": "30", "GT": "502", "GU": "1", "GW": "245", "GY": "592",
    "HK": "852", "HN": "504", "HR": "385", "HT": "509", "HU": "36", "ID": "62", "IE": "353", "IL": "972",
    "IM": "44", "IN": "91", "IQ": "964", "IR": "98", "IS": "354", "IT": "39", "JE": "44", "JM": "1",
    "JO": "962", "JP": "81", "KE": "254", "KG": "996", "KH": "855", "KI": "686", "KM": "269", "KN": "1",
    "KP": "850", "KR": "82", "KW": "965", "KY": "1", "KZ": "7", "LA": "856", "LB": "961", "LC": "1",
    "LI": "423", "LK": "94", "LR": "231", "LS": "266", "LT": "370", "LU": "352", "LV": "371", "LY": "218",
    "MA": "212", "MC": "377", "MD": "373", "ME": "382", "MF": "590", "MG": "261", "MH": "692", "MK": "389",
    "ML": "223", "MM": "95", "MN": "976", "MO": "853", "MP": "1", "MQ": "596", "MR": "222", "MS": "1",
    "MT": "356", "MU": "230", "MV": "960", "MW": "265", "MX": "52", "MY": "60", "MZ": "258", "NA": "264",
    "NC": "687", "NE": "227", "NG": "234", "NI": "505", "NL": "31", "NO": "47", "NP": "977", "NR": "674",
    "NU": "683", "NZ": "64", "OM": "968", "PA": "507", "PE": "51", "PF": "689", "PG": "675", "PH": "63",
    "PK": "92", "PL": "48", "PM": "508", "PR": "1", "PS": "970", "PT": "351", "PW": "680", "PY": "595",
    "QA": "974", "RE": "262", "RO": "40", "RS": "381", "RU": "7", "RW": "250", "SA": "966", "SB": "677",
    "SC": "248", "SD": "249", "SE": "46", "SG": "65", "SH": "290", "SI": "386", "SK": "421", "SL": "232",
    "SM": "378", "SN": "221", "SO": "252", "SR": "597", "SS": "211", "ST": "239", "SV": "503", "SX": "1",
    "SY": "963", "SZ": "268", "TC": "1", "TD": "235", "TG": "228", "TH": "66", "TJ": "992", "TL": "670",
    "TM": "993", "TN": "216", "TO": "676", "TR": "90", "TT": "1", "TV": "688", "TW": "886", "TZ": "255",
    "UA": "380", "UG": "256", "US": "1", "UY": "598", "UZ": "998", "VA": "39", "VC": "1", "VE": "58",
    "VG": "1", "VI": "1", "VN": "84", "VU": "678", "WF": "681", "WS": "685", "YE": "967", "YT": "262",
    "ZA": "27", "ZM": "260", "ZW": "263",
}  # fmt: skip

# Countries whose national numbers keep their leading digit (no trunk prefix "0" to drop).
NO_TRUNK_PREFIX = frozenset({"US", "CA", "CN", "IT", "SM", "VA", "DK", "NO", "ES", "PT", "GR", "LU", "SG", "HK"})

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
