"""The template's abuse and privilege limits: internet-facing functions have reserved concurrency, the gateway a
throttling budget, and the write-key authorizer and webhook secret reads hold only the actions they use."""

from __future__ import annotations

from typing import Any

from cdp_local.template import load_template

INTERNET_FACING = {"TrackEventsFunction": "TrackingReservedConcurrency",
                   "AuthorizeWriteKeyFunction": "AuthorizerReservedConcurrency"}  # fmt: skip


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in function["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


def test_internet_facing_functions_have_reserved_concurrency() -> None:
    # Given
    resources = load_template()["Resources"]
    # Then
    for function, parameter in INTERNET_FACING.items():
        assert resources[function]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": parameter}


def test_the_stage_and_the_unauthenticated_webhook_route_are_throttled() -> None:
    # Given
    api = load_template()["Resources"]["HttpApi"]["Properties"]
    # Then
    assert api["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 500, "ThrottlingRateLimit": 1000}
    webhook = api["RouteSettings"]["POST /v1/webhooks/shopify"]
    assert webhook["ThrottlingRateLimit"] < api["DefaultRouteSettings"]["ThrottlingRateLimit"]


def test_the_write_key_authorizer_can_only_get_one_item() -> None:
    # Given
    authorizer = load_template()["Resources"]["AuthorizeWriteKeyFunction"]
    # Then: no SAM policy template (they grant Scan and Query), one GetItem statement on the profiles table
    assert all("Statement" in policy for policy in authorizer["Properties"]["Policies"])
    assert [(s["Action"], s["Resource"]) for s in _statements(authorizer)] == [
        (["dynamodb:GetItem"], {"Fn::GetAtt": ["ProfilesTable", "Arn"]})
    ]


def test_the_tracking_function_reads_shop_secrets_by_path_only() -> None:
    # Given
    tracking = load_template()["Resources"]["TrackEventsFunction"]
    # Then: no per-parameter read policy is left; the path read is limited to the stack's shopify path
    names = [next(iter(policy)) for policy in tracking["Properties"]["Policies"] if isinstance(policy, dict)]
    assert "SSMParameterReadPolicy" not in names
    by_path = [s for s in _statements(tracking) if s["Action"] == ["ssm:GetParametersByPath"]]
    assert len(by_path) == 1
    assert by_path[0]["Resource"]["Fn::Sub"].endswith(":parameter/${AWS::StackName}/shopify")


def test_journey_email_can_only_be_sent_as_the_configured_sender() -> None:
    # Given
    sender = load_template()["Resources"]["SendMessageFunction"]
    # Then
    [send_email] = [s for s in _statements(sender) if s["Action"] == "ses:SendEmail"]
    assert send_email["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderEmail"}}}


def test_no_function_gets_sams_bucket_write_or_crud_policy_templates() -> None:
    # Given: SAM's S3WritePolicy and S3CrudPolicy also grant PutObjectAcl and PutLifecycleConfiguration
    resources = load_template()["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    # Then
    for function in functions:
        names = {next(iter(policy)) for policy in function["Properties"].get("Policies", []) if isinstance(policy, dict)}
        assert not names & {"S3WritePolicy", "S3CrudPolicy", "S3FullAccessPolicy"}


def test_the_profile_batch_consumer_polls_only_its_own_queue() -> None:
    # Given: with SAM's generated role an SQS event source adds AWSLambdaSQSQueueExecutionRole (every queue)
    resources = load_template()["Resources"]
    consumer = resources["ApplyProfileBatchFunction"]["Properties"]
    role = resources["ApplyProfileBatchRole"]["Properties"]
    # Then
    assert consumer["Role"] == {"Fn::GetAtt": ["ApplyProfileBatchRole", "Arn"]}
    assert not any("SQS" in arn.get("Fn::Sub", arn) for arn in role["ManagedPolicyArns"])
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    [poll] = [s for s in statements if "sqs:ReceiveMessage" in s["Action"]]
    assert poll["Resource"] == {"Fn::GetAtt": ["ProfileBatchesQueue", "Arn"]}
    assert all("*" not in action for s in statements for action in s["Action"])
