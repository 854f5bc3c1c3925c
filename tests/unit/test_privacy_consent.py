"""Consent layout and rules: channel:purpose keys, marketing needs a grant, newer wins."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from cdp.adapters.clients import client
from cdp.adapters.privacy_store import PrivacyStore
from cdp.privacy.consent import ConsentChange, consent_granted, newest_per_key
from cdp.records.consents import apply_consent_records

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("consent", "channel", "purpose", "granted"),
    [
        ({"email:marketing": {"granted": True}}, "email", "marketing", True),
        ({"email:marketing": {"granted": False}}, "email", "marketing", False),
        ({}, "email", "marketing", False),
        (None, "sms", "marketing", False),
        ({"email": {"granted": True}}, "email", "marketing", False),  # the flat layout no longer counts
        ({}, "sms", "transactional", True),
        ({"sms:transactional": {"granted": False}}, "sms", "transactional", False),
        ({"email:marketing": {"granted": True}}, "sms", "marketing", False),
    ],
)
def test_marketing_needs_a_grant_and_transactional_is_allowed_unless_refused(consent, channel, purpose, granted) -> None:
    # Given / When / Then
    assert consent_granted(consent, channel, purpose) is granted


@pytest.fixture
def store():
    with identity_tables():
        yield PrivacyStore(PROFILES, LEDGER)


def _row(granted: bool, at: datetime, **who: object) -> dict:
    return {"customer_id": None, "email": None, "phone": None, "channel": "email", "purpose": None,
            "granted": granted, "recorded_at": at, "source": None, **who}


def _profile(store: PrivacyStore) -> dict:
    [profile] = [item for item in store.profiles.scan()["Items"] if item["sk"] == "PROFILE"]
    return profile


def _calls(store: PrivacyStore) -> Counter[str]:
    """Counts the DynamoDB operations the store's clients make from now on."""
    calls: Counter[str] = Counter()
    for dynamodb in {id(c): c for c in (client("dynamodb"), store.profiles.meta.client)}.values():
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    return calls


def test_a_consents_batch_creates_resolves_and_keeps_the_newest_statement(store: PrivacyStore) -> None:
    # Given: statements for one person (varying case), out of order, and a guest row
    rows = [_row(True, T0, email="A@Example.com "), _row(False, T0 + timedelta(hours=1), email="a@example.com"),
            _row(True, T0 - timedelta(days=1), email="a@example.com"), _row(True, T0)]
    # When: the batch, then the same batch again (a re-delivered file)
    first = apply_consent_records(store, rows, "s3://raw/consents/c.csv", T0)
    again = apply_consent_records(store, rows, "s3://raw/consents/c.csv", T0)
    # Then: one profile; the newest statement (withdrawn) is current; replays apply nothing; the guest row is counted
    assert (first.created, first.records_applied, first.guest_records) == (1, 1, 1)
    assert (again.records_applied, again.guest_records) == (0, 1)
    profile = _profile(store)
    assert profile["consent"] == {"email:marketing": {"granted": False, "source": "s3://raw/consents/c.csv",
                                                      "recorded_at": "2026-11-20T13:00:00.000000+00:00"}}
    # And: all three statements are in the history once, oldest first, the replay added none
    history = store.consent_history(profile["profile_id"])
    assert [(h["granted"], h["recorded_at"][:13]) for h in history] == [
        (True, "2026-11-19T12"), (True, "2026-11-20T12"), (False, "2026-11-20T13")]
    assert profile["consent_statements"] == 3
    # When / Then: an older statement by profile id is not current but joins the history; a newer one is current
    profile_id = profile["profile_id"]
    assert store.record_consents(profile_id, [ConsentChange("email", "marketing", True, T0, "api")], T0, newest_per_key) == [False]
    assert store.record_consents(
        profile_id, [ConsentChange("email", "marketing", True, T0 + timedelta(days=1), "api")], T0, newest_per_key) == [True]
    assert len(store.consent_history(profile_id)) == 5
    assert store.record_consents("nobody", [ConsentChange("email", "marketing", True, T0, "api")], T0, newest_per_key) == [False]


