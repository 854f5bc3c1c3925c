"""The local DynamoDB access evaluator: the IAM requests a call makes, and LeadingKeys conditions as IAM applies them."""

from __future__ import annotations

from cdp_local.dynamodb_access import AccessRequest, access_requests, allowed

KEYS = {("T", None): "pk", ("T", "ByProfile"): "profile_id"}
NARROWED = [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"],
             "Resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/T",
             "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PROFILE#*", "ERASED"]}}}]  # fmt: skip


def test_a_transaction_is_one_item_request_per_part_and_a_query_names_its_partition() -> None:
    # Given
    transaction = {"TransactItems": [
        {"Put": {"TableName": "T", "Item": {"pk": {"S": "PROFILE#1"}, "sk": {"S": "PROFILE"}}}},
        {"ConditionCheck": {"TableName": "T", "Key": {"pk": {"S": "IDENTITY#email#a"}, "sk": {"S": "IDENTITY"}}}},
    ]}  # fmt: skip
    query = {"TableName": "T", "IndexName": "ByProfile", "KeyConditionExpression": "#p = :p AND begins_with(pk, :r)",
             "ExpressionAttributeNames": {"#p": "profile_id"},
             "ExpressionAttributeValues": {":p": {"S": "abc"}, ":r": {"S": "RECORD#"}}}  # fmt: skip
    # Then
    assert access_requests("TransactWriteItems", transaction, KEYS) == [
        AccessRequest("dynamodb:PutItem", "T", None, ("PROFILE#1",)),
        AccessRequest("dynamodb:ConditionCheckItem", "T", None, ("IDENTITY#email#a",)),
    ]
    assert access_requests("Query", query, KEYS) == [AccessRequest("dynamodb:Query", "T", "ByProfile", ("abc",))]


def test_leading_keys_allow_only_their_prefixes_and_a_scan_slips_through_as_in_iam() -> None:
    def request(action: str, *keys: str) -> AccessRequest:
        return AccessRequest(action, "T", None, keys)

    # Then: every key must match a pattern; an action or a prefix outside the statement is denied
    assert allowed(NARROWED, request("dynamodb:GetItem", "PROFILE#1"), "eu-west-1")
    assert allowed(NARROWED, request("dynamodb:PutItem", "ERASED"), "eu-west-1")
    assert not allowed(NARROWED, request("dynamodb:GetItem", "PROFILE#1", "SOURCE#x"), "eu-west-1")
    assert not allowed(NARROWED, request("dynamodb:DeleteItem", "PROFILE#1"), "eu-west-1")
    assert not allowed(NARROWED, request("dynamodb:GetItem", "ERASED#x"), "eu-west-1")
    # a request without leading keys satisfies ForAllValues: why narrowed statements must never grant Scan
    assert allowed(NARROWED, request("dynamodb:Scan"), "eu-west-1")
    # an unmodelled condition never grants
    other = [{**NARROWED[0], "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}]
    assert not allowed(other, request("dynamodb:GetItem", "PROFILE#1"), "eu-west-1")
