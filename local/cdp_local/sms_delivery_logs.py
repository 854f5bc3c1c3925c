"""SNS SMS delivery status logs as a CloudWatch Logs subscription delivers them to Lambda, for the local stack and
the tests: moto's SNS writes no delivery logs, so these are built in the documented shapes ("Viewing Amazon
CloudWatch metrics and logs for SMS deliveries"; the awslogs payload: base64 of gzip of the JSON batch)."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

ACCOUNT_ID = "123456789012"


def log_group(region: str, success: bool) -> str:
    """The group SNS writes successes (or failures) of SMS sent by Publish to a phone number to."""
    group = f"sns/{region}/{ACCOUNT_ID}/DirectPublishToPhoneNumber"
    return group if success else f"{group}/Failure"


def delivery_status(message_id: str, destination: str, provider_response: str, success: bool, at: datetime) -> dict[str, Any]:
    """One log event's JSON, as SNS writes it."""
    delivery = {"mnc": 270 if success else 0, "destination": destination, "priceInUSD": 0.00645,
                "smsType": "Promotional", "mcc": 310 if success else 0, "providerResponse": provider_response,
                "dwellTimeMs": 599, "dwellTimeMsUntilDeviceAck": 1344}  # fmt: skip
    if success:
        delivery["phoneCarrier"] = "My Phone Carrier"
    return {
        "notification": {"messageId": message_id, "timestamp": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]},
        "delivery": delivery,
        "status": "SUCCESS" if success else "FAILURE",
    }


def subscription_event(group: str, messages: list[str], at: datetime, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """The Lambda event of a subscription filter on `group` carrying these log messages (raw strings)."""
    millis = int(at.timestamp() * 1000)
    batch = {
        "messageType": message_type,
        "owner": ACCOUNT_ID,
        "logGroup": group,
        "logStream": str(uuid.uuid4()),
        "subscriptionFilters": ["SmsDeliverySubscription"],
        "logEvents": [{"id": str(millis + index), "timestamp": millis, "message": message} for index, message in enumerate(messages)],
    }
    data = gzip.compress(json.dumps(batch, separators=(",", ":")).encode("utf-8"))
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}
