"""The push channel's address: an SNS platform endpoint ARN given as an identify trait or a customers-file column,
validated at the front door, used by the sending service, exported with the person and erased with them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from cdp.adapters.privacy_store import PrivacyStore
from cdp.privacy.erasure import erase_profile
from cdp.privacy.export import export_profile
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import ACCOUNT_ID, LOCAL_ERASURE_SALT, LocalStack
from moto.sns.models import sns_backends

AFTERNOON = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def _endpoint(stack: LocalStack, token: str) -> str:
    """What the shop's app does when it registers for push: an SNS platform endpoint for its device token."""
    sns = stack.client("sns")
    app = sns.create_platform_application(Name="shop-app", Platform="GCM", Attributes={"PlatformCredential": "key"})
    return str(
        sns.create_platform_endpoint(PlatformApplicationArn=app["PlatformApplicationArn"], Token=token)["EndpointArn"]
    )


def _identify(stack: LocalStack, user_id: str, **traits: Any) -> Any:
    api, write_key = http_api(stack), create_local_source(stack)
    headers = {"content-type": "application/json", "host": "localhost",
               "authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}  # fmt: skip
    body = {"userId": user_id, "messageId": f"identify-{user_id}", "traits": traits}
    return api.handle("POST", "/v1/identify", headers, json.dumps(body).encode())


def _privacy(stack: LocalStack) -> PrivacyStore:
    return PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))


def _profile(stack: LocalStack, customer_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"IDENTITY#customer_id#{customer_id}"}, "sk": {"S": "IDENTITY"}}
    owner = stack.client("dynamodb").get_item(TableName=stack.physical_id("ProfilesTable"), Key=key)["Item"]
    item = _privacy(stack).profile_consistently(owner["profile_id"]["S"], follow_redirects=True)
    assert item is not None
    return item


def test_a_person_identified_with_their_app_endpoint_gets_a_push(stack: LocalStack) -> None:
    # Given Gil's app registered with SNS and identified him with the endpoint; he agreed to marketing push
    endpoint = _endpoint(stack, "device-token-of-gil")
    answer = _identify(stack, "gil", email="gil@example.com", pushEndpoint=endpoint)
    profile = _profile(stack, "gil")
    _privacy(stack).profiles.update_item(
        Key={"pk": f"PROFILE#{profile['profile_id']}", "sk": "PROFILE"},
        UpdateExpression="SET consent = :consent",
        ExpressionAttributeValues={":consent": {"push:marketing": {"granted": True}}},
    )
    stack.clock_offset = AFTERNOON - datetime.now(UTC)
    # When a campaign's message reaches the sending service
    outcome = stack.invoke("SendMessageFunction", {
        "profile_id": profile["profile_id"], "origin": "campaign", "origin_name": "cart_push", "step": "send",
        "occurrence": "run-1", "channel": "push", "template": "cart_reminder_push", "context": {"cart_items": ["Tea"]},
    })  # fmt: skip
    # Then the endpoint is on his profile and the push went to it
    assert answer.status == 200 and profile["push_endpoint"] == endpoint
    assert outcome["status"] == "sent"
    [body] = sns_backends[ACCOUNT_ID][stack.region].platform_endpoints[endpoint].messages.values()
    assert json.loads(json.loads(body)["GCM"])["notification"]["body"] == "Tea are still in your cart."
    # And his export holds it, and his erasure removes it (the endpoint itself is the app's: SNS keeps it)
    exported = export_profile(_privacy(stack), profile["profile_id"])
    assert exported is not None and exported["profile"]["identity"]["push_endpoint"] == endpoint
    assert [record["push_endpoint"] for record in exported["records"]["customers"]] == [endpoint]
    erase_profile(_privacy(stack), profile["profile_id"], LOCAL_ERASURE_SALT, datetime.now(UTC))
    assert _privacy(stack).profile_consistently(profile["profile_id"]) is None
    assert export_profile(_privacy(stack), profile["profile_id"]) is None


def test_a_value_that_is_no_endpoint_arn_is_refused_with_a_400(stack: LocalStack) -> None:
    # Given / When an identify carries a raw device token, a topic ARN or an oversized value as the endpoint
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:shop-news"
    answers = [_identify(stack, "hal", pushEndpoint=value) for value in ("fcm-device-token", topic, "arn:" + "x" * 600)]
    # Then each is refused naming the trait, and no profile was made
    assert [answer.status for answer in answers] == [400, 400, 400]
    for answer in answers:
        assert [field["field"] for field in json.loads(answer.body)["fields"]] == ["traits.pushEndpoint"]
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("ProfilesTable"))["Items"]
    assert not [item for item in items if item["pk"]["S"] == "IDENTITY#customer_id#hal"]


def test_a_customers_file_gives_the_endpoint_and_quarantines_a_bad_one(stack: LocalStack) -> None:
    # Given a customers export with one good endpoint and one that is a device token
    endpoint = _endpoint(stack, "device-token-of-ivy")
    csv = f"customer_id,email,push_endpoint\nivy,ivy@example.com,{endpoint}\njon,jon@example.com,fcm-device-token\n"
    # When it is dropped
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="customers/app.csv", Body=csv.encode())
    stack.deliver_queued_messages()  # the queued profile batches, as the SQS event source would
    # Then Ivy's profile has it, and Jon's row is quarantined with the reason
    assert _profile(stack, "ivy")["push_endpoint"] == endpoint
    s3, quarantine = stack.client("s3"), stack.physical_id("QuarantineBucket")
    rows = [json.loads(line) for listed in s3.list_objects_v2(Bucket=quarantine, Prefix="rows/").get("Contents", [])
            for line in s3.get_object(Bucket=quarantine, Key=listed["Key"])["Body"].read().splitlines()]  # fmt: skip
    assert [(row["reason"], row["row"]["customer_id"]) for row in rows] == [("invalid_push_endpoint", "jon")]
