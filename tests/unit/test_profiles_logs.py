"""Personal data never reaches the logs: an ingest, a GET and explicit log lines, all captured from stdout."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

from cdp.adapters.profile_store import ProfileStore
from cdp.observability import ERASED, erase_personal_data, logger
from cdp.profiles.apply import apply_records

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EMAIL, PHONE = "ada.lovelace@example.com", "+447700900123"


def _get_profile_handler():
    spec = importlib.util.spec_from_file_location("get_profile_app", "functions/get_profile/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def test_ingest_and_get_write_no_email_or_phone() -> None:
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
        context = SimpleNamespace(
            function_name="get-profile",
            memory_limit_in_mb=128,
            aws_request_id="r",
            invoked_function_arn="arn:aws:lambda:eu-west-1:1:function:get-profile",
        )
        answer = _get_profile_handler()(event, context)
        logger.info(f"applied {EMAIL}", extra={"row": customer, "email": EMAIL})
        logger.warning("phone %s conflicts", PHONE)
        logger.setLevel(logging.INFO)
        logger.registered_handler.setStream(previous)
    # Then the logs hold neither the email nor the phone, yet the answer does (it is the owner's data)
    logs = output.getvalue()
    assert answer["statusCode"] == 200 and "Ada" in answer["body"]
    assert "applied" in logs and ERASED in logs
    assert EMAIL not in logs and PHONE not in logs and "Ada" not in logs


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
