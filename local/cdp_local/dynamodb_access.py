"""Which DynamoDB requests each function makes, and whether its own role allows them.

moto does not evaluate a Lambda role's policies against the calls the function makes, so this module does the
part of IAM's evaluation that DynamoDB item access needs: it records every DynamoDB call a function of the local stack
makes in the thread that runs its invocation, turns each call into the IAM requests AWS authorises (action, table or index ARN, `dynamodb:LeadingKeys`), and evaluates them against the
function's role as the template defines it (SAM's policy templates expanded by aws-sam-translator): Allow statements
matching the action and the resource, with the conditions `ForAllValues:StringLike` / `ForAllValues:StringEquals`
on `dynamodb:LeadingKeys`. Any other condition makes a statement not apply (so the evaluator never over-grants).
As in IAM, a `ForAllValues` condition holds when the request carries no leading keys at all (a Scan): narrowed
statements must therefore not grant actions without leading keys.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import botocore.client

ACCOUNT_ID = "123456789012"

# TransactWriteItems parts and the item action IAM checks for each
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
KEYED_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
UNNARROWED_ACTIONS = {"dynamodb:Scan", "dynamodb:DescribeTable", "dynamodb:ListTables", "dynamodb:DescribeStream",
                      "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
                      "dynamodb:PartiQLSelect", "dynamodb:ExecuteStatement"}  # fmt: skip


@dataclass(frozen=True)
class AccessRequest:
    """One request IAM authorises: an action on a table or index, for the partition keys it touches."""

    action: str  # e.g. "dynamodb:GetItem"
    table: str  # physical table name
    index: str | None
    leading_keys: tuple[str, ...]

    def arn(self, region: str) -> str:
        table = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{self.table}"
        return f"{table}/index/{self.index}" if self.index else table


@dataclass
class CallRecorder:
    """DynamoDB calls by function logical id, recorded while `recording()` is active. A call belongs to the function
    whose invocation runs in the calling thread (journeys' service tasks run in other threads meanwhile)."""

    calls: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    _running: threading.local = field(default_factory=threading.local)

    @contextlib.contextmanager
    def recording(self) -> Iterator[CallRecorder]:
        """Record each DynamoDB request as sent on the wire (expressions and attribute values serialised)."""
        from cdp_local.stack import LocalStack

        original_request, original_invoke = botocore.client.BaseClient._make_request, LocalStack.invoke
        running = self._running

        def invoke(stack: LocalStack, logical_id: str, event: Any) -> Any:
            outer = getattr(running, "function", None)
            running.function = logical_id
            try:
                return original_invoke(stack, logical_id, event)
            finally:
                running.function = outer

        def recorded(client: Any, operation_model: Any, request_dict: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            function = getattr(running, "function", None)
            if function and client.meta.service_model.service_name == "dynamodb":
                body = request_dict.get("body") or b"{}"
                self.calls.setdefault(function, []).append((operation_model.name, json.loads(body)))
            return original_request(client, operation_model, request_dict, *args, **kwargs)

        with (
            mock.patch.object(botocore.client.BaseClient, "_make_request", recorded),
            mock.patch.object(LocalStack, "invoke", invoke),
        ):
            yield self


def _key_value(attribute: Any) -> str:
    """A key attribute's value from its wire form ({"S": v})."""
    [(_type, value)] = attribute.items()
    return str(value)


def _partition_of_query(params: dict[str, Any], partition_key: str) -> str | None:
    """The partition key value a Query's KeyConditionExpression fixes (`pk = :v`, `#n = :v`)."""
    expression = params.get("KeyConditionExpression")
    if not isinstance(expression, str):
        return None
    names = params.get("ExpressionAttributeNames", {})
    for name, placeholder in re.findall(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)", expression):
        if names.get(name, name) == partition_key:
            return _key_value(params["ExpressionAttributeValues"][placeholder])
    return None


def access_requests(
    operation: str, params: dict[str, Any], partition_keys: dict[tuple[str, str | None], str]
) -> list[AccessRequest]:
    """The IAM requests one DynamoDB call makes. `partition_keys` names each (table, index)'s partition key."""

    def leading(table: str, index: str | None, item_or_key: dict[str, Any]) -> str:
        return _key_value(item_or_key[partition_keys[(table, index)]])

    if operation in KEYED_OPERATIONS:
        table = params["TableName"]
        key = params.get("Key") or params["Item"]
        return [AccessRequest(f"dynamodb:{operation}", table, None, (leading(table, None, key),))]
    if operation == "Query":
        table, index = params["TableName"], params.get("IndexName")
        value = _partition_of_query(params, partition_keys[(table, index)])
        return [AccessRequest("dynamodb:Query", table, index, (value,) if value is not None else ())]
    if operation == "Scan":
        return [AccessRequest("dynamodb:Scan", params["TableName"], params.get("IndexName"), ())]
    if operation == "BatchGetItem":
        return [
            AccessRequest("dynamodb:BatchGetItem", table, None, tuple(leading(table, None, key) for key in spec["Keys"]))
            for table, spec in params["RequestItems"].items()
        ]
    if operation == "BatchWriteItem":
        return [
            AccessRequest("dynamodb:BatchWriteItem", table, None, tuple(
                leading(table, None, write.get("PutRequest", {}).get("Item") or write["DeleteRequest"]["Key"])
                for write in writes))
            for table, writes in params["RequestItems"].items()
        ]  # fmt: skip
    if operation in ("TransactWriteItems", "TransactGetItems"):
        requests = []
        for part in params["TransactItems"]:
            [(kind, spec)] = part.items()
            action = "GetItem" if kind == "Get" else TRANSACT_ACTIONS[kind]
            table = spec["TableName"]
            key = spec.get("Key") or spec["Item"]
            requests.append(AccessRequest(f"dynamodb:{action}", table, None, (leading(table, None, key),)))
        return requests
    return [AccessRequest(f"dynamodb:{operation}", params.get("TableName", "*"), None, ())]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str) -> bool:
    """IAM's `*` and `?` wildcards (case-sensitive)."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _conditions_hold(condition: dict[str, Any], request: AccessRequest) -> bool:
    for operator, tests in condition.items():
        for key, allowed in tests.items():
            if key != "dynamodb:LeadingKeys" or operator not in ("ForAllValues:StringLike", "ForAllValues:StringEquals"):
                return False  # a condition this evaluator does not model: treat the statement as not applying
            compare = _matches if operator.endswith("Like") else str.__eq__
            if not all(any(compare(pattern, value) for pattern in _as_list(allowed)) for value in request.leading_keys):
                return False
    return True


def allowed(statements: list[dict[str, Any]], request: AccessRequest, region: str) -> bool:
    """Whether an Allow statement grants the request (no Deny statements are used in this template)."""
    arn = request.arn(region)
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        if not any(_matches(action, request.action) for action in _as_list(statement.get("Action", []))):
            continue
        if not any(_matches(resource, arn) for resource in _as_list(statement.get("Resource", []))):
            continue
        if _conditions_hold(statement.get("Condition", {}), request):
            return True
    return False


def _resolve(value: Any, names: dict[str, str]) -> Any:
    """A role policy value with Ref, GetAtt Arn and Sub (both forms) resolved from `names`."""
    if isinstance(value, list):
        return [_resolve(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return names[value["Ref"]]
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return names[f"{logical_id}.{attribute}"]
    if "Fn::Sub" in value:
        text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        scope = {**names, **{name: _resolve(item, names) for name, item in variables.items()}}
        return re.sub(r"\$\{([^}!]+)\}", lambda match: str(scope.get(match[1], match[0])), text)
    return {key: _resolve(item, names) for key, item in value.items()}


@dataclass(frozen=True)
class StackPolicies:
    """The DynamoDB statements of each function's role, resolved against a deployed local stack."""

    region: str
    statements: dict[str, list[dict[str, Any]]]  # by function logical id
    partition_keys: dict[tuple[str, str | None], str]  # (table name, index name) -> partition key attribute

    @classmethod
    def of(cls, stack: Any) -> StackPolicies:
        resources = stack.cloudformation_template["Resources"]
        names: dict[str, str] = {"AWS::Partition": "aws", "AWS::Region": stack.region, "AWS::AccountId": ACCOUNT_ID,
                                 "AWS::StackName": stack.stack_name}  # fmt: skip
        for logical_id, resource in resources.items():
            if logical_id in stack.physical_ids:
                names[logical_id] = stack.physical_ids[logical_id]
                if resource["Type"] == "AWS::DynamoDB::Table":
                    names[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{stack.region}:{ACCOUNT_ID}:table/{names[logical_id]}"
        names.update({name: str(value) for name, value in stack._parameter_values().items()})
        partition_keys: dict[tuple[str, str | None], str] = {}
        for logical_id, resource in resources.items():
            if resource["Type"] == "AWS::DynamoDB::Table":
                table, properties = names[logical_id], resource["Properties"]
                partition_keys[(table, None)] = _hash_key(properties["KeySchema"])
                for index in properties.get("GlobalSecondaryIndexes", []):
                    partition_keys[(table, index["IndexName"])] = _hash_key(index["KeySchema"])
        statements = {}
        for logical_id in stack.functions:
            role = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
            documents = [policy["PolicyDocument"] for policy in resources[role]["Properties"].get("Policies", [])]
            statements[logical_id] = [
                _resolve(statement, names)
                for document in documents
                for statement in document["Statement"]
                if any(str(action).startswith("dynamodb:") for action in _as_list(statement.get("Action", [])))
            ]
        return cls(stack.region, statements, partition_keys)

    def requests(self, recorder: CallRecorder) -> dict[str, list[AccessRequest]]:
        """Every recorded call's IAM requests, by function logical id."""
        return {
            function: [
                request for operation, params in calls for request in access_requests(operation, params, self.partition_keys)
            ]
            for function, calls in recorder.calls.items()
        }

    def denied(self, function: str, requests: list[AccessRequest]) -> list[AccessRequest]:
        return [request for request in requests if not allowed(self.statements[function], request, self.region)]


def _hash_key(key_schema: list[dict[str, str]]) -> str:
    return next(part["AttributeName"] for part in key_schema if part["KeyType"] == "HASH")
