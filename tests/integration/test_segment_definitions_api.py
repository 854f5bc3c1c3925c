"""/v1/segments on the local stack: IAM-signed create, list, show and delete of stored definitions, refusals that
name the place, and the scheduled run evaluating the stored definitions beside the library."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from cdp.keys import profile_key, segment_member_key
from cdp_local.runner import http_api
from cdp_local.stack import LocalStack
from privacy_flow import call_api

GB_BUYERS = {"segments": [{"name": "gb_buyers", "version": 1, "description": "Buyers in Great Britain",
                           "where": {"all": [{"field": "country", "op": "=", "value": "GB"},
                                             {"not": {"segment": "lifecycle_prospect"}}]}}]}  # fmt: skip


def _seed(stack: LocalStack, profile_id: str, country: str) -> None:
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
    now = datetime.now(UTC).isoformat()
    table.put_item(Item={**profile_key(profile_id), "profile_id": profile_id, "created_at": now, "country": country,
                         "orders_count": 1, "revenue": 20, "last_order_at": now, "signed_up_at": now})  # fmt: skip


def _member(stack: LocalStack, segment: str, profile_id: str) -> bool:
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
    return "Item" in table.get_item(Key=segment_member_key(segment, profile_id))


def test_a_stored_definition_is_validated_kept_evaluated_and_deleted(stack: LocalStack) -> None:
    # When: a definition building on a shipped segment is stored
    assert call_api(stack, "POST", "/v1/segments", GB_BUYERS) == (201, {"name": "gb_buyers"})
    # Then: it is listed and shown; storing it again conflicts
    status, listed = call_api(stack, "GET", "/v1/segments")
    assert status == 200 and [entry["name"] for entry in listed["definitions"]] == ["gb_buyers"]
    assert call_api(stack, "GET", "/v1/segments/gb_buyers") == (200, GB_BUYERS)
    assert call_api(stack, "POST", "/v1/segments", GB_BUYERS)[0] == 409

    # When: the schedule fires over a British and a French buyer
    _seed(stack, "uk", "GB")
    _seed(stack, "fr", "FR")
    stack.run_schedules()
    # Then: the stored segment is computed beside the library's
    assert stack.async_failures == []
    assert _member(stack, "gb_buyers", "uk") and not _member(stack, "gb_buyers", "fr")
    assert _member(stack, "one_time_buyers", "fr")

    # When / Then: deleted once, then not found
    assert call_api(stack, "DELETE", "/v1/segments/gb_buyers") == (200, {"deleted": "gb_buyers"})
    assert call_api(stack, "DELETE", "/v1/segments/gb_buyers")[0] == 404
    assert call_api(stack, "GET", "/v1/segments/gb_buyers")[0] == 404


def test_bad_definitions_are_refused_with_the_place_named(stack: LocalStack) -> None:
    cases: list[tuple[Any, int, str]] = [
        ({"segments": [{"name": "x", "version": 1, "where": {"field": "shoe_size", "op": ">", "value": 1}}]}, 400,
         "segments[0].where.field"),
        ({"segments": [{"name": "x", "version": 1, "where": {"event": {"name": "Order Completed",
                                                                       "within": {"days": -1}}}}]}, 400,
         "segments[0].where.event.within"),
        ({"segments": [{"name": "x", "version": 1, "where": {"segment": "x"}}]}, 400, "segments[0].where.segment"),
        ({"segments": [{"name": "high_value", "version": 1, "where": {"field": "revenue", "op": ">", "value": 1}}]},
         409, "segments[0].name"),
        ({"segments": []}, 400, "(document)"),
        ([1, 2], 400, "(document)"),
        (b"{not json", 400, "(document)"),
    ]  # fmt: skip
    for body, status, place in cases:
        answered, answer = call_api(stack, "POST", "/v1/segments", body)
        assert (answered, place) == (status, next((f["field"] for f in answer["fields"] if f["field"] == place), None))
    assert call_api(stack, "POST", "/v1/segments", b"{" + b" " * 70_000 + b"}")[0] == 413
    for method, path in (("GET", "/v1/segments"), ("POST", "/v1/segments"), ("DELETE", "/v1/segments/x")):
        assert http_api(stack).handle(method, path, {"host": "localhost"}, b"").status == 403
