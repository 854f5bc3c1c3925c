"""The cost model: how a request and an invocation are counted and billed, a month's units priced per service, and
the peers' published tiers."""

from __future__ import annotations

import time

import pytest
from cdp_local.bench_cost import (
    ACTIVITY,
    AWS_WAIT_SECONDS,
    LAMBDA_PLATFORM_LOG_BYTES,
    PRICES,
    SENDING_FUNCTION,
    LogVolume,
    Meter,
    customer_io_overage_usd,
    monthly_bill,
    monthly_units,
    request_units,
    segment_team_monthly_usd,
)

UNITS = ("customer", "order_line", "tracking_event", "message", "segment_run", "measurement_run")


@pytest.mark.parametrize(("customers", "usd"), [(1_000, 120.0), (10_000, 120.0), (25_000, 300.0),
                                                (100_000, 1_125.0), (1_000_000, 10_125.0)])  # fmt: skip
def test_segment_team_plan_tiers(customers: int, usd: float) -> None:
    # $120 with 10k MTU, then 15k x 0.012 = 180, 75k x 0.011 = 825, 900k x 0.010 = 9,000
    assert segment_team_monthly_usd(customers) == usd


def test_customer_io_overage_beyond_the_plan() -> None:
    assert customer_io_overage_usd(5_000, 1_000_000) == 0
    assert customer_io_overage_usd(105_000, 2_000_000) == pytest.approx(100_000 * 0.009 + 1_000 * 0.12)


def test_a_month_is_the_measured_units_times_the_activity_times_the_prices() -> None:
    # Given one DynamoDB write per tracking event and nothing else measured
    per_unit = {unit: {} for unit in UNITS} | {"tracking_event": {"dynamodb_wru": 1.0}}
    # When a month of 1,000 customers is priced
    month = monthly_units(per_unit, 1_000)
    bill = monthly_bill(month, 1_000)
    # Then DynamoDB is the events' writes plus storage, SES the emails, the HTTP API one request per event
    events = 1_000 * ACTIVITY["tracking_events_per_customer_month"]
    storage_gb = 1_000 * ACTIVITY["stored_kb_per_customer"] / 1e6 / 2
    assert bill["dynamodb"] == round(events * PRICES["dynamodb_write_request_unit"].usd
                                     + storage_gb * PRICES["dynamodb_storage_gb_month"].usd, 2)  # fmt: skip
    assert bill["ses"] == round(1_000 * ACTIVITY["emails_per_customer_month"] * PRICES["ses_email"].usd, 2)
    assert bill["api_gateway"] == round(events * PRICES["http_api_request"].usd, 2)
    assert all(price.source and price.read_on for price in PRICES.values())


def _burn_cpu(seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


def test_a_lambda_is_billed_its_own_cpu_time_plus_a_wait_per_request_rounded_up_to_the_millisecond() -> None:
    # Given a function that computes 20 ms, makes one DynamoDB write that moto takes 50 ms of CPU to answer, and
    # logs one line of 100 bytes
    output = LogVolume()
    meter = Meter({"IngestFileFunction": 2048}, output)
    # When it runs
    with meter.frame("IngestFileFunction"):
        _burn_cpu(0.020)
        meter.count_request("dynamodb", "PutItem", {})
        with meter.frame(None):  # moto answering the request: not the function's time
            _burn_cpu(0.050)
        output.write("x" * 99 + "\n")
    # Then it is billed 20 ms and some (its CPU) + 10 ms (the request's wait), at 2 GB, and nothing of moto's 50 ms
    usage = meter.usage["setup"]
    billed_ms = usage.functions["IngestFileFunction"]["billed_ms"]
    assert 20 + AWS_WAIT_SECONDS * 1000 <= billed_ms < 45
    assert billed_ms == int(billed_ms)
    assert usage.units["own"]["lambda_gb_seconds"] == pytest.approx(billed_ms / 1000 * 2)
    assert usage.units["own"]["dynamodb_wru"] == 1
    assert usage.units["own"]["log_bytes"] == 100 + 26 + LAMBDA_PLATFORM_LOG_BYTES


def test_what_the_sending_function_does_is_paid_per_message_and_counted_once() -> None:
    # Given a journey step that invokes the sending function, which sends an email and writes its record
    meter = Meter({"RouteJourneyEventsFunction": 512, SENDING_FUNCTION: 512}, LogVolume())
    meter.stage = "tracking_event"
    with meter.frame("RouteJourneyEventsFunction"):
        meter.count_request("stepfunctions", "StartExecution", {})
        with meter.frame(None), meter.frame(SENDING_FUNCTION):  # invoked through Lambda's API
            meter.count_request("sesv2", "SendEmail", {})
            meter.count_request("dynamodb", "TransactWriteItems", {"TransactItems": [{}, {}]})
    # Then the stage pays its own function and the start, the message pays the send: each once
    own, send = meter.usage["tracking_event"].units["own"], meter.usage["tracking_event"].units["send"]
    assert (own["lambda_requests"], own["step_functions_starts"], own.get("ses_email", 0)) == (1, 1, 0)
    assert (send["lambda_requests"], send["ses_email"], send["dynamodb_wru"]) == (1, 1, 4)


def test_delivery_stream_objects_are_priced_as_firehose_flushes_not_one_per_batch() -> None:
    # Given a function that puts one object itself and sends one batch to a delivery stream, whose local delivery
    # writes the batch's object while moto answers
    meter = Meter({"TrackEventsFunction": 512}, LogVolume())
    with meter.frame("TrackEventsFunction"):
        meter.count_request("s3", "PutObject", {})
        meter.count_request("firehose", "PutRecordBatch", {"Records": [{}, {}]})
        with meter.frame(None):
            meter.count_request("s3", "PutObject", {})
    # Then only the function's own object is counted per event
    assert meter.usage["setup"].units["own"]["s3_put"] == 1
    # and a month holds each stream's flushes, every buffering interval (four streams, 300 s), whatever the customers
    per_unit = {unit: {} for unit in UNITS}
    assert monthly_units(per_unit, 1_000)["s3_put"] == monthly_units(per_unit, 1_000_000)["s3_put"] == 4 * 8_640


@pytest.mark.parametrize(("service", "operation", "params", "units"), [
    ("dynamodb", "BatchWriteItem", {"RequestItems": {"t": [{}, {}, {}]}}, {"dynamodb_wru": 3}),
    ("dynamodb", "GetItem", {}, {"dynamodb_rru": 0.5}),
    ("dynamodb", "GetItem", {"ConsistentRead": True}, {"dynamodb_rru": 1}),
    ("sns", "Publish", {"PhoneNumber": "+15550100"}, {"sms": 1}),
    ("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t"}, {"sns_publish": 1}),
    ("firehose", "PutRecordBatch", {"Records": [{}, {}]}, {"firehose_records": 2}),
    ("lambda", "GetFunctionConfiguration", {}, {}),
])  # fmt: skip
def test_request_units(service: str, operation: str, params: dict[str, object], units: dict[str, float]) -> None:
    assert request_units(service, operation, params) == units