def test_an_older_statement_arriving_late_never_overrides_a_newer_one(store: PrivacyStore) -> None:
    # Given: an unsubscribe recorded today
    apply_consent_records(store, [_row(False, T0, email="a@example.com")], "preference_centre", T0)
    # When: a grant made yesterday arrives late, alone and then together with a grant of SMS
    late = apply_consent_records(store, [_row(True, T0 - timedelta(days=1), email="a@example.com")], "crm", T0)
    both = apply_consent_records(store, [_row(True, T0 - timedelta(days=1), email="a@example.com", source="shop"),
                                         {**_row(True, T0, email="a@example.com"), "channel": "sms"}], "crm", T0)
    # Then: email marketing stays withdrawn; SMS is granted; the history holds every statement
    consent = _profile(store)["consent"]
    assert (consent["email:marketing"]["granted"], consent["sms:marketing"]["granted"]) == (False, True)
    assert (late.records_applied, both.records_applied) == (0, 1)
    history = store.consent_history(_profile(store)["profile_id"])
    assert sorted((h["channel"], h["granted"], h["source"]) for h in history) == [
        ("email", False, "preference_centre"), ("email", True, "crm"), ("email", True, "shop"), ("sms", True, "crm")]


def test_a_profiles_statements_of_one_batch_cost_one_write(store: PrivacyStore) -> None:
    # Given: three customers already known
    people = [f"p{n}@example.com" for n in range(3)]
    apply_consent_records(store, [_row(True, T0, email=email) for email in people], "s3://raw/c.csv", T0)
    # When: a customers file carries email and SMS consent for each (two statements per person)
    rows = [{**_row(granted, T0 + timedelta(days=1), email=email), "channel": channel}
            for email in people for channel, granted in (("email", False), ("sms", True))]
    calls = _calls(store)
    outcome = apply_consent_records(store, rows, "s3://raw/c.csv", T0 + timedelta(days=1))
    # Then: one transaction per person (history and current consent together), no other write
    assert outcome.records_applied == 6
    assert {name: count for name, count in calls.items() if "Get" not in name and "Query" not in name} == {
        "TransactWriteItems": 3}


def test_journeys_read_the_profile_strongly_consistent_and_follow_a_merge(store: PrivacyStore) -> None:
    # Given: a profile merged into another, which holds the withdrawal
    table = store.profiles
    table.put_item(Item={"pk": "PROFILE#old", "sk": "PROFILE", "profile_id": "old", "redirect_to": "new"})
    table.put_item(Item={"pk": "PROFILE#new", "sk": "PROFILE", "profile_id": "new",
                         "consent": {"email:marketing": {"granted": False}}})
    reads: list[dict] = []
    table.meta.client.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(params))
    # When: a journey step reads the profile it was started for
    profile = store.profile_consistently("old", follow_redirects=True)
    # Then: it sees the live profile's consent, through strongly consistent reads only
    assert profile is not None and profile["profile_id"] == "new"
    assert not consent_granted(profile["consent"], "email", "marketing")
    assert [(read["Key"]["pk"], read["ConsistentRead"]) for read in reads] == [("PROFILE#old", True), ("PROFILE#new", True)]
    assert store.profile_consistently("old")["redirect_to"] == "new"


def test_a_person_with_more_statements_than_a_transaction_holds_keeps_them_all(store: PrivacyStore) -> None:
    # Given: a consents file with 150 statements about one person, alternating, one minute apart, shuffled
    rows = [_row(n % 2 == 0, T0 + timedelta(minutes=n), email="a@example.com") for n in range(150)]
    rows = rows[::2] + rows[1::2]
    calls = _calls(store)
    # When
    outcome = apply_consent_records(store, rows, "s3://raw/consents/c.csv", T0)
    # Then: two transactions (99 statements each at most) after the profile's creation, every statement kept,
    # the newest current
    profile = _profile(store)
    assert calls["TransactWriteItems"] == 3 and outcome.records_applied >= 1
    assert (len(store.consent_history(profile["profile_id"])), profile["consent_statements"]) == (150, 150)
    assert profile["consent"]["email:marketing"]["recorded_at"] == "2026-11-20T14:29:00.000000+00:00"
    assert profile["consent"]["email:marketing"]["granted"] is False
