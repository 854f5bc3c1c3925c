"""SMS delivery status from SNS, applied to the send record, the suppression list and `messages` rows.

SNS SMS delivery status logging writes one JSON log event per SMS to CloudWatch Logs, in the groups
`sns/<region>/<account>/DirectPublishToPhoneNumber` (successes, sampled by DeliveryStatusSuccessSamplingRate) and
`.../DirectPublishToPhoneNumber/Failure` (every failure), shaped as "Viewing Amazon CloudWatch metrics and logs for
SMS deliveries" shows: `notification` {`messageId`, `timestamp` "YYYY-MM-DD HH:MM:SS.mmm" UTC}, `delivery`
{`destination`, `providerResponse`, `phoneCarrier`, `mcc`, `mnc`, `priceInUSD`, `smsType`, `dwellTimeMs`,
`dwellTimeMsUntilDeviceAck`} and `status` SUCCESS or FAILURE. The log names no profile: the send record is found by
the SNS message id, which the sending service stores as the record's `provider_message_id`.

SUCCESS -> `delivered`; FAILURE -> `bounced`, with the reason `permanent:<providerResponse>` when the response says
the number itself will never take our SMS (then the number is suppressed: `sms_opt_out` for an opted-out number,
`hard_bounce` for the others), else `transient:<providerResponse>` (unreachable now, carrier or spam filters, price
limit, the message body: the number may take the next SMS). Exactly once per message and event, as email feedback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cdp.messaging.feedback import FeedbackOutcome, FeedbackParts, record_feedback
from cdp.messaging.suppression import HARD_BOUNCE, SMS_OPT_OUT

# The documented providerResponse values ("SMS delivery failure reasons") that say the number cannot take SMS from
# us again, with the suppression each earns; older wordings of the same reasons ("blacklisted") included.
PERMANENT_RESPONSES = {
    "Phone number is opted out": SMS_OPT_OUT,
    "Invalid phone number": HARD_BOUNCE,
    "Destination is on a blocked list": HARD_BOUNCE,
    "Destination is blacklisted": HARD_BOUNCE,
    "Phone is on a blocked list": HARD_BOUNCE,
    "Phone is blacklisted": HARD_BOUNCE,
    "Phone has blocked SMS": HARD_BOUNCE,
}
MAX_RESPONSE_CHARS = 256


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Notification(_Lenient):
    messageId: str = Field(min_length=1, max_length=100)
    timestamp: datetime

    @field_validator("timestamp", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """SNS writes UTC without an offset ("2016-06-28 00:40:34.558")."""
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class Delivery(_Lenient):
    destination: str = Field(min_length=1, max_length=32)
    providerResponse: str = Field(default="", max_length=1024)
    phoneCarrier: str | None = None
    smsType: str | None = None


class SmsDeliveryStatus(_Lenient):
    """One SNS SMS delivery status log event."""

    notification: Notification
    delivery: Delivery
    status: Literal["SUCCESS", "FAILURE"]

    def suppression(self) -> str | None:
        """The suppression reason a failure earns the number, or None (a success, or a passing failure)."""
        return PERMANENT_RESPONSES.get(self.delivery.providerResponse.strip()) if self.status == "FAILURE" else None

    def event(self) -> str:
        return "delivered" if self.status == "SUCCESS" else "bounced"

    def reason(self) -> str:
        response = self.delivery.providerResponse.strip()[:MAX_RESPONSE_CHARS]
        if self.status == "SUCCESS":
            return response or "delivered"
        return f"{'permanent' if self.suppression() else 'transient'}:{response}"


def apply_sms_delivery_status(status: SmsDeliveryStatus, parts: FeedbackParts) -> FeedbackOutcome:
    """Suppress the number if the failure is permanent, then (once per message and event) write the `messages` row
    and mark the send record."""
    at, name, reason = status.notification.timestamp, status.event(), status.reason()
    suppression = status.suppression()
    suppressed = 0
    if suppression is not None:
        suppressed = int(parts.suppressions.added("sms", status.delivery.destination, suppression, at))
    provider_id = status.notification.messageId
    return record_feedback(parts, parts.records.find(provider_id), name, reason, at, provider_id, suppressed)
