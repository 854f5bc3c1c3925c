"""Faster paths through moto's Step Functions, Lambda and SQS backends for the local stack, with the same answers.

Where a local run with journeys spends its time outside the product's own code:
- moto's Step Functions interpreter parses the state machine's ASL again, with its ANTLR grammar, for every
  execution it starts (50-120 ms of CPU for a journey's definition, more than the rest of a short execution);
  here each definition is parsed once and every execution gets its own copy of the parsed program, unpickled
  (about 0.3 ms), so no execution shares a component with another;
- every Task state's service call builds a new boto3 client (5-90 ms of CPU each) with the same fixed settings;
  here one client per service and region is built and shared, as boto3 clients are thread-safe;
- the local stack asked moto, through boto3, for a function's configuration at every invocation, for every SQS
  event source's messages after every invocation (most queues being empty) and for every state machine's
  executions 20 times a second while it waited for them: reading moto's models directly gives the same
  configuration and running executions, and skips a ReceiveMessage that could only answer nothing.
`tests/unit/test_sfn_speedups.py` checks each against what moto gives.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.awslambda.utils import get_backend as lambda_backend
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker


class _ParsedPrograms:
    """Each ASL definition's parsed program, kept pickled by its text; every caller gets its own copy, unpickled
    (a tenth of what a deep copy of the same program costs)."""

    def __init__(self) -> None:
        self._programs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def program(self, definition: str) -> Any:
        with self._lock:
            pickled = self._programs.get(definition)
        if pickled is None:
            parsed = AmazonStateLanguageParser.parse(definition)[0]
            try:
                pickled = pickle.dumps(parsed)
            except (pickle.PicklingError, TypeError, AttributeError):  # a component that cannot be copied (none in
                return parsed  # moto 5.2's ASL components): this caller keeps it, the next one parses afresh
            with self._lock:
                self._programs.setdefault(definition, pickled)
        return pickle.loads(pickled)


@contextmanager
def parsing_each_definition_once() -> Iterator[None]:
    """Patch moto's execution worker to take its program from the parsed definitions (local stack only)."""
    programs = _ParsedPrograms()

    def evaluation_entrypoint(worker: ExecutionWorker) -> Any:
        return programs.program(worker._evaluation_details.state_machine_details.definition)

    with mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint", evaluation_entrypoint):
        yield


TASK_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
)


@contextmanager
def sharing_task_clients() -> Iterator[None]:
    """One boto3 client per (service, region) for the interpreter's Task states (moto builds one per call, each
    with the same settings: its credentials argument is not used to build it)."""
    import importlib

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str, bool], Any] = {}
    lock = threading.Lock()

    def shared_client(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, bool(boto_client.botocore_stubber.enabled))
        with lock:
            if key not in clients:
                clients[key] = original(region=region, service=service, state_credentials=state_credentials)
            return clients[key]

    with ExitStack() as patches:
        for name in TASK_CLIENT_MODULES:
            patches.enter_context(mock.patch.object(importlib.import_module(name), "boto_client_for", shared_client))
        yield


def function_configuration(account_id: str, region: str, function_name: str) -> dict[str, Any]:
    """What GetFunctionConfiguration answers for a function's latest version, read from moto's Lambda model."""
    return lambda_backend(account_id, region).get_function(function_name).get_configuration()  # type: ignore[no-any-return]


def may_receive(account_id: str, region: str, queue_url: str) -> bool:
    """False when a queue holds no message that is visible and not delayed (a ReceiveMessage would answer none)."""
    queue = sqs_backends[account_id][region].queues.get(queue_url.rsplit("/", 1)[-1])
    return queue is None or bool(queue.messages)


def running_executions(account_id: str, region: str, state_machine_arns: Collection[str]) -> int:
    """How many executions of these state machines ListExecutions would show RUNNING (or not started yet)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account_id][region]
    return sum(
        execution.exec_status in (None, ExecutionStatus.RUNNING)  # type: ignore[attr-defined]  # the parser's Execution
        for machine in list(backend.state_machines)
        if machine.arn in state_machine_arns
        for execution in list(machine.executions)
    )
