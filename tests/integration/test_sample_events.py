"""Every sample event in events/ (the ones `sam local invoke -e` uses) is accepted by the handler it is for."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from cdp.adapters.file_ledger import FileLedger
from cdp.adapters.privacy_store import PrivacyStore
from cdp.ingest.pipeline import DroppedFile, large_file_owner
from cdp.messaging.unsubscribe import UnsubscribeToken
from cdp.predict.summary import Transactions, summarise
from cdp_local.stack import LOCAL_UNSUBSCRIBE_KEYS, FunctionError, LocalStack
from cdp_local.template import REPO_ROOT, load_template, resources_of_type
from test_campaigns import write_snapshot

EVENTS = REPO_ROOT / "events"
CDNOW = Path("/work/shared/data/cdnow/cdnow_sample_transactions.csv")


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


def test_the_signup_event_goes_through_the_journey_router(stack: LocalStack) -> None:
    # When: the sample event is what EventBridge hands the router
    routed = stack.invoke("RouteJourneyEventsFunction", _event("eventbridge_customer_signed_up.json"))
    # Then: the welcome journey is the one it enters; the sample's profile does not exist, so it is refused so
    assert routed == {"routed": [{"journey": "welcome", "outcome": "refused:profile_not_found", "execution_name": None}]}


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


def test_the_email_feedback_event_suppresses_the_bounced_recipient(stack: LocalStack) -> None:
    # Given: the documented SES Bounce record, as SNS delivers it to the feedback queue
    from cdp.adapters.suppression_store import SuppressionStore
    from cdp.messaging.suppression import Suppressions

    # When
    result = stack.invoke("HandleEmailFeedbackFunction", _event("sqs_email_feedback.json"))
    # Then: applied (no send record of ours: untracked), and the address suppressed
    suppressions = Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), "local-erasure-salt", "GB")
    assert result == {"batchItemFailures": []}
    assert suppressions.reason("p-1", "email", "recipient@example.com") == "hard_bounce"


def test_the_sms_delivery_status_event_suppresses_the_invalid_number(stack: LocalStack) -> None:
    # Given: the documented failure log (events/sns_sms_delivery_failure.json), as the Failure group's subscription
    # filter delivers it
    from cdp.adapters.suppression_store import SuppressionStore
    from cdp.messaging.suppression import Suppressions

    event = _event("cloudwatch_logs_sms_delivery_status.json")
    carried = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))["logEvents"][0]["message"]
    assert json.loads(carried) == _event("sns_sms_delivery_failure.json")
    # When
    result = stack.invoke("HandleSmsDeliveryStatusFunction", event)
    # Then: no send record of ours (untracked), and the number suppressed
    suppressions = Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), "local-erasure-salt", "GB")
    assert result == {"applied": 0, "skipped": 0}
    assert suppressions.reason("p-1", "sms", "+447700900123") == "hard_bounce"


def test_every_function_in_the_template_has_a_sample_event_and_every_sample_names_one() -> None:
    # Given: events/index.json maps each Lambda event file to the function it is for (see docs/deploy.md)
    index = json.loads((EVENTS / "index.json").read_text())
    functions = set(resources_of_type(load_template(), "AWS::Serverless::Function"))
    files = {path.name for path in EVENTS.glob("*.json")} - {"index.json"}
    # Then: no function without a sample, no sample for an unknown function, no unlisted file
    assert functions - set(index["functions"].values()) == set()
    assert set(index["functions"].values()) - functions == set()
    assert files == set(index["functions"]) | set(index["payloads"])


def test_the_deploy_guide_lists_every_sample_event_with_its_function() -> None:
    # Given
    index = json.loads((EVENTS / "index.json").read_text())["functions"]
    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    table = guide.split("## Invoking one function with `sam local invoke`", 1)[1].split("\n\n")[1]
    listed = {
        (event, cells[1].strip("` "))
        for row in table.splitlines()[2:]
        if len(cells := row.strip().strip("|").split("|")) == 2
        for event in re.findall(r"`([^`]+\.json)`", cells[0])
    }
    # Then
    assert listed == set(index.items())


def _scheduled(stack: LocalStack, name: str) -> Any:
    event = _event(name)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    return stack.invoke(json.loads((EVENTS / "index.json").read_text())["functions"][name], event)


def test_the_scheduled_events_run_their_sweeps_on_an_empty_stack(stack: LocalStack) -> None:
    # When / Then: each scheduled function runs as EventBridge calls it and finds nothing to do
    assert _scheduled(stack, "scheduled_send_deferred_messages.json") == {}
    assert _scheduled(stack, "scheduled_sweep_segment_timers.json")["timers"] == 0
    opted_out = stack.client("sns").list_phone_numbers_opted_out()["phoneNumbers"]  # moto lists a few by itself
    assert _scheduled(stack, "scheduled_sync_sms_opt_outs.json")["new"] == len(opted_out)
    assert _scheduled(stack, "scheduled_review_loyalty.json")["members"] == 0
    assert _scheduled(stack, "scheduled_compute_recommendations.json")["customers"] == 0
    assert _scheduled(stack, "scheduled_measure_marketing.json")["html"] == "reports/marketing/latest.html"
    assert _scheduled(stack, "scheduled_compute_segments.json")["profiles"] == 0


def test_the_large_file_steps_plan_ingest_and_finish_the_file_they_name(stack: LocalStack) -> None:
    # Given: the file the Step Functions payloads name, in this stack's raw bucket, as the file function leaves a
    # large one for the state machine: claimed for the execution (its notification to the file function held back)
    plan_event = _event("stepfunctions_plan_file_ranges.json")
    file = plan_event["file"]
    assert file["bucket"] == stack.physical_id("RawBucket")
    body = b"customer_id,email,first_name\nC1,a@example.com,A\nC2,b@example.com,B\n"
    with mock.patch.object(stack, "invoke_async"):
        put = stack.client("s3").put_object(Bucket=file["bucket"], Key=file["key"], Body=body)
    file.update(version_id=put["VersionId"], etag=put["ETag"].strip('"'))
    range_event, finish_event = _event("stepfunctions_ingest_file_range.json"), _event("stepfunctions_finish_large_file.json")
    range_event["file"] = finish_event["file"] = file
    dropped = DroppedFile(**file)
    FileLedger(stack.physical_id("LedgerTable")).claim(file["bucket"], file["key"], dropped.version,
                                                       large_file_owner(dropped), datetime.now(UTC), timedelta(hours=1))  # fmt: skip
    # When
    plan = stack.invoke("PlanFileRangesFunction", plan_event)
    range_event["range"] = finish_event["plan"]["ranges"][0] = plan["ranges"][0]
    ingested = stack.invoke("IngestFileRangeFunction", range_event)
    finished = stack.invoke("FinishLargeFileFunction", finish_event)
    # Then
    assert len(plan["ranges"]) == 1
    assert ingested == {"range": 0, "rows_in": 2, "file_error": None}
    assert (finished["rows_in"], finished["rows_accepted"], finished["rows_quarantined"]) == (2, 2, 0)


def test_the_prediction_fit_event_fits_the_histories_it_names(stack: LocalStack) -> None:
    # Given: CDNOW purchase histories where the segment run leaves them (the sample names a placeholder bucket)
    event = _event("invoke_fit_predictions.json")
    event["bucket"] = stack.physical_id("CuratedBucket")
    transactions = Transactions.from_table(pacsv.read_csv(CDNOW))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **summarise(transactions, date(1997, 9, 30)).arrays())
    stack.client("s3").put_object(Bucket=event["bucket"], Key=event["histories_key"], Body=buffer.getvalue())
    # When
    answer = stack.invoke("FitPredictionsFunction", event)
    # Then: every customer predicted, the predictions beside the histories
    assert answer["customers"] == 2357
    stack.client("s3").head_object(Bucket=event["bucket"], Key=event["predictions_key"])


def test_the_models_are_fitted_once_a_day_and_the_days_later_runs_predict_with_them(stack: LocalStack) -> None:
    # Given: CDNOW purchase histories as of one day, those of a later day, and a run's keys for each
    bucket = stack.physical_id("CuratedBucket")
    transactions = Transactions.from_table(pacsv.read_csv(CDNOW))

    def fit(run: str, calibration_end: date, customers: int | None = None) -> dict[str, Any]:
        histories = summarise(transactions, calibration_end)
        arrays = {name: values[:customers] if values.ndim else values for name, values in histories.arrays().items()}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        keys = {"histories_key": f"segment_work/predictions/{run}/histories.npz",
                "predictions_key": f"segment_work/predictions/{run}/predictions.npz"}  # fmt: skip
        stack.client("s3").put_object(Bucket=bucket, Key=keys["histories_key"], Body=buffer.getvalue())
        return stack.invoke("FitPredictionsFunction", {"bucket": bucket, **keys})  # type: ignore[no-any-return]

    # When the day's first run fits, a later run of the same day sees fewer customers, and the next day's run comes
    first = fit("first", date(1997, 9, 30))
    later = fit("later", date(1997, 9, 30), customers=1000)
    next_day = fit("next-day", date(1997, 10, 1))
    # Then the later run predicts its 1,000 customers with the first run's models, and the next day fits anew
    assert (first["fitted"], later["fitted"], next_day["fitted"]) == (True, False, True)
    assert later["customers"] == 1000 and later["parameters"] == first["parameters"]
    assert next_day["parameters"] != first["parameters"]


def test_the_coupon_step_refuses_a_profile_that_does_not_exist(stack: LocalStack) -> None:
    # When
    answer = stack.invoke("IssueCouponFunction", _event("journey_issue_coupon.json"))
    # Then
    assert (answer["status"], answer["reason"], answer["code"]) == ("refused", "profile_not_found", None)


def test_the_segment_definition_and_audience_events(stack: LocalStack) -> None:
    # When
    stored = stack.invoke("ManageSegmentsFunction", _event("http_post_segment.json"))
    audience = stack.invoke("ExportAudienceFunction", _event("http_get_audience.json"))
    # Then: the definition is kept; no segment run has left a snapshot yet
    assert (stored["statusCode"], json.loads(stored["body"])) == (201, {"name": "gb_buyers"})
    assert audience["statusCode"] == 404


def test_the_report_event_answers_404_before_the_first_report(stack: LocalStack) -> None:
    # When
    before = stack.invoke("GetReportFunction", _event("http_get_report.json"))
    _scheduled(stack, "scheduled_measure_marketing.json")
    after = stack.invoke("GetReportFunction", _event("http_get_report.json"))
    # Then
    assert before["statusCode"] == 404
    assert after["statusCode"] == 200 and "attributed_orders" in json.loads(after["body"])


def test_the_campaign_events_create_start_and_send(stack: LocalStack) -> None:
    # Given: a segment snapshot with one member at risk, and the campaign the schedule and the queued send name
    write_snapshot(stack, {"rfm:At Risk": ["0f8fad5bd9cb469fa16570867728950e"], "rfm:About To Sleep": [],
                           "rfm:Hibernating": []})  # fmt: skip
    created = stack.invoke("ManageCampaignsFunction", _event("http_post_campaign.json"))
    assert created["statusCode"] == 201, created["body"]
    # When
    run = stack.invoke("StartCampaignRunFunction", _event("scheduler_start_campaign_run.json"))
    sent = stack.invoke("SendCampaignMessagesFunction", _event("sqs_campaign_send.json"))
    # Then: the member is the audience; the queued message's profile does not exist, so it is skipped, not failed
    assert (run["campaign"], run["audience"], run["status"]) == ("winback", 1, "enqueued")
    assert sent == {"batchItemFailures": []}


def test_the_one_click_unsubscribe_event_withdraws_consent(stack: LocalStack) -> None:
    # Given: the sample's token placeholder replaced by a token signed with this stack's key
    event = _event("http_post_unsubscribe.json")
    profile_id = "0f8fad5bd9cb469fa16570867728950e"
    key = base64.b64decode(json.loads(LOCAL_UNSUBSCRIBE_KEYS)[0])
    token = UnsubscribeToken(profile_id, "email", "marketing", datetime.now(UTC) + timedelta(days=30)).signed(key)
    event["rawQueryString"] = f"token={token}"
    event["queryStringParameters"] = {"token": token}
    stack.client("dynamodb").put_item(TableName=stack.physical_id("ProfilesTable"), Item={
        "pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": "PROFILE"}, "profile_id": {"S": profile_id}})  # fmt: skip
    # When
    response = stack.invoke("UnsubscribeFunction", event)
    # Then
    assert response["statusCode"] == 200
    assert "no more marketing email" in response["body"]


def test_the_shard_step_events_name_a_run_and_a_run_not_planned_is_named_missing(stack: LocalStack) -> None:
    # Given: the samples of the sharded segment run's steps, on a stack where no run was planned
    for name, function in (("stepfunctions_segment_shard_histories.json", "RunSegmentShardFunction"),
                           ("stepfunctions_finish_segment_run.json", "FinishSegmentRunFunction")):  # fmt: skip
        # When the step runs
        with pytest.raises(FunctionError) as failed:
            stack.invoke(function, _event(name))
        # Then it read the sample's run and says which of the run's inputs is missing
        assert "segment_work/runs/20261203T100000Z-7f3a/population.json" in str(failed.value.payload), name
