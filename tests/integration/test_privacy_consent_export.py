"""Consent via the API and a consents file, unsubscribe before the next send, export, and hostile requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cdp.adapters.privacy_store import PrivacyStore
from cdp.privacy.consent import ConsentChange, newest_per_key
from cdp.records.consents import apply_consent_records
from cdp_local.runner import http_api
from cdp_local.stack import FunctionError, LocalStack
from cdp_local.template import REPO_ROOT
from moto.ses.models import ses_backends

from tests.integration.privacy_flow import CUSTOMERS, ORDERS, SALT, call_api, drop, post_tracking, profile_of


@pytest.fixture
def stack():
    with LocalStack() as local_stack:
        local_stack.client("ssm").put_parameter(Name="/cdp/erasure-salt", Value=SALT, Type="SecureString", Overwrite=True)
        yield local_stack


def _consent(granted: bool, at: datetime, **who: str) -> dict:
    return {"channel": "email", "purpose": "marketing", "granted": granted, "recorded_at": at.isoformat(), "source": "preference_centre", **who}


def test_consent_via_api_and_file_newer_wins_and_an_older_replay_never_overrides(stack: LocalStack) -> None:
    # Given: Ann, who consented to email marketing in the customers file
    drop(stack, "customers/customers.csv", CUSTOMERS)
    stack.wait_for_executions(timeout=60)
    assert profile_of(stack, "C1")["consent"]["email:marketing"]["granted"] is True
    # When: she withdraws through the API (by email), then a consents file replays an older grant
    now = datetime.now(UTC)
    status, answer = call_api(stack, "POST", "/v1/consents", _consent(False, now, email="Ann.Lee@Example.com"))
    store = PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    older = {"customer_id": "C1", "email": None, "phone": None, "channel": "email", "purpose": "marketing",
             "granted": True, "recorded_at": now - timedelta(days=1), "source": None}
    replay = apply_consent_records(store, [older, {**older, "customer_id": None}], "s3://raw/consents/c.csv", now)
    # Then: the API statement is kept; the replay applied nothing and its guest row was counted
    assert (status, answer["applied"]) == (200, True)
    assert (replay.records_applied, replay.guest_records) == (0, 1)
    consent = profile_of(stack, "C1")["consent"]["email:marketing"]
    assert (consent["granted"], consent["source"]) == (False, "preference_centre")
    # When: the same older statement comes through the API by profile id
    status, answer = call_api(stack, "POST", "/v1/consents", _consent(True, now - timedelta(days=1), profile_id=profile_of(stack, "C1")["profile_id"]))
    # Then: answered, not applied
    assert (status, answer["applied"]) == (200, False)
    # When: a consents file grants SMS transactional, newer
    newer = {**older, "channel": "sms", "purpose": "transactional", "recorded_at": now}
    outcome = apply_consent_records(store, [newer], "s3://raw/consents/c.csv", now)
    # Then
    assert (outcome.records_applied, profile_of(stack, "C1")["consent"]["sms:transactional"]["source"]) == (1, "s3://raw/consents/c.csv")


def test_an_unsubscribe_stops_the_next_send(stack: LocalStack) -> None:
    # Given: Ann (signed up two days ago, consenting) and her welcome journey done
    drop(stack, "customers/customers.csv", CUSTOMERS)
    stack.wait_for_executions(timeout=60)
    sent_before = len(ses_backends[stack.client("sts").get_caller_identity()["Account"]][stack.region].sent_messages)
    profile_id = profile_of(stack, "C1")["profile_id"]
    # When: she unsubscribes, and the next email step of a journey runs straight after
    now = datetime.now(UTC)
    call_api(stack, "POST", "/v1/consents", _consent(False, now, profile_id=profile_id))
    result = stack.invoke("SendMessageFunction", {
        "origin": "journey", "origin_name": "welcome", "step": "second_email", "channel": "email",
        "template": "welcome_email", "profile_id": profile_id, "occurrence": "after-unsubscribe",
        "context": {"coupon_code": "WELCOME10"}})
    # Then: nothing is sent, and the reason is recorded
    assert (result["status"], result["reason"]) == ("skipped", "no_consent")
    assert len(ses_backends[stack.client("sts").get_caller_identity()["Account"]][stack.region].sent_messages) == sent_before


def test_an_unsubscribe_after_the_journey_started_stops_its_send(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: the welcome journey (its real ASL in moto's interpreter) started for Ann, who consented; the moment its
    # send step is invoked, she unsubscribes in the preference centre
    store = PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    handler_of = stack._handler_of
    unsubscribed: list[str] = []

    def check_then_unsubscribe(logical_id: str):
        handler = handler_of(logical_id)
        if logical_id != "SendMessageFunction":
            return handler

        def unsubscribe_then_send(event, context):
            if event["step"] == "welcome_email":
                now = datetime.now(UTC)
                change = ConsentChange("email", "marketing", False, now, "preference_centre")
                if store.record_consents(event["profile_id"], [change], now, newest_per_key) == [True]:
                    unsubscribed.append(event["profile_id"])
            return handler(event, context)

        return unsubscribe_then_send

    monkeypatch.setattr(stack, "_handler_of", check_then_unsubscribe)
    account = stack.client("sts").get_caller_identity()["Account"]
    # When: her customers row arrives and the journey runs to its end
    drop(stack, "customers/customers.csv", CUSTOMERS)
    stack.wait_for_executions(timeout=60)
    # Then: she unsubscribed, and the send step read her withdrawal and sent nothing
    ann = profile_of(stack, "C1")
    assert unsubscribed == [ann["profile_id"]]
    assert ses_backends[account][stack.region].sent_messages == []
    [message] = stack.client("dynamodb").query(
        TableName=stack.physical_id("ProfilesTable"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :welcome)",
        ExpressionAttributeValues={":pk": {"S": f"PROFILE#{ann['profile_id']}"},
                                   ":welcome": {"S": "MESSAGE#journey#welcome#welcome_email#"}},
        ConsistentRead=True,
    )["Items"]
    assert (message["status"]["S"], message["reason"]["S"]) == ("skipped", "no_consent")


def test_export_holds_everything_about_the_person_and_nothing_of_others(stack: LocalStack) -> None:
    # Given: Ann with a customers row, orders, tracking events and a welcome message
    drop(stack, "customers/customers.csv", CUSTOMERS)
    drop(stack, "orders/orders.csv", ORDERS)
    post_tracking(stack)
    stack.wait_for_executions(timeout=60)
    profile_id = profile_of(stack, "C1")["profile_id"]
    # When
    status, export = call_api(stack, "GET", f"/v1/profiles/{profile_id}/export")
    # Then
    assert status == 200
    assert {"customer_id#C1", "email#ann.lee@example.com"} <= set(export["identifiers"])
    assert export["profile"]["identity"]["profile_id"] == profile_id
    assert export["profile"]["attributes"]["first_name"] == "Ann" and export["profile"]["behaviour"]["orders_count"] >= 1
    assert export["consents"]["email:marketing"]["granted"] is True
    assert [(h["channel"], h["purpose"], h["granted"]) for h in export["consent_history"]] == [
        ("email", "marketing", True), ("sms", "marketing", True)]
    assert [order["order_id"] for order in export["records"]["orders"]] == ["O1", "O3"]  # O3: a negative line, kept (cancellations reduce revenue)
    assert len(export["records"]["events"]) >= 1
    assert {message["step"] for message in export["journey_messages"]} >= {"welcome_email"}
    assert "bob@example.com" not in json.dumps(export)


def test_hostile_and_malformed_requests_get_clear_errors(stack: LocalStack) -> None:
    # Given
    api, now = http_api(stack), datetime.now(UTC)
    # When / Then: unknown ids
    assert call_api(stack, "DELETE", "/v1/profiles/nobody")[0] == 404
    assert call_api(stack, "GET", "/v1/profiles/nobody/export")[0] == 404
    assert call_api(stack, "GET", "/v1/erasures/nothing")[0] == 404
    assert call_api(stack, "POST", "/v1/consents", _consent(True, now, profile_id="nobody"))[0] == 404
    assert call_api(stack, "DELETE", "/v1/profiles/" + "x" * 65)[0] == 400
    # When / Then: bad bodies
    for body in (b"{not json", b"[]", _consent(True, now), _consent(True, now, email="a@b.co", extra="x"),
                 {**_consent(True, now, email="a@b.co"), "granted": "yes"}, {**_consent(True, now, email="a@b.co"), "channel": "fax"},
                 _consent(True, now + timedelta(days=1), email="a@b.co"), {**_consent(True, now, email="a@b.co"), "recorded_at": "2026-01-01T00:00:00"}):
        status, answer = call_api(stack, "POST", "/v1/consents", body)
        assert status == 400, body
        assert "fields" in answer
    assert call_api(stack, "POST", "/v1/consents", b"{" + b" " * 20_000 + b"}")[0] == 413
    # When / Then: no signature
    for method, path in (("DELETE", "/v1/profiles/p"), ("POST", "/v1/consents"), ("GET", "/v1/profiles/p/export"), ("GET", "/v1/erasures/e")):
        assert api.handle(method, path, {"host": "localhost"}, b"").status == 403


def test_the_privacy_sample_events_are_accepted_by_their_handlers(stack: LocalStack) -> None:
    # Given: the sample events in events/ (for `sam local invoke -e`); none of the people or erasures they name exist
    def event(name: str) -> dict:
        return json.loads((REPO_ROOT / "events" / name).read_text())

    # When / Then
    assert stack.invoke("EraseProfileFunction", event("http_delete_profile.json"))["statusCode"] == 404
    assert stack.invoke("EraseProfileFunction", event("http_get_erasure.json"))["statusCode"] == 404
    assert stack.invoke("ExportProfileFunction", event("http_export_profile.json"))["statusCode"] == 404
    posted = stack.invoke("ManageConsentFunction", event("http_post_consent.json"))
    assert (posted["statusCode"], json.loads(posted["body"])["applied"]) == (200, True)
    with pytest.raises(FunctionError, match="no erasure"):
        stack.invoke("ErasePersonalDataFunction", event("eventbridge_erasure_requested.json"))
