"""Stands template.yaml up in moto, in-process, and wires its triggers to the in-process handlers.

moto deploys what CloudFormation can (via aws-sam-translator); what moto does not dispatch without Docker is
wired here, each from the template's own declarations: S3 notifications and async invokes (with retries and the
function's DLQ), SQS event sources (polled once the producing invocation returns), EventBridge rules whose
targets are Lambda or Step Functions, schedules, and the Lambda tasks of state machines (moto's Step Functions
interpreter runs them, calling back into `invoke`). Glue tables and Firehose delivery streams, which moto's
CloudFormation skips, are created from the template, and Firehose's Parquet conversion is emulated
(`cdp_local.delivery_streams`).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from unittest import mock
from urllib.parse import quote_plus, unquote, unquote_plus
from zoneinfo import ZoneInfo

import boto3
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.events.models import Rule
from moto.firehose.models import FirehoseBackend
from moto.s3.models import S3Backend
from moto.ses.models import SESQuota
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.backend.execution import Execution
from samtranslator.translator.transform import transform

from cdp_local.delivery_streams import ParquetConversion, create_databases, create_streams, create_tables
from cdp_local.deploy_speedups import faster_deploy, translated_once
from cdp_local.moto_speedups import faster_dispatch, faster_dynamodb, faster_sqs
from cdp_local.moto_transactions import transactions_that_snapshot_only_touched_items
from cdp_local.ses_feedback import SentEmails, recording_sent_emails, simulated_events
from cdp_local.sfn_speedups import (
    function_configuration,
    may_receive,
    parsing_each_definition_once,
    running_executions,
    sharing_task_clients,
)
from cdp_local.template import REPO_ROOT, TEMPLATE_PATH, FunctionSpec, function_events, function_specs, load_template

ACCOUNT_ID = "123456789012"
LOCAL_CREDENTIALS = ("testing", "testing")
ARTIFACT_BUCKET = "cdp-local-artifacts"
ERASURE_SALT_PARAMETER = "/cdp/erasure-salt"  # the template's ErasureSaltParameterName default
LOCAL_ERASURE_SALT = "local-erasure-salt"
UNSUBSCRIBE_KEYS_PARAMETER = "/cdp/unsubscribe-keys"  # the template's UnsubscribeKeysParameterName default
LOCAL_UNSUBSCRIBE_KEYS = '["bG9jYWwtdW5zdWJzY3JpYmUta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXM="]'  # one 41-byte key
ASYNC_ATTEMPTS = 3  # Lambda retries a failed asynchronous invocation twice before its dead-letter queue
SES_MAX_SEND_RATE = 200  # an account out of the SES sandbox (moto answers the sandbox's 1 per second)
SES_MAX_24_HOUR_SEND = 1_000_000
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


class _NoManagedPolicies:
    """Policy loader for aws-sam-translator: no managed-policy lookups offline."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass
class FunctionError(Exception):
    """A handler raised: carries the Lambda-shaped error payload."""

    payload: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.payload.get('errorType')}: {self.payload.get('errorMessage')}"


@dataclass
class AsyncFailure:
    function: str
    error: str
    dead_letter_queue: str | None


