"""Personal data never reaches the logs nor the traces: an ingest, a GET and explicit log lines captured from stdout,
and every metadata and annotation the tracer records captured from its provider."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from cdp.adapters.profile_store import ProfileStore
from cdp.observability import ERASED, erase_personal_data, logger, observed_handler, tracer
from cdp.records.apply import apply_records

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EMAIL, PHONE = "ada.lovelace@example.com", "+447700900123"


class RecordingProvider:
    """A tracing provider that keeps, instead of sending to X-Ray, every metadata and annotation put on a segment."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, Any]] = []

    @contextmanager
    def in_subsegment(self, name: str, **_: Any) -> Any:
        yield self

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.recorded.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.recorded.append((key, value))


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> RecordingProvider:
    provider = RecordingProvider()
    monkeypatch.setattr(tracer, "provider", provider)
    return provider


def _context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="get-profile",
        memory_limit_in_mb=128,
        aws_request_id="r",
        invoked_function_arn="arn:aws:lambda:eu-west-1:1:function:get-profile",
    )


def _get_profile_handler():
    spec = importlib.util.spec_from_file_location("get_profile_app", "functions/get_profile/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def test_ingest_and_get_write_no_email_or_phone_to_logs_or_traces(traces: RecordingProvider) -> None:
    # Given a customer record and an order carrying an email and a phone, at debug level
    customer = {"customer_id": "C1", "email": EMAIL, "phone": PHONE, "first_name": "Ada", "signup_at": NOW}
    order = {
        "order_id": "O1",
        "line_id": "1",
        "customer_id": "C1",
        "email": EMAIL,
        "ordered_at": NOW,
        "currency": "EUR",
        "quantity": 1,
        "line_amount": 5,
        "status": "completed",
    }
    environment = {
        "PROFILES_TABLE": PROFILES,
        "LEDGER_TABLE": LEDGER,
        "EVENT_BUS_NAME": "bus",
        "JOURNEY_TRIGGER_HORIZON_DAYS": "30",
        "DEFAULT_PHONE_REGION": "GB",
        "ERASURE_SALT_PARAMETER": "/cdp/erasure-salt",
    }
    with identity_tables(), mock.patch.dict(os.environ, environment):
        logger.setLevel(logging.DEBUG)
        output = io.StringIO()
        previous = logger.registered_handler.setStream(output)
        store = ProfileStore(PROFILES, LEDGER)
        # When they are ingested, the profile is read through GET, and code logs the data carelessly
        apply_records(store, "customers", [customer], "test", NOW, timedelta(days=30))
        outcome = apply_records(store, "orders", [order], "test", NOW, timedelta(days=30))
        profile_id = outcome.events[0].detail["profile_id"] if outcome.events else None
        profile_id = profile_id or store.profiles.scan()["Items"][0]["profile_id"]
        event = {
            "version": "2.0",
            "routeKey": "GET /v1/profiles/{id}",
            "rawPath": f"/v1/profiles/{profile_id}",
            "rawQueryString": "",
            "headers": {},
            "pathParameters": {"id": profile_id},
            "requestContext": {
                "http": {"method": "GET", "path": f"/v1/profiles/{profile_id}"},
                "requestId": "r",
                "stage": "$default",
            },
            "isBase64Encoded": False,
        }
        answer = _get_profile_handler()(event, _context())
        logger.info(f"applied {EMAIL}", extra={"row": customer, "email": EMAIL})
        logger.warning("phone %s conflicts", PHONE)
        logger.setLevel(logging.INFO)
        logger.registered_handler.setStream(previous)
    # Then the logs hold neither the email nor the phone, yet the answer does (it is the owner's data)
    logs = output.getvalue()
    assert answer["statusCode"] == 200 and "Ada" in answer["body"]
    assert "applied" in logs and ERASED in logs
    assert EMAIL not in logs and PHONE not in logs and "Ada" not in logs
    # And the tracer recorded the handler's run (its annotations) but not its answer
    traced = json.dumps(traces.recorded, default=str)
    assert traces.recorded and "ColdStart" in traced
    assert EMAIL not in traced and PHONE not in traced and "Ada" not in traced


def test_a_handler_failing_with_personal_data_in_its_error_leaves_none_in_the_traces(traces: RecordingProvider) -> None:
    # Given a handler whose answer and whose error both carry personal data
    @observed_handler
    def answers(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"email": EMAIL}

    @observed_handler
    def fails(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ValueError(f"cannot use {PHONE}")

    # When both run
    answers({}, _context())
    with pytest.raises(ValueError):
        fails({}, _context())
    # Then nothing personal was traced
    traced = json.dumps(traces.recorded, default=str)
    assert EMAIL not in traced and PHONE not in traced


def test_erasure_keeps_what_is_not_personal() -> None:
    # Given a record mixing personal and operational data
    record = {
        "profile_id": "p1",
        "at": "2026-11-23T08:00:00+00:00",
        "Email": "A@B.io",
        "notes": ["call +33 6 12 34 56 78"],
    }
    # When it is erased
    erased = erase_personal_data(record)
    # Then only the personal parts are gone
    assert erased == {
        "profile_id": "p1",
        "at": "2026-11-23T08:00:00+00:00",
        "Email": ERASED,
        "notes": [f"call {ERASED}"],
    }
    assert json.dumps(erased)
