"""The suppression list over moto's ProfilesTable: hashed, normalised addresses, reasons that accumulate, the
marketing-only unsubscribe, and erased people suppressed through the erased register."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from cdp.adapters.clients import client
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.suppression_store import SuppressionStore
from cdp.messaging.suppression import Suppressions, UnknownReason
from cdp.privacy.erasure import identifier_digest

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

SALT = "unit-salt"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def suppressions():
    with identity_tables():
        yield Suppressions(SuppressionStore(PROFILES), SALT, "GB")


def _items() -> list[dict]:
    return client("dynamodb").scan(TableName=PROFILES)["Items"]


def test_an_address_is_suppressed_under_its_normalised_hash_only(suppressions: Suppressions) -> None:
    # Given / When: a hard bounce for a written form of Ann's address
    suppressions.add("p1", "email", "  Ann.Lee@Example.COM ", "hard_bounce", AT)
    # Then: every written form of it is suppressed, other addresses are not, and no item holds the address
    assert suppressions.reason("p1", "email", "ann.lee@example.com") == "hard_bounce"
    assert suppressions.reason("p2", "email", "bob@example.com") is None
    [item] = _items()
    digest = hashlib.sha256(b"ann.lee@example.com").hexdigest()
    assert item["pk"]["S"] == f"SUPPRESSED#email#{digest}"
    assert "example.com" not in str(item).lower()


def test_phone_numbers_in_any_written_form_meet_in_e164(suppressions: Suppressions) -> None:
    suppressions.add("p1", "sms", "07700 900123", "sms_opt_out", AT)
    assert suppressions.reason("p1", "sms", "+44 7700 900123") == "sms_opt_out"
    assert suppressions.reason("p1", "email", "+447700900123") is None  # another channel


def test_reasons_accumulate_once_each_and_unsubscribed_stops_marketing_only(suppressions: Suppressions) -> None:
    # Given: an unsubscribe, then the same again (a retried request)
    assert suppressions.added("email", "ann@example.com", "unsubscribed", AT) is True
    assert suppressions.added("email", "ann@example.com", "unsubscribed", AT) is False
    # Then: marketing stops, a receipt still goes
    assert suppressions.reason("p1", "email", "ann@example.com") == "unsubscribed"
    assert suppressions.reason("p1", "email", "ann@example.com", purpose="transactional") is None
    # When: she also complains
    suppressions.add("p1", "email", "ann@example.com", "complaint", AT)
    # Then: the complaint stops every purpose and is reported first
    assert suppressions.reason("p1", "email", "ann@example.com") == "complaint"
    assert suppressions.reason("p1", "email", "ann@example.com", purpose="transactional") == "complaint"


def test_subscribing_again_lifts_only_the_unsubscribe(suppressions: Suppressions) -> None:
    suppressions.add("p1", "email", "ann@example.com", "unsubscribed", AT)
    suppressions.lift("email", "ann@example.com", "unsubscribed")
    assert suppressions.reason("p1", "email", "ann@example.com") is None
    suppressions.add("p1", "email", "ann@example.com", "hard_bounce", AT)
    suppressions.lift("email", "ann@example.com", "unsubscribed")
    assert suppressions.reason("p1", "email", "ann@example.com") == "hard_bounce"
    suppressions.lift("email", "nobody@example.com", "unsubscribed")  # nothing to lift: nothing written
    assert len(_items()) == 1


def test_erased_people_are_suppressed_from_the_erased_register(suppressions: Suppressions) -> None:
    # Given: Ann's email and phone registered erased, as erasure registers them
    register = PrivacyStore(PROFILES, LEDGER)
    digests = [identifier_digest(SALT, ("email", "ann@example.com")), identifier_digest(SALT, ("phone", "+447700900123"))]
    register.mark_erased(digests, "erasure-1", AT.isoformat())
    # Then: both channels answer `erased`, for every purpose, without an item of their own
    assert suppressions.reason("p1", "email", "ANN@example.com") == "erased"
    assert suppressions.reason("p1", "sms", "07700900123", purpose="transactional") == "erased"
    assert suppressions.reason("p1", "email", "bob@example.com") is None
    assert all(item["pk"]["S"] == "ERASED" for item in _items())


@pytest.mark.parametrize("address", ["", "   ", "not an address", "@example.com", "12"])
def test_an_address_that_does_not_normalise_is_nobodys(suppressions: Suppressions, address: str) -> None:
    channel = "sms" if address == "12" else "email"
    suppressions.add("p1", channel, address, "hard_bounce", AT)
    assert suppressions.reason("p1", channel, address) is None
    assert _items() == []


@pytest.mark.parametrize("reason", ["erased", "bounced", ""])
def test_unknown_reasons_are_refused(suppressions: Suppressions, reason: str) -> None:
    with pytest.raises(UnknownReason):
        suppressions.add("p1", "email", "ann@example.com", reason, AT)


class NobodyHoldsThem:
    """An opt-out store where no profile holds any number (consent writes must not happen)."""

    def find_bound(self, identifiers):
        return {}

    def live_profile_ids(self, profile_ids):
        return {}

    def record_consents(self, *args, **kwargs):
        raise AssertionError("no profile holds these numbers")

    def record_consents_batch(self, *args, **kwargs):
        raise AssertionError("no profile holds these numbers")


def test_a_long_opt_out_list_is_suppressed_once_in_batches(suppressions: Suppressions) -> None:
    from cdp.messaging.unsubscribe import record_sms_opt_outs

    # Given: 250 numbers that replied STOP, one listed twice, and two entries that are no numbers
    numbers = [f"+4477009{n:05d}" for n in range(250)] + ["+447700900007", "not a number", ""]
    # When: the list is read twice
    first = record_sms_opt_outs(iter(numbers), NobodyHoldsThem(), suppressions, AT)
    second = record_sms_opt_outs(iter(numbers), NobodyHoldsThem(), suppressions, AT)
    # Then: every number suppressed once, nothing new the second time
    assert (first.numbers, first.new, first.not_numbers, first.profiles) == (253, 250, 2, 0)
    assert (second.new, second.not_numbers) == (0, 2)
    assert suppressions.reason("p", "sms", "07700 900249") == "sms_opt_out"
    assert len(_items()) == 250