@dataclass(frozen=True)
class _QueueEventSource:
    """An SQS event of a function in the template, resolved to its deployed queue."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int


@dataclass
class _LambdaContext:
    """The parts of the Lambda context object handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def _zip_of(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*.py")):
            archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _execution_of(env: Any) -> str:
    """The id of the Step Functions execution an interpreter environment belongs to."""
    return env.states.context_object.context_object_data["Execution"]["Id"]


class LocalStack:
    """The whole template in moto. Use as a context manager; `wait_scale` shortens Wait states (0 = no wait).

    A shortened Wait still lets its whole time pass for the platform's clock (`cdp.wiring.clock`, what the sending
    service asks for "now"): each execution keeps its own time, the clock at its start run ahead by the part of its
    Waits not really waited, which its Lambda tasks see; `clock_offset`, the furthest any run has got, is the time
    outside executions (runs waiting side by side neither add up their waits nor age each other's messages), so a
    message deferred to the end of quiet hours is allowed when the journey asks again, as it would be on AWS.
    """

    def __init__(
        self,
        template_path: Path = TEMPLATE_PATH,
        stack_name: str = "cdp-local",
        region: str = "eu-west-1",
        parameters: dict[str, str] | None = None,
        wait_scale: float = 0.0,
        function_output: TextIO | None = None,
    ) -> None:
        self.template = load_template(template_path)
        self.stack_name = stack_name
        self.region = region
        self.parameters = parameters or {}
        self.wait_scale = wait_scale
        self.function_output = function_output  # where handlers' stdout goes (CloudWatch Logs' part); None: stdout
        self.functions: dict[str, FunctionSpec] = function_specs(self.template)
        self.physical_ids: dict[str, str] = {}
        self.async_failures: list[AsyncFailure] = []
        self._function_by_name: dict[str, str] = {}
        self._function_variable_names: list[str] = []
        self._modules: dict[str, ModuleType] = {}
        self._invoke_lock = threading.RLock()
        self._queue_event_sources: list[_QueueEventSource] = []
        self._polling = threading.local()  # set while this thread delivers queued messages (no nested polling)
        self._exits = ExitStack()
        self.clock_offset = timedelta(0)
        self._run_offsets: dict[str, timedelta] = {}  # each execution's own time: the clock at its start + skipped waits
        self._running = threading.local()  # the execution whose Lambda task this thread is running, if any
        self._clock_lock = threading.Lock()
        self.sent_emails = SentEmails()  # SendEmail calls with their tags and configuration set (moto drops them)
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation warns of every type it skips
        self._exits.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        self._exits.enter_context(
            mock.patch.dict(
                os.environ,
                {
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
                    "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1],
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    "POWERTOOLS_DEV": "false",
                },
            )
        )
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        self._exits.enter_context(mock_aws(config=MOTO_CONFIG))  # type: ignore[call-overload]
        self._exits.enter_context(faster_deploy())
        self._wire_dispatch()
        _reset_platform_caches()
        self._deploy()
        return self

    def stop(self) -> None:
        self.wait_for_executions(timeout=30, raise_on_timeout=False)
        self._exits.close()
        self._clients.clear()
        _reset_platform_caches()

    def client(self, service: str) -> Any:
        """The stack's client of a service, built once (building one costs 5-90 ms of CPU; clients are thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(service, region_name=self.region)
            return self._clients[service]

    # ------------------------------------------------------------------ deployment
    def _parameter_values(self) -> dict[str, Any]:
        defaults = {name: spec.get("Default") for name, spec in self.template.get("Parameters", {}).items()}
        return {
            **defaults,
            **self.parameters,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def _deployable_template(self) -> dict[str, Any]:
        """The SAM template with code pointing at placeholder zips and ASL inlined, as aws-sam-translator wants."""
        template = copy.deepcopy(self.template)
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::Serverless::Function":
                properties["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
            elif resource["Type"] == "AWS::Serverless::LayerVersion":
                properties["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
            elif resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
                properties["Definition"] = json.loads((REPO_ROOT / properties.pop("DefinitionUri")).read_text())
        return template

    def _deploy(self) -> None:
        self.client("ssm").put_parameter(
            Name=ERASURE_SALT_PARAMETER, Value=LOCAL_ERASURE_SALT, Type="SecureString", Overwrite=True
        )
        self.client("ssm").put_parameter(
            Name=UNSUBSCRIBE_KEYS_PARAMETER, Value=LOCAL_UNSUBSCRIBE_KEYS, Type="SecureString", Overwrite=True
        )
        s3 = self.client("s3")
        s3.create_bucket(Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": self.region})
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function":
                body = _zip_of(self.functions[logical_id].code_dir)
            elif resource["Type"] == "AWS::Serverless::LayerVersion":
                body = _zip_of(REPO_ROOT / resource["Properties"]["ContentUri"])
            else:
                continue
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=body)

        parameter_values = self._parameter_values()
        with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": self.region}):
            cloudformation_template = translated_once(
                transform, self._deployable_template(), parameter_values, _NoManagedPolicies()
            )
        self.cloudformation_template = cloudformation_template
        cloudformation = self.client("cloudformation")
        declared = cloudformation_template.get("Parameters", {})
        cloudformation.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(cloudformation_template),
            Parameters=[
                {"ParameterKey": name, "ParameterValue": str(parameter_values[name])}
                for name in declared
                if parameter_values.get(name) is not None
            ],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        paginator = cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for summary in page["StackResourceSummaries"]:
                self.physical_ids[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
        self._function_by_name = {self.physical_ids[logical]: logical for logical in self.functions}
        self._create_configuration_sets()
        self._create_catalog_and_delivery_streams()
        self._seed_function_environments()
        self._apply_bucket_properties_moto_skips()
        self._create_email_identities()
        self._create_schedule_groups()
        self._create_state_machines()
        self._queue_event_sources = self._resolve_queue_event_sources()
        self._stop_moto_polling_queues()

    def _create_catalog_and_delivery_streams(self) -> None:
        """moto's CloudFormation skips Glue tables and delivery streams: create them, then give the functions the
        environment variables that name them (CloudFormation resolved those to nothing)."""
        self.physical_ids.update(create_databases(self.template, self._resolve_deep, self.region))
        self.physical_ids.update(create_tables(self.template, self._resolve_deep, self.region))
        self.physical_ids.update(create_streams(self.template, self._resolve_deep, self.stack_name, self.region))
        lambda_client = self.client("lambda")
        global_variables = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        for logical_id in self.functions:
            declared = self.template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
            name = self.physical_ids[logical_id]
            deployed = lambda_client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
            missing = {key: self._resolve_deep(value) for key, value in {**global_variables, **declared}.items() if key not in deployed}
            if missing:
                lambda_client.update_function_configuration(
                    FunctionName=name,
                    Environment={"Variables": {key: str(value) for key, value in {**deployed, **missing}.items()}},
                )

    def _resolve_deep(self, value: Any) -> Any:
        """A template value with its Ref, GetAtt (Arn) and Sub intrinsics resolved, at any depth."""
        if isinstance(value, list):
            return [self._resolve_deep(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value or "Fn::GetAtt" in value:
            return self._resolve(value)
        if "Fn::Sub" in value:
            return self._substitute(value["Fn::Sub"])
        return {key: self._resolve_deep(item) for key, item in value.items()}

    def _substitute(self, text: str) -> str:
        def variable(match: Any) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name.endswith(".Arn"):
                return self._resolve({"Fn::GetAtt": [name.removesuffix(".Arn"), "Arn"]})
            return self._resolve({"Ref": name})

        return re.sub(r"\$\{([^}]+)\}", variable, text)

    def _resolve(self, value: Any) -> str:
        """Resolve the intrinsics DefinitionSubstitutions and notifications use: Ref and GetAtt X.Arn."""
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            parameters = self._parameter_values()
            return str(parameters[name]) if name in parameters else self.physical_ids[name]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute != "Arn":
                raise ValueError(f"unsupported attribute {attribute} of {logical_id}")
            return self._arn_of(logical_id)
        return str(value)

    def _arn_of(self, logical_id: str) -> str:
        physical = self.physical_ids[logical_id]
        if physical.startswith("arn:"):
            return physical
        resource_type = self.cloudformation_template["Resources"][logical_id]["Type"]
        if resource_type == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{physical}"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{physical}"
        if resource_type == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
        if resource_type == "AWS::SQS::Queue":
            return self.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        raise ValueError(f"no ARN rule for {resource_type}")

    def _apply_bucket_properties_moto_skips(self) -> None:
        """moto's CloudFormation ignores a bucket's versioning and Lambda notifications: apply them from the template."""
        s3 = self.client("s3")
        for logical_id, resource in self.cloudformation_template["Resources"].items():
            if resource["Type"] != "AWS::S3::Bucket":
                continue
            bucket = self.physical_ids[logical_id]
            properties = resource.get("Properties", {})
            if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            lambda_configurations = properties.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
            if lambda_configurations:
                s3.put_bucket_notification_configuration(
                    Bucket=bucket,
                    NotificationConfiguration={
                        "LambdaFunctionConfigurations": [
                            {
                                "LambdaFunctionArn": self._resolve(configuration["Function"]),
                                "Events": [configuration["Event"]],
                            }
                            for configuration in lambda_configurations
                        ]
                    },
                )

    def _create_email_identities(self) -> None:
        """moto's CloudFormation skips SES identities; create them (verified at once, as moto does)."""
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::SES::EmailIdentity":
                identity = self._resolve(resource["Properties"]["EmailIdentity"])
                self.client("sesv2").create_email_identity(EmailIdentity=identity)

    def _create_configuration_sets(self) -> None:
        """moto's CloudFormation skips SES configuration sets; create them under the names the template gives."""
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::SES::ConfigurationSet":
                name = self._resolve_deep(resource["Properties"]["Name"])
                self.client("sesv2").create_configuration_set(ConfigurationSetName=name)
                self.physical_ids[logical_id] = name

    def _feedback_topics(self) -> dict[str, str]:
        """Configuration set name -> the SNS topic ARN its event destination publishes to."""
        topics = {}
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::SES::ConfigurationSetEventDestination":
                properties = resource["Properties"]
                configuration_set = self.template["Resources"][properties["ConfigurationSetName"]["Ref"]]
                name = self._resolve_deep(configuration_set["Properties"]["Name"])
                topics[name] = self._resolve(properties["EventDestination"]["SnsDestination"]["TopicARN"])
        return topics

    def publish_email_event(self, configuration_set: str, event: dict[str, Any]) -> None:
        """Publish one SES event record as the configuration set's SNS destination would, then let the queue
        consumers run."""
        topic = self._feedback_topics()[configuration_set]
        self.client("sns").publish(TopicArn=topic, Message=json.dumps(event))
        self.deliver_queued_messages()

    def emit_email_feedback(self) -> int:
        """The events SES (its mailbox simulator) would publish for every message sent with a configuration set
        since the last call; returns how many were published."""
        topics = self._feedback_topics()
        published = 0
        for email in self.sent_emails.emails:
            if email.events_emitted or email.configuration_set not in topics:
                continue
            email.events_emitted = True
            for event in simulated_events(email, self.region):
                self.client("sns").publish(TopicArn=topics[email.configuration_set], Message=json.dumps(event))
                published += 1
        self.deliver_queued_messages()
        return published

    def _create_schedule_groups(self) -> None:
        """moto's CloudFormation skips EventBridge Scheduler schedule groups; create them under their names."""
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::Scheduler::ScheduleGroup":
                self.client("scheduler").create_schedule_group(Name=self._resolve_deep(resource["Properties"]["Name"]))

    def _create_state_machines(self) -> None:
        """Create each state machine in the executing Step Functions backend, its DefinitionSubstitutions applied.

        moto's CloudFormation registers state machines where `execute_state_machine` does not look, and ignores
        DefinitionSubstitutions; so they are created here, under the names and roles the stack gave them.
        """
        stepfunctions = self.client("stepfunctions")
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::Serverless::StateMachine":
                continue
            properties = resource["Properties"]
            definition = (REPO_ROOT / properties["DefinitionUri"]).read_text()
            for name, value in properties.get("DefinitionSubstitutions", {}).items():
                definition = definition.replace("${" + name + "}", self._resolve(value))
            if "${" in definition:
                raise ValueError(f"{logical_id}: unresolved substitution in its definition")
            role_name = self.physical_ids[f"{logical_id}Role"]
            created = stepfunctions.create_state_machine(
                name=self.physical_ids[logical_id].rsplit(":", 1)[1],
                definition=definition,
                roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}",
            )
            self.physical_ids[logical_id] = created["stateMachineArn"]

    # ------------------------------------------------------------------ names
    def physical_id(self, logical_id: str) -> str:
        return self.physical_ids[logical_id]

    def state_machine_arn(self, logical_id: str) -> str:
        return self.physical_ids[logical_id]

    # ------------------------------------------------------------------ invoking handlers
    def _handler_of(self, logical_id: str) -> Callable[[Any, Any], Any]:
        spec = self.functions[logical_id]
        module = self._modules.get(logical_id)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(f"cdp_function_{logical_id}", spec.module_file)
            assert module_spec and module_spec.loader
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            self._modules[logical_id] = module
        return getattr(module, spec.function_attribute)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run a function's handler as Lambda would: its environment, a context, one invocation at a time."""
        configuration = function_configuration(ACCOUNT_ID, self.region, self.physical_ids[logical_id])
        environment = {
            name: str(value) for name, value in configuration.get("Environment", {}).get("Variables", {}).items()
        }
        context = _LambdaContext(
            function_name=configuration["FunctionName"],
            invoked_function_arn=configuration["FunctionArn"],
            memory_limit_in_mb=configuration["MemorySize"],
            timeout_seconds=configuration["Timeout"],
        )
        with self._invoke_lock:
            caller = {name: os.environ.get(name, "") for name in self._function_variable_names}  # a nested invoke
            self._use_function_environment({**environment, "AWS_LAMBDA_FUNCTION_NAME": context.function_name})
            try:
                with contextlib.redirect_stdout(self.function_output or sys.stdout):
                    _as_a_fresh_process()
                    result = self._handler_of(logical_id)(copy.deepcopy(event), context)
                return json.loads(json.dumps(result, default=str))
            except Exception as error:  # a Lambda turns any unhandled exception into an error payload
                raise FunctionError({"errorType": type(error).__name__, "errorMessage": str(error)}) from error
            finally:
                self._use_function_environment(caller)
                self.deliver_queued_messages()

    # ------------------------------------------------------------------ SQS event sources
    def _resolve_queue_event_sources(self) -> list[_QueueEventSource]:
        """Every SQS event of the template, with its queue's URL and ARN (resolved once, at deploy)."""
        sources = []
        for function, _event_name, properties in function_events(self.template, "SQS"):
            queue = properties["Queue"]["Fn::GetAtt"][0]
            batch_size = int(properties.get("BatchSize", 10))
            sources.append(_QueueEventSource(function, self.physical_ids[queue], self._arn_of(queue), batch_size))
        return sources

    def _stop_moto_polling_queues(self) -> None:
        """moto invokes a queue's mapped function inside send_message, one message at a time, ignoring partial
        failures; deliver_queued_messages plays Lambda's poller instead, so moto's mappings are detached."""
        for queue in sqs_backends[ACCOUNT_ID][self.region].queues.values():
            queue.lambda_event_source_mappings.clear()

    def deliver_queued_messages(self) -> int:
        """Lambda's SQS poller, run once the producing invocation has returned: every queued message goes to its
        function in batches of the event's BatchSize; a batch's successes are deleted, its reported failures (or the
        whole batch when the invocation fails) become visible again at once and are retried until the queue's
        redrive policy moves them to the dead-letter queue (as SQS does on receive). Returns the messages delivered."""
        if getattr(self._polling, "active", False):
            return 0
        self._polling.active = True
        delivered = 0
        try:
            while round_delivered := sum(self._deliver_one_round(source) for source in self._queue_event_sources):
                delivered += round_delivered
        finally:
            self._polling.active = False
        return delivered

    def _deliver_one_round(self, source: _QueueEventSource) -> int:
        if not may_receive(ACCOUNT_ID, self.region, source.queue_url):
            return 0
        sqs = self.client("sqs")
        received = sqs.receive_message(
            QueueUrl=source.queue_url, MaxNumberOfMessages=min(source.batch_size, 10), AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = {"Records": [_sqs_record(message, source.queue_arn, self.region) for message in received]}
        try:
            response = self.invoke(source.function, event)
            failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        except FunctionError:
            failed = {message["MessageId"] for message in received}
        for message in received:
            handle = message["ReceiptHandle"]
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=source.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=handle)
        return len(received)

    def _seed_function_environments(self) -> None:
        """Give os.environ every variable any function has, once, so invocations only ever change values.

        Step Functions executions run on moto's worker threads and read os.environ while a handler runs;
        adding or deleting keys under them makes their reads fail, so keys are never added or removed later.
        """
        names = {"AWS_LAMBDA_FUNCTION_NAME"}
        for logical_id in self.functions:
            configuration = self.client("lambda").get_function_configuration(FunctionName=self.physical_ids[logical_id])
            names.update(configuration.get("Environment", {}).get("Variables", {}))
        self._function_variable_names = sorted(names)
        for name in self._function_variable_names:
            os.environ.setdefault(name, "")

    def _use_function_environment(self, environment: dict[str, str]) -> None:
        """This function's variables; another function's are blanked (a missing variable still fails to parse).
        Only the variables that change are written (the next invocation is often of the same function)."""
        for name in self._function_variable_names:
            value = environment.get(name, "")
            if os.environ.get(name) != value:
                os.environ[name] = value

    def invoke_async(self, logical_id: str, event: Any) -> None:
        """Lambda's asynchronous invocation: two retries, then the function's dead-letter queue."""
        last_error: FunctionError | None = None
        for _attempt in range(ASYNC_ATTEMPTS):
            try:
                self.invoke(logical_id, event)
                return
            except FunctionError as error:
                last_error = error
        dead_letter = self.template["Resources"][logical_id]["Properties"].get("DeadLetterQueue")
        dead_letter_arn = self._resolve(dead_letter["TargetArn"]) if dead_letter else None
        if dead_letter_arn:
            queue_url = self.client("sqs").get_queue_url(QueueName=dead_letter_arn.rsplit(":", 1)[1])["QueueUrl"]
            self.client("sqs").send_message(
                QueueUrl=queue_url,
                MessageBody=json.dumps(event),
                MessageAttributes={"ErrorMessage": {"DataType": "String", "StringValue": str(last_error)[:1000]}},
            )
        self.async_failures.append(AsyncFailure(logical_id, str(last_error), dead_letter_arn))

    def _logical_id_of(self, function_name_or_arn: str) -> str:
        name = function_name_or_arn.split(":function:")[-1].split(":")[0]
        return self._function_by_name[name]

    # ------------------------------------------------------------------ moto hooks
    def _wire_dispatch(self) -> None:
        stack = self

        def lambda_invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: dict[str, str]
        ) -> bytes:
            logical_id = stack._logical_id_of(function_name)
            event = json.loads(body) if body else {}
            if headers.get("X-Amz-Invocation-Type") == "Event":
                stack.invoke_async(logical_id, event)
                return b""
            try:
                return json.dumps(stack.invoke(logical_id, event)).encode()
            except FunctionError as error:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(error.payload).encode()

        def s3_notification(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
            stack.invoke_async(stack._logical_id_of(fn_arn), stack._as_s3_sends_it(event_body))

        original_send_to_targets = Rule.send_to_targets

        def send_to_targets(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
            if not rule.event_pattern.matches_event(original_event):
                return
            others = [target for target in rule.targets if not stack._deliver_to_target(target, original_event)]
            if others:
                with mock.patch.object(rule, "targets", others):
                    original_send_to_targets(rule, original_event, transform_input)

        def own_offset(execution: str) -> timedelta:
            return stack._run_offsets.setdefault(execution, stack.clock_offset)

        original_start = Execution.start

        def start_execution(execution: Execution) -> None:
            with stack._clock_lock:
                own_offset(execution.exec_arn)  # its time starts at the platform's time when it is started
            original_start(execution)

        def scaled_wait(wait_function: WaitFunction, env: Any, wait_seconds: int) -> None:
            if wait_seconds > 0:
                env.program_state_event.wait(wait_seconds * stack.wait_scale)
                skipped = timedelta(seconds=wait_seconds * (1 - stack.wait_scale))
                with stack._clock_lock:
                    execution = _execution_of(env)
                    stack._run_offsets[execution] = own_offset(execution) + skipped
                    stack.clock_offset = max(stack.clock_offset, stack._run_offsets[execution])

        original_lambda_task = lambda_eval_utils.execute_lambda_function_integration

        def lambda_task(env: Any, *args: Any, **kwargs: Any) -> None:
            stack._running.execution = _execution_of(env)
            try:
                original_lambda_task(env, *args, **kwargs)
            finally:
                del stack._running.execution

        def platform_clock() -> datetime:
            execution = getattr(stack._running, "execution", None)
            with stack._clock_lock:
                offset = stack.clock_offset if execution is None else own_offset(execution)
            return datetime.now(UTC) + offset

        class _ScaledTime:
            @staticmethod
            def sleep(seconds: float) -> None:
                time.sleep(seconds * stack.wait_scale)

        conversion = ParquetConversion(self.region, ACCOUNT_ID)
        original_put_s3_records = FirehoseBackend.put_s3_records

        def put_s3_records(backend: Any, name: str, version_id: str, destination: Any, records: Any) -> Any:
            converted = conversion.put_s3_records(name, version_id, destination, records)
            return converted if converted is not None else original_put_s3_records(backend, name, version_id, destination, records)

        original_log_incoming_request = S3Backend.log_incoming_request

        def log_incoming_request(backend: Any, request: Any, bucket_name: str) -> None:
            if request.method != "PUT":  # a read (or a delete) sees what Firehose would have delivered by now
                conversion.deliver_buffered(bucket_name)
            elif source := request.headers.get("x-amz-copy-source"):  # so does a copy's read of its source
                conversion.deliver_buffered(unquote(source).lstrip("/").split("/", 1)[0])
            original_log_incoming_request(backend, request, bucket_name)

        self._exits.enter_context(mock.patch.object(FirehoseBackend, "put_s3_records", put_s3_records))
        self._exits.enter_context(mock.patch.object(S3Backend, "log_incoming_request", log_incoming_request))
        self._exits.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", lambda_invoke))
        self._exits.enter_context(recording_sent_emails(self.sent_emails))
        self._exits.enter_context(transactions_that_snapshot_only_touched_items())
        self._exits.enter_context(faster_dynamodb())
        self._exits.enter_context(full_collections_rarely())
        self._exits.enter_context(faster_sqs())
        self._exits.enter_context(faster_dispatch())
        self._exits.enter_context(parsing_each_definition_once())
        self._exits.enter_context(sharing_task_clients())
        self._exits.enter_context(mock.patch("moto.s3.notifications._invoke_awslambda", s3_notification))
        self._exits.enter_context(mock.patch.object(Rule, "send_to_targets", send_to_targets))
        self._exits.enter_context(mock.patch.object(WaitFunction, "_wait_interval", scaled_wait))
        self._exits.enter_context(mock.patch.object(Execution, "start", start_execution))
        self._exits.enter_context(mock.patch.object(lambda_eval_utils, "execute_lambda_function_integration", lambda_task))
        self._exits.enter_context(mock.patch("cdp.wiring.clock", platform_clock))

        self._exits.enter_context(mock.patch.object(SESQuota, "__init__", _production_send_quota))
        self._exits.enter_context(mock.patch.object(retrier_decl, "time", _ScaledTime))

    def _as_s3_sends_it(self, event: dict[str, Any]) -> dict[str, Any]:
        """Add the fields real S3 notifications carry and moto leaves out (version, identities, request ids)."""
        for record in event["Records"]:
            record.setdefault("userIdentity", {"principalId": "AWS:AIDALOCALUSER"})
            record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
            record.setdefault(
                "responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex}
            )
            s3_entity = record["s3"]
            s3_entity["bucket"].setdefault("ownerIdentity", {"principalId": "A3LOCALOWNER"})
            key = unquote_plus(s3_entity["object"]["key"])
            head = self.client("s3").head_object(Bucket=s3_entity["bucket"]["name"], Key=key)
            if head.get("VersionId", "null") != "null":
                s3_entity["object"].setdefault("versionId", head["VersionId"])
        return event

    def object_created_event(self, bucket: str, key: str) -> dict[str, Any]:
        """The ObjectCreated:Put notification S3 sends for the current version of `key` (to deliver it again)."""
        head = self.client("s3").head_object(Bucket=bucket, Key=key)
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self.region,
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "FileDropped",
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {
                    "key": quote_plus(key),
                    "size": head["ContentLength"],
                    "eTag": head["ETag"].strip('"'),
                    "sequencer": "0",
                },
            },
        }
        return self._as_s3_sends_it({"Records": [record]})

    def _deliver_to_target(self, target: dict[str, Any], event: dict[str, Any]) -> bool:
        """Deliver an EventBridge event to a Lambda or Step Functions target; False for targets moto handles."""
        arn: str = target["Arn"]
        payload = json.loads(target["Input"]) if "Input" in target else event
        if ":states:" in arn and ":stateMachine:" in arn:
            self.client("stepfunctions").start_execution(
                stateMachineArn=arn, name=str(uuid.uuid4()), input=json.dumps(payload)
            )
            return True
        if ":lambda:" in arn:
            self.invoke_async(self._logical_id_of(arn), payload)
            return True
        return False

    # ------------------------------------------------------------------ schedules and executions
    def run_schedules(self) -> int:
        """Fire every scheduled rule once, as EventBridge would on its next tick. Returns how many fired."""
        events = self.client("events")
        fired = 0
        buses = [bus["Name"] for bus in events.list_event_buses()["EventBuses"]]
        rules = [rule for bus in buses for rule in events.list_rules(EventBusName=bus)["Rules"]]
        for rule in rules:
            if "ScheduleExpression" not in rule or rule.get("State") != "ENABLED":
                continue
            scheduled_event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT_ID,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": self.region,
                "resources": [rule["Arn"]],
                "detail": {},
            }
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=rule["EventBusName"])["Targets"]
            for target in targets:
                fired += self._deliver_to_target(target, scheduled_event)
        return fired

    def fire_scheduler_schedules(self, now: datetime) -> list[Any]:
        """Fire the enabled EventBridge Scheduler schedules that are due, once each, as Scheduler would: one-off
        `at(...)` schedules whose time (in their time zone) has come, and recurring ones (their next tick is now).
        Lambda targets are invoked synchronously with `<aws.scheduler.scheduled-time>` filled in; returns their
        answers. A target that fails goes to the schedule's dead-letter queue and `async_failures`."""
        scheduler = self.client("scheduler")
        answers = []
        for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
            for summary in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
                schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group["Name"])
                fires_at = _due_time(schedule, now)
                if schedule["State"] != "ENABLED" or fires_at is None:
                    continue
                target = schedule["Target"]
                payload = target.get("Input", "{}").replace(
                    "<aws.scheduler.scheduled-time>", fires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                )
                logical_id = self._logical_id_of(target["Arn"])
                try:
                    answers.append(self.invoke(logical_id, json.loads(payload)))
                except FunctionError as error:  # Scheduler retries, then dead-letters the event
                    dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
                    if dead_letter:
                        queue_url = self.client("sqs").get_queue_url(QueueName=dead_letter.rsplit(":", 1)[1])["QueueUrl"]
                        self.client("sqs").send_message(QueueUrl=queue_url, MessageBody=payload)
                    self.async_failures.append(AsyncFailure(logical_id, str(error), dead_letter))
        return answers

    def executions(self, logical_id: str) -> list[dict[str, Any]]:
        paginator = self.client("stepfunctions").get_paginator("list_executions")
        return [
            execution
            for page in paginator.paginate(stateMachineArn=self.state_machine_arn(logical_id))
            for execution in page["executions"]
        ]

    def wait_for_executions(self, timeout: float = 120, raise_on_timeout: bool = True) -> None:
        """Block until no state machine execution is running."""
        deadline = time.monotonic() + timeout
        machines = {
            self.state_machine_arn(logical)
            for logical, r in self.template["Resources"].items()
            if r["Type"] == "AWS::Serverless::StateMachine"
        }
        while True:
            running = running_executions(ACCOUNT_ID, self.region, machines)
            if not running:
                return
            if time.monotonic() > deadline:
                if raise_on_timeout:
                    raise TimeoutError(f"{running} executions still running after {timeout}s")
                return
            time.sleep(0.05)


