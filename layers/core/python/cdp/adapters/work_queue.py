"""Sends work to an SQS queue that a Lambda event source consumes (one JSON message per unit of work)."""

from __future__ import annotations

import json
from typing import Any

from cdp.adapters.clients import client


def send_json(queue_url: str, body: dict[str, Any]) -> None:
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(body, default=str))
