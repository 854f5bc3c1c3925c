"""Consent layout and rules: channel:purpose keys, marketing needs a grant, migration of flat items, newer wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cdp.adapters.clients import reset_clients
from cdp.adapters.privacy_store import PrivacyStore
from cdp.privacy.consent import (
    ConsentChange,
    apply_consent_records,
    consent_changes_from_customer_row,
    consent_granted,
    migrate_flat_consent,
)
from moto import mock_aws

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


def test_flat_consent_items_migrate_to_channel_marketing_keeping_newer_layout_entries() -> None:
    # Given: today's flat item, plus an entry already in the new layout
    flat = {"email": {"granted": True, "source": "s3://raw/c.csv", "updated_at": "2026-01-01T00:00:00+00:00"},
            "sms:marketing": {"granted": False, "source": "api", "recorded_at": "2026-02-01T00:00:00+00:00"},
            "sms": {"granted": True, "source": "old", "updated_at": "2025-01-01T00:00:00+00:00"}}
    # When
    migrated = migrate_flat_consent(flat)
    # Then
    assert migrated == {
        "email:marketing": {"granted": True, "source": "s3://raw/c.csv", "recorded_at": "2026-01-01T00:00:00+00:00"},
        "sms:marketing": {"granted": False, "source": "api", "recorded_at": "2026-02-01T00:00:00+00:00"},
    }


def test_customer_consent_columns_map_to_marketing_per_channel() -> None:
    # Given / When
    changes = consent_changes_from_customer_row({"email_consent": True, "sms_consent": None}, "s3://raw/c.csv", T0)
    # Then
    assert [(c.key, c.granted, c.value()["recorded_at"]) for c in changes] == [
        ("email:marketing", True, "2026-11-20T12:00:00.000000+00:00")]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        reset_clients()
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        for name in ("profiles", "ledger"):
            dynamodb.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            )
        yield PrivacyStore("profiles", "ledger")
        reset_clients()


def _row(granted: bool, at: datetime, **who: object) -> dict:
    return {"customer_id": None, "email": None, "phone": None, "channel": "email", "purpose": None,
            "granted": granted, "recorded_at": at, "source": None, **who}


def test_a_consents_batch_creates_resolves_and_keeps_the_newest_statement(store: PrivacyStore) -> None:
    # Given: statements for one person (varying case), out of order, and a guest row
    rows = [_row(True, T0, email="A@Example.com "), _row(False, T0 + timedelta(hours=1), email="a@example.com"),
            _row(True, T0 - timedelta(days=1), email="a@example.com"), _row(True, T0)]
    # When: the batch, then the same batch again (a re-delivered file)
    first = apply_consent_records(store, "consents", rows, "s3://raw/consents/c.csv", T0, timedelta(days=30))
    again = apply_consent_records(store, "consents", rows, "s3://raw/consents/c.csv", T0, timedelta(days=30))
    # Then: one profile; the newest statement (withdrawn) is kept; replays apply nothing; the guest row is counted
    assert (first.created, first.guest_records, again.records_applied, again.guest_records) == (1, 1, 0, 1)
    profiles = [i for i in store.profiles.scan()["Items"] if i["sk"] == "PROFILE"]
    assert profiles[0]["consent"] == {"email:marketing": {"granted": False, "source": "s3://raw/consents/c.csv",
                                                          "recorded_at": "2026-11-20T13:00:00.000000+00:00"}}
    # When / Then: an older statement by profile id is refused, a newer one stored
    profile_id = profiles[0]["profile_id"]
    assert not store.record_consent(profile_id, ConsentChange("email", "marketing", True, T0, "api"))
    assert store.record_consent(profile_id, ConsentChange("email", "marketing", True, T0 + timedelta(days=1), "api"))
    assert not store.record_consent("nobody", ConsentChange("email", "marketing", True, T0, "api"))


def test_another_entity_is_refused(store: PrivacyStore) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="customers"):
        apply_consent_records(store, "customers", [], "s", T0, timedelta(days=30))