def _due_time(schedule: dict[str, Any], now: datetime) -> datetime | None:
    """When a schedule fires at or before `now`: a one-off's time if it has come, a recurring one's now (to the
    minute); None when a one-off is still ahead."""
    expression = schedule["ScheduleExpression"]
    if not expression.startswith("at("):
        return now.replace(second=0, microsecond=0)
    zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
    at = datetime.fromisoformat(expression.removeprefix("at(").removesuffix(")")).replace(tzinfo=zone)
    return at if at <= now else None


def _production_send_quota(quota: SESQuota, sent: int) -> None:
    quota.sent_last24_hours = sent
    quota.max24_hour_send = SES_MAX_24_HOUR_SEND
    quota.max_send_rate = SES_MAX_SEND_RATE


def _sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A received SQS message as Lambda's SQS event source hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@contextlib.contextmanager
def full_collections_rarely() -> Iterator[None]:
    """The local stack holds everything it stores (moto's tables, buckets, queues) in this process: millions of
    long-lived objects, freed by reference counting, that each full collection of Python's cyclic garbage collector
    walks again (16% of the CPU time of a 60,000-line Online Retail run, 69 s of the whole file's even when a
    hundred times rarer). While the stack is up, a full collection waits for a thousand times as many young
    collections as Python's default; young collections are unchanged."""
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, full * 1000)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)


