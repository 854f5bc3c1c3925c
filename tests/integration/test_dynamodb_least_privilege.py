"""The tracking and admin functions (and SMS delivery status) hold only the DynamoDB actions and partition-key prefixes they use: their code
paths, walked end to end through the local stack, make no request their own role denies, and a request outside
their prefixes is denied. moto does not check a Lambda role, so `cdp_local.dynamodb_access` records each function's
DynamoDB requests and evaluates them against the role the template gives it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from cdp_local.dynamodb_access import UNNARROWED_ACTIONS, AccessRequest, CallRecorder, StackPolicies
from cdp_local.runner import http_api
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT, load_template
from privacy_flow import ANN_EMAIL, TRACKING, call_api, post_tracking, signed
from test_campaigns import write_snapshot

# The functions whose DynamoDB rights are narrowed by `dynamodb:LeadingKeys`, and a request each must be refused
NARROWED = {
    "AuthorizeWriteKeyFunction": ("dynamodb:GetItem", "ProfilesTable", "PROFILE#p1"),
    "TrackEventsFunction": ("dynamodb:PutItem", "ProfilesTable", "SOURCE#forged"),
    "GetProfileFunction": ("dynamodb:GetItem", "ProfilesTable", "SOURCE#0123"),
    "SplitProfileFunction": ("dynamodb:PutItem", "ProfilesTable", "CAMPAIGN#winback"),
    "ManageConsentFunction": ("dynamodb:PutItem", "ProfilesTable", "SOURCE#forged"),
    "EraseProfileFunction": ("dynamodb:DeleteItem", "ProfilesTable", "CAMPAIGN#winback"),
    "ExportProfileFunction": ("dynamodb:GetItem", "ProfilesTable", "SOURCE#0123"),
    "ManageSegmentsFunction": ("dynamodb:GetItem", "ProfilesTable", "PROFILE#p1"),
    "ManageCampaignsFunction": ("dynamodb:PutItem", "ProfilesTable", "PROFILE#p1"),
    "ExportAudienceFunction": ("dynamodb:GetItem", "ProfilesTable", "SOURCE#0123"),
    "HandleSmsDeliveryStatusFunction": ("dynamodb:UpdateItem", "ProfilesTable", "SUPPRESSED#email#0123"),
}
# Functions whose code path reads a whole table (a Scan cannot be narrowed by key): a known remaining gap
SCANNING = {"EraseProfileFunction", "ExportProfileFunction"}
# The index each function queries by a partition key without a prefix (a profile id, a provider's message id)
INDEX_OF = {"HandleSmsDeliveryStatusFunction": {"Fn::Sub": "${ProfilesTable.Arn}/index/ByProviderMessage"}}
BY_PROFILE_INDEX = {"Fn::Sub": "${LedgerTable.Arn}/index/ByProfile"}
SEGMENT = {"segments": [{"name": "gb_buyers", "version": 1, "description": "Buyers in Great Britain",
                         "where": {"all": [{"field": "country", "op": "=", "value": "GB"}]}}]}  # fmt: skip


@pytest.fixture
def recorded(stack: LocalStack) -> Iterator[tuple[LocalStack, CallRecorder]]:
    with CallRecorder().recording() as recorder:
        yield stack, recorder


def _walk_the_tracking_and_admin_routes(stack: LocalStack) -> None:
    """Every narrowed function's routes, as a client calls them through the HTTP API."""
    post_tracking(stack, [*TRACKING, {"type": "identify", "messageId": "t4", "anonymousId": "a-1",
                                      "traits": {"email": "visitor@example.com"}},
                          {"type": "alias", "messageId": "t5", "userId": "C3", "previousId": "a-1"},
                          {"type": "track", "messageId": "t6", "userId": "C1", "event": "Order Completed",
                           "properties": {"order_id": "O9", "total": 12.5, "currency": "GBP"}}])  # fmt: skip
    status, found = call_api(stack, "GET", f"/v1/profiles/lookup?email={quote(ANN_EMAIL)}")
    assert status == 200, found
    profile_id = found["identity"]["profile_id"]
    assert call_api(stack, "POST", "/v1/profiles/lookup", {"email": ANN_EMAIL})[0] == 200
    assert call_api(stack, "GET", f"/v1/profiles/{profile_id}")[0] == 200
    consent = {"customer_id": "C1", "channel": "email", "purpose": "marketing", "granted": False,
               "recorded_at": datetime.now(UTC).isoformat(), "source": "preference_centre"}  # fmt: skip
    assert call_api(stack, "POST", "/v1/consents", consent)[0] == 200
    assert call_api(stack, "GET", f"/v1/profiles/{profile_id}/export")[0] == 200
    assert call_api(stack, "POST", f"/v1/profiles/{profile_id}/split", {"edge_id": "5a9c6b1e2f3d4c5b8a7e6d5c4b3a2910"})[0] == 404
    assert call_api(stack, "POST", "/v1/segments", SEGMENT)[0] == 201
    assert call_api(stack, "GET", "/v1/segments")[0] == 200
    assert call_api(stack, "GET", "/v1/segments/gb_buyers")[0] == 200
    assert call_api(stack, "DELETE", "/v1/segments/gb_buyers")[0] == 200
    write_snapshot(stack, {"rfm:At Risk": [profile_id], "rfm:About To Sleep": [], "rfm:Hibernating": [],
                           "lifecycle_dormant": [profile_id]})  # fmt: skip
    campaign = json.loads((REPO_ROOT / "campaigns" / "winback.json").read_text())
    assert call_api(stack, "POST", "/v1/campaigns", campaign)[0] == 201
    assert call_api(stack, "GET", "/v1/campaigns")[0] == 200
    assert call_api(stack, "GET", "/v1/campaigns/winback")[0] == 200
    for action in ("pause", "resume", "cancel"):
        assert call_api(stack, "POST", f"/v1/campaigns/winback/{action}")[0] == 200
    audience = "/v1/segments/lifecycle_dormant/audience?format=csv"
    assert http_api(stack).handle("GET", audience, signed("GET", audience), b"").status == 200
    assert stack.invoke("HandleSmsDeliveryStatusFunction", json.loads((REPO_ROOT / "events" / "cloudwatch_logs_sms_delivery_status.json").read_text()))
    status, erasure = call_api(stack, "DELETE", f"/v1/profiles/{profile_id}")
    assert status == 202, erasure
    assert call_api(stack, "GET", f"/v1/erasures/{erasure['erasure_id']}")[0] == 200


