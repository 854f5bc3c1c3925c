"""Starting Step Functions executions (the large-file path)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client


def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start a named execution; the same name again (a redelivery) returns the existing execution's ARN."""
    try:
        return client("stepfunctions").start_execution(  # type: ignore[no-any-return]
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )["executionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
