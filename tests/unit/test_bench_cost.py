"""The cost model's arithmetic: a month's units priced per service, and the peers' published tiers."""

from __future__ import annotations

import pytest
from cdp_local.bench_cost import (
    ACTIVITY,
    PRICES,
    customer_io_overage_usd,
    monthly_bill,
    monthly_units,
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