def test_the_narrowed_functions_work_end_to_end_under_their_own_roles(
    recorded: tuple[LocalStack, CallRecorder],
) -> None:
    # Given
    stack, recorder = recorded
    # When: their routes are walked through the stack, recording each DynamoDB request
    _walk_the_tracking_and_admin_routes(stack)
    # Then: each narrowed function made requests, and its role allows every one of them
    policies = StackPolicies.of(stack)
    requests = policies.requests(recorder)
    assert set(NARROWED) - set(requests) == set()
    denied = {function: policies.denied(function, requests[function]) for function in NARROWED}
    assert {function: found for function, found in denied.items() if found} == {}


def test_a_request_outside_the_functions_key_prefixes_is_denied(stack: LocalStack) -> None:
    # Given
    policies = StackPolicies.of(stack)
    # Then: the out-of-prefix request each function must never make is refused by its role
    for function, (action, table, leading_key) in NARROWED.items():
        request = AccessRequest(action, stack.physical_id(table), None, (leading_key,))
        assert policies.denied(function, [request]) == [request], function


def test_every_narrowed_dynamodb_statement_names_its_key_prefixes() -> None:
    # Given: the template's own statements (SAM's DynamoDB policy templates cannot carry a condition)
    resources = load_template()["Resources"]
    # Then: item actions carry a LeadingKeys condition (which never grants a Scan: a Scan has no leading key, and a
    # ForAllValues condition holds for a request without one); index queries and the documented Scans stand alone
    for function in NARROWED:
        policies = resources[function]["Properties"]["Policies"]
        assert not [p for p in policies if isinstance(p, dict) and next(iter(p)).startswith("DynamoDB")], function
        for statement in [s for p in policies if "Statement" in p for s in p["Statement"]]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if not any(action.startswith("dynamodb:") for action in actions):
                continue
            if "Condition" in statement:
                assert not set(actions) & UNNARROWED_ACTIONS, function
                assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"], function
            elif actions == ["dynamodb:Scan"]:
                assert function in SCANNING, function
            else:
                assert (actions, statement["Resource"]) == (["dynamodb:Query"], INDEX_OF.get(function, BY_PROFILE_INDEX)), function
