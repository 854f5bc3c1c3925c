"""The local stack's faster Step Functions, Lambda and SQS reads answer exactly what moto answers without them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import boto3
import pytest
from cdp_local.sfn_speedups import function_configuration, may_receive, parsing_each_definition_once
from moto import mock_aws

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sfn"
DEFINITION = {
    "StartAt": "Shape",
    "States": {
        "Shape": {
            "Type": "Pass",
            "Parameters": {"who.$": "$.who", "greeting.$": "States.Format('hello {}', $.who)"},
            "ResultPath": "$.shaped",
            "Next": "Pick",
        },
        "Pick": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.who", "StringEquals": "fail", "Next": "Refused"}],
            "Default": "Pause",
        },
        "Pause": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Done"},
        "Done": {"Type": "Pass", "Result": {"ok": True}, "ResultPath": "$.result", "End": True},
        "Refused": {"Type": "Fail", "Error": "Refused", "Cause": "asked to fail"},
    },
}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    yield


def _finished(stepfunctions: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (described := stepfunctions.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still running"
        time.sleep(0.01)
    return described


def _entered_a_wait(stepfunctions: Any, arn: str) -> None:
    deadline = time.monotonic() + 30
    while "WaitStateEntered" not in [event["type"] for event in
                                     stepfunctions.get_execution_history(executionArn=arn)["events"]]:  # fmt: skip
        assert time.monotonic() < deadline, "execution never reached its wait"
        time.sleep(0.01)


def _run_executions(parsed_once: bool) -> list[dict[str, Any]]:
    """Each input's status, output, error and history event types, executed twice (a second run of the same
    definition must not see the first one's state)."""
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),  # type: ignore[call-overload]
        parsing_each_definition_once() if parsed_once else nullcontext(),
    ):
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        machine = stepfunctions.create_state_machine(name="m", definition=json.dumps(DEFINITION), roleArn=ROLE)
        outcomes = []
        for number, run_input in enumerate([{"who": "ada", "wait": 0}, {"who": "fail", "wait": 0}] * 2):
            arn = stepfunctions.start_execution(
                stateMachineArn=machine["stateMachineArn"], name=f"run-{number}", input=json.dumps(run_input)
            )["executionArn"]
            described = _finished(stepfunctions, arn)
            history = stepfunctions.get_execution_history(executionArn=arn)["events"]
            outcomes.append(
                {
                    "status": described["status"],
                    "output": described.get("output"),
                    "error": described.get("error"),
                    "cause": described.get("cause"),
                    "history": [event["type"] for event in history],
                }
            )
        return outcomes


def test_an_execution_of_a_definition_parsed_once_runs_as_one_parsed_afresh() -> None:
    # Given the same definition and inputs (a success and a failure, each twice)
    # When they run with each definition parsed once, and as moto parses them
    # Then every status, output, error and history is the same
    assert _run_executions(parsed_once=True) == _run_executions(parsed_once=False)


def test_every_execution_gets_its_own_copy_of_the_parsed_program() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # Given the patch, and two workers of the same definition
    with parsing_each_definition_once():
        details = type("Details", (), {})()
        details.state_machine_details = type("Machine", (), {"definition": json.dumps(DEFINITION)})()
        workers = [ExecutionWorker.__new__(ExecutionWorker) for _ in range(2)]
        for worker in workers:
            worker._evaluation_details = details  # type: ignore[misc]
        # When each asks for its program
        first, second = (worker._get_evaluation_entrypoint() for worker in workers)
    # Then they are equal in shape but share no object
    assert type(first) is type(second)
    assert first is not second
    assert first.states is not second.states


@mock_aws(config={"lambda": {"use_docker": False}})
def test_a_function_configuration_is_what_get_function_configuration_answers() -> None:
    # Given a function with an environment, updated after it was created
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name=REGION)
    lambda_client.create_function(
        FunctionName="fn", Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": b"zip"},
        Environment={"Variables": {"A": "1"}}, MemorySize=256, Timeout=30,
    )  # fmt: skip
    lambda_client.update_function_configuration(FunctionName="fn", Environment={"Variables": {"A": "2", "B": "x"}})
    # When it is read from moto's model
    read = function_configuration(ACCOUNT, REGION, "fn")
    # Then it holds what the API answers
    answered = lambda_client.get_function_configuration(FunctionName="fn")
    for name in ("FunctionName", "FunctionArn", "MemorySize", "Timeout", "Environment"):
        assert read[name] == answered[name]


@mock_aws
def test_a_queue_may_receive_exactly_when_receive_message_would_answer_a_message() -> None:
    # Given an empty queue, then one with a message, then one whose message is in flight
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    assert may_receive(ACCOUNT, REGION, url) is False
    sqs.send_message(QueueUrl=url, MessageBody="m")
    assert may_receive(ACCOUNT, REGION, url) is True
    # When the message is received (in flight for 60 s)
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]
    # Then nothing may be received, as ReceiveMessage answers
    assert may_receive(ACCOUNT, REGION, url) is False
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_task_states_share_one_client_per_service_and_region() -> None:
    from cdp_local.sfn_speedups import TASK_CLIENT_MODULES, sharing_task_clients

    # Given the patch over every module of moto's interpreter that builds a Task state's client
    with sharing_task_clients():
        import importlib

        builders = [importlib.import_module(name).boto_client_for for name in TASK_CLIENT_MODULES]
        # When each asks for clients
        lambdas = {id(build(region=REGION, service="lambda")) for build in builders}
        other_region = builders[0](region="us-east-1", service="lambda")
        dynamodb = builders[0](region=REGION, service="dynamodb")
    # Then one client serves a service in a region, and only it
    assert len(lambdas) == 1
    assert id(other_region) not in lambdas and id(dynamodb) not in lambdas
    assert dynamodb.meta.service_model.service_name == "dynamodb"


def test_running_executions_counts_what_list_executions_shows_running() -> None:
    from cdp_local.sfn_speedups import running_executions

    # Given a state machine with a finished execution and one waiting a minute, and another state machine
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # type: ignore[call-overload]
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        arns = [stepfunctions.create_state_machine(name=name, definition=json.dumps(DEFINITION), roleArn=ROLE)
                ["stateMachineArn"] for name in ("m", "other")]  # fmt: skip
        done = stepfunctions.start_execution(stateMachineArn=arns[0], name="done", input='{"who": "a", "wait": 0}')
        _finished(stepfunctions, done["executionArn"])
        waiting = stepfunctions.start_execution(stateMachineArn=arns[0], name="waiting", input='{"who": "a", "wait": 60}')
        _entered_a_wait(stepfunctions, waiting["executionArn"])  # its interpreter is up, so it can be stopped
        # When the running executions are counted, of the first machine and of the other
        counted = running_executions(ACCOUNT, REGION, {arns[0]}), running_executions(ACCOUNT, REGION, {arns[1]})
        listed = [execution["status"] for execution in stepfunctions.list_executions(stateMachineArn=arns[0])["executions"]]
        for execution in stepfunctions.list_executions(stateMachineArn=arns[0])["executions"]:
            if execution["status"] == "RUNNING":
                stepfunctions.stop_execution(executionArn=execution["executionArn"])
    # Then they are what ListExecutions shows
    assert counted == (listed.count("RUNNING"), 0) == (1, 0)