THREAD_SWITCH_INTERVAL = 0.05  # seconds; Python's default is 0.005


@contextlib.contextmanager
def threads_switching_rarely() -> Iterator[None]:
    """A whole local run is one process whose handlers, botocore and moto share one interpreter lock, with a dozen
    threads at once (a batch's profiles, a file's claims, executions). Each forced hand-off of the lock costs a
    context switch and the caches the next thread finds cold; handing it off every 50 ms instead of Python's 5 ms
    made the Online Retail run about 6% faster (158-162 s against 169-173 s). Threads that wait (for a lock, a
    sleep, I/O) still give the lock up at once."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(THREAD_SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _as_a_fresh_process() -> None:
    """What a fresh Lambda process of this function would have: settings and telemetry names from its environment.

    One Python process hosts every function here, and cdp.observability's singletons may have been created before
    any function's environment was set (a test importing cdp first), so they are re-pointed on every invocation.
    """
    from cdp import wiring
    from cdp.observability import logger, metrics

    wiring.reset_settings()
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or None
    metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME") or None
    logger.append_keys(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined")
    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO")
    # assigned, not setStream(): that flushes the previous stream, which may be an earlier run's closed log file
    # (a StreamHandler flushes after every record, so nothing is left to flush)
    logger.registered_handler.stream = sys.stdout  # type: ignore[attr-defined]


def _reset_platform_caches() -> None:
    from cdp import wiring

    wiring.reset()
