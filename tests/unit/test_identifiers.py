"""The one identifier normaliser: its rules, and the column-wise cleaning of files agreeing with it value for value
over many randomly written forms of the same emails and phone numbers (a seeded property-style test)."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from cdp.clean.standardise import Context, email, phone
from cdp.identifiers import normalise_email, normalise_phone

SEED = 20261203
FORMS = 3000
SPACES = [" ", "  ", "\t", "\u00a0", "\u2003", "\x1c", ""]
SEPARATORS = [" ", "-", ".", "/", "(", ")", "'", "\u00a0", "_", ",", ""]
DOMAINS = ["example.com", "Bücher.DE", "例え.jp", "mañana.es", "ÉCOLE.fr", "xn--bcher-kva.de", "a..b", "-x.com", "x"]
LOCALS = ["ann", "Ann.Lee", "a.b+tag", "İpek", "K\u212aelvin", "o'brien", "", "x" * 70, "ß"]
REGIONS = ["GB", "US", "FR", "CN", "IT", "AU", "DE", "ZZ", None]
NUMBERS = ["07700900123", "7700900123", "4155550123", "0612345678", "13800138000", "+447700900123",
           "00447700900123", "0412345678", "123", "+0123456789", "+44(0)7700900123", "0", "++44770090012"]  # fmt: skip


def _written_email(rng: random.Random) -> str:
    local = rng.choice(LOCALS)
    local = "".join(c.upper() if rng.random() < 0.3 else c for c in local)
    at = rng.choice(["@", "@", "@", "@@", ""])
    return f"{rng.choice(SPACES)}{local}{at}{rng.choice(DOMAINS)}{rng.choice(SPACES)}"


def _written_phone(rng: random.Random) -> str:
    digits = rng.choice(NUMBERS)
    written = "".join(c + (rng.choice(SEPARATORS) if rng.random() < 0.3 else "") for c in digits)
    return f"{rng.choice(SPACES)}{written}{rng.choice(SPACES)}"


def test_column_cleaning_agrees_with_the_scalar_normaliser_on_written_emails() -> None:
    # Given: thousands of written forms (case, surrounding spaces, IDN domains, broken addresses)
    rng = random.Random(SEED)
    written = [_written_email(rng) for _ in range(FORMS)] + [None]
    # When
    cleaned = email(pa.array(written, pa.string()), Context())
    # Then: the same answer value for value, and exactly the present-but-unusable ones are invalid
    expected = [normalise_email(value) for value in written]
    assert cleaned.values.to_pylist() == expected
    assert cleaned.invalid.to_pylist() == [bool(v and v.strip()) and e is None for v, e in zip(written, expected)]
    assert 0.2 < sum(e is not None for e in expected) / FORMS < 0.9  # both outcomes are well exercised


def test_column_cleaning_agrees_with_the_scalar_normaliser_on_written_phones() -> None:
    # Given: written forms read in the row's country, else the default region
    rng = random.Random(SEED)
    written = [_written_phone(rng) for _ in range(FORMS)] + [None]
    countries = [rng.choice(REGIONS) for _ in written]
    default_region = "GB"
    # When
    context = Context(clean={"country": pa.array(countries, pa.string())}, phone_region=default_region)
    cleaned = phone(pa.array(written, pa.string()), context)
    # Then
    expected = [normalise_phone(value, country or default_region) for value, country in zip(written, countries)]
    assert cleaned.values.to_pylist() == expected
    assert 0.2 < sum(e is not None for e in expected) / FORMS < 0.9


@pytest.mark.parametrize(
    ("written", "expected"),
    [(" Ann@Bücher.DE ", "ann@xn--bcher-kva.de"), ("ANN@EXAMPLE.COM", "ann@example.com"),
     ("ann@xn--bcher-kva.de", "ann@xn--bcher-kva.de"), ("not an email", None), ("", None), (None, None),
     ("ann@", None), ("@example.com", None), (42, None)],
)  # fmt: skip
def test_emails_are_trimmed_lowercased_and_punycoded(written: object, expected: str | None) -> None:
    assert normalise_email(written) == expected


@pytest.mark.parametrize(
    ("written", "region", "expected"),
    [("07700 900123", "GB", "+447700900123"), ("+44 7700-900-123", None, "+447700900123"),
     ("0044 (0)7700 900123", None, "+447700900123"), ("+44 (0) 7700 900123", "US", "+447700900123"),
     ("(415) 555-0123", "US", "+14155550123"), ("06.12.34.56.78", "FR", "+33612345678"),
     ("06 12 34 56 78", "IT", "+390612345678"), ("07700 900123", None, None), ("07700 900123", "ZZ", None),
     ("12", "GB", None), ("call me", "GB", None), (447700900123, None, None), (None, "GB", None)],
)  # fmt: skip
def test_phones_become_e164_in_the_given_region(written: object, region: str | None, expected: str | None) -> None:
    assert normalise_phone(written, region) == expected
