"""Every sample event in events/ (the ones `sam local invoke -e` uses) is accepted by the handler it is for."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cdp.adapters.privacy_store import PrivacyStore
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT

EVENTS = REPO_ROOT / "events"


def _event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_the_s3_event_ingests_the_object_it_names(stack: LocalStack) -> None:
    # Given: the object the sample event names exists (its bucket is the local stack's raw bucket)
    event = _event("s3_object_created.json")
    bucket = event["Records"][0]["s3"]["bucket"]["name"]
    assert bucket == stack.physical_id("RawBucket")
    body = b"customer_id,email,phone,first_name,last_name,country,city,signup_at,email_consent,sms_consent\nC1,a@example.com,,A,B,GB,X,,true,false\n"
    stack.client("s3").put_object(Bucket=bucket, Key=event["Records"][0]["s3"]["object"]["key"], Body=body)
    # When
    result = stack.invoke("IngestFileFunction", event)
    # Then
    assert result["files"][0]["rows_in"] == 1


def test_the_tracking_event_and_its_authorizer_event(stack: LocalStack) -> None:
    # Given: the write key in the authorizer sample ("WRITE_KEY") belongs to a source
    from cdp.adapters.sources import create_source

    create_source(stack.physical_id("ProfilesTable"), "web", write_key="WRITE_KEY")
    # When
    decision = stack.invoke("AuthorizeWriteKeyFunction", _event("http_authorize_write_key.json"))
    response = stack.invoke("TrackEventsFunction", _event("http_post_batch.json"))
    # Then
    assert decision == {"isAuthorized": True, "context": {"source_id": "web"}}
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["accepted"] == 2


def test_the_profile_read_answers_404_for_an_unknown_profile(stack: LocalStack) -> None:
    # When
    response = stack.invoke("GetProfileFunction", _event("http_get_profile.json"))
    # Then
    assert response["statusCode"] == 404


def test_the_send_message_event(stack: LocalStack) -> None:
    # When / Then: the sample profile does not exist, so the step says so (and sends nothing)
    assert stack.invoke("SendMessageFunction", _event("send_message.json")) == {
        "status": "skipped", "reason": "profile_not_found", "message_id": None, "defer_until": None, "wait_seconds": 0,
    }  # fmt: skip


def test_the_signup_event_runs_the_welcome_state_machine(stack: LocalStack) -> None:
    # When: the sample event is the input EventBridge hands the state machine
    sfn = stack.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=stack.state_machine_arn("WelcomeJourneyStateMachine"),
                                    name=str(uuid.uuid4()), input=Path(EVENTS / "eventbridge_customer_signed_up.json").read_text())
    stack.wait_for_executions(timeout=30)
    # Then
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "SUCCEEDED"


def test_the_queued_batch_event_applies_the_curated_rows_it_names(stack: LocalStack) -> None:
    # Given: the sample's curated object exists in this stack's curated bucket (the sample names a placeholder)
    event = _event("sqs_profile_batch.json")
    body = json.loads(event["Records"][0]["body"])
    body["curated_bucket"] = stack.physical_id("CuratedBucket")
    event["Records"][0]["body"] = json.dumps(body)
    rows = pa.table({"order_id": ["O1"], "line_id": ["1"], "customer_id": ["C1"], "email": ["a@example.com"],
                     "ordered_at": pa.array([datetime(2026, 11, 22, 9, tzinfo=UTC)]), "currency": ["GBP"],
                     "sku": ["S1"], "quantity": [1], "unit_price": [10.0], "status": ["completed"],
                     "source_key": ["orders/orders.csv"], "source_version": ["v"], "source_line": [2]})
    buffer = io.BytesIO()
    pq.write_table(rows, buffer)
    stack.client("s3").put_object(Bucket=body["curated_bucket"], Key=f"orders/dt=2026-11-22/{body['file_id']}-000000.parquet",
                                  Body=buffer.getvalue())
    # When
    response = stack.invoke("ApplyProfileBatchFunction", event)
    # Then: no failure; C1 has a profile with the order
    assert response == {"batchItemFailures": []}
    identity = stack.client("dynamodb").get_item(
        TableName=stack.physical_id("ProfilesTable"), Key={"pk": {"S": "IDENTITY#customer_id#C1"}, "sk": {"S": "IDENTITY"}}
    ).get("Item")
    profile = PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable")).profile_consistently(
        identity["profile_id"]["S"]
    )
    assert (profile or {}).get("orders_count") == 1
