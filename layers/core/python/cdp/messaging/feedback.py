"""Email feedback from SES event publishing, applied to the send record, the suppression list and `messages` rows.

SES publishes one JSON record per event through the configuration set's SNS destination (the shape of "Contents of
event data that Amazon SES publishes to Amazon SNS"): `eventType` and `mail` (with `messageId`, `destination` and
the message's `tags`, each a list of values), plus one object named after the event. The sender tags every message
(SES EmailTags) with `profile_id` and `message_key` (`message_tag_value`: the key base64url-encoded, as tag values
allow only letters, digits, `_` and `-`); feedback finds the send record (`PROFILE#<id>` / `MESSAGE#<key>`) by them.

Per event: Delivery -> delivered, Open -> opened, Click -> clicked, Bounce -> bounced, Complaint -> complained,
Reject -> rejected (Send, Rendering Failure, DeliveryDelay and Subscription change nothing here). A Permanent bounce
suppresses each bounced recipient (`hard_bounce`) and a complaint each complaining one (`complaint`); a Transient
(soft) bounce, or one SES could not classify (Undetermined), is recorded but suppresses nobody, since the mailbox may
accept mail again. The suppression is written whatever else happens, as it protects the sender's reputation even for a
message with no send record.

Exactly once per message and event: the send record's `<event>_at` is set only if absent, and the `messages` row is
written before that mark, so a redelivered event (SNS and SQS deliver at least once) finds the mark and changes
nothing, while an attempt that failed before the mark is retried whole (its row may then repeat: rows are keyed by
message_key and event, which readers deduplicate on). Only the first open and first click of a message count.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cdp.messaging.ports import MessageEvents, SendRecordFeedback
from cdp.messaging.suppression import COMPLAINT, HARD_BOUNCE, Suppressions

PROFILE_TAG, MESSAGE_KEY_TAG = "profile_id", "message_key"
EVENTS = {
    "Delivery": "delivered",
    "Open": "opened",
    "Click": "clicked",
    "Bounce": "bounced",
    "Complaint": "complained",
    "Reject": "rejected",
}
KEY_PARTS = ("origin", "origin_name", "step", "occurrence")
RECORD_COLUMNS = ("variant", "channel", "purpose", "template")


def message_tag_value(message_key: str) -> str:
    """The `message_key` EmailTag value for a send key (SES tag values: letters, digits, `_`, `-`; <= 256)."""
    return base64.urlsafe_b64encode(message_key.encode("utf-8")).rstrip(b"=").decode("ascii")


def message_key_of_tag(value: str) -> str | None:
    """The send key a `message_key` tag names, or None when it does not decode to one."""
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return key if len(key.split("#")) >= len(KEY_PARTS) else None


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Mail(_Lenient):
    timestamp: AwareDatetime
    messageId: str = Field(min_length=1, max_length=256)
    destination: list[str] = []
    tags: dict[str, list[str]] = {}

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name) or []
        return values[0] if values else None


class Recipient(_Lenient):
    emailAddress: str


class Bounce(_Lenient):
    bounceType: Literal["Permanent", "Transient", "Undetermined"]
    bounceSubType: str = ""
    bouncedRecipients: list[Recipient]
    timestamp: AwareDatetime


class Complaint(_Lenient):
    complainedRecipients: list[Recipient]
    timestamp: AwareDatetime
    complaintFeedbackType: str = ""


class Timed(_Lenient):
    timestamp: AwareDatetime


class Click(Timed):
    link: str = ""


class Reject(_Lenient):
    reason: str = ""


class SesEvent(_Lenient):
    """One SES event publishing record (eventType and mail, and the object of its type)."""

    eventType: str = Field(min_length=1, max_length=32)
    mail: Mail
    bounce: Bounce | None = None
    complaint: Complaint | None = None
    delivery: Timed | None = None
    open: Timed | None = None
    click: Click | None = None
    reject: Reject | None = None

    def moment(self) -> datetime:
        """When the event happened (its own timestamp; a Reject has none, so the mail's)."""
        detail = self.bounce or self.complaint or self.delivery or self.open or self.click
        return detail.timestamp if detail is not None else self.mail.timestamp

    def reason(self) -> str:
        if self.bounce is not None:
            return f"{self.bounce.bounceType.lower()}:{self.bounce.bounceSubType}"
        if self.complaint is not None:
            return self.complaint.complaintFeedbackType or "complaint"
        if self.reject is not None:
            return self.reject.reason or "rejected"
        return EVENTS.get(self.eventType, self.eventType)


@dataclass(frozen=True)
class FeedbackParts:
    records: SendRecordFeedback
    suppressions: Suppressions
    events: MessageEvents


@dataclass(frozen=True)
class FeedbackOutcome:
    """What one event did: the `messages` event name (None when ignored), whether it was new, how many
    addresses it suppressed, and `untracked` when it named no send record of ours."""

    event: str | None
    applied: bool = False
    suppressed: int = 0
    untracked: bool = False


def _suppress(event: SesEvent, parts: FeedbackParts) -> int:
    if event.bounce is not None and event.bounce.bounceType == "Permanent":
        reason, recipients = HARD_BOUNCE, event.bounce.bouncedRecipients
    elif event.complaint is not None:
        reason, recipients = COMPLAINT, event.complaint.complainedRecipients
    else:
        return 0
    at = event.moment()
    return sum(parts.suppressions.added("email", recipient.emailAddress, reason, at) for recipient in recipients)


def message_row(record: dict[str, Any], message_key: str, event: str, reason: str, at: datetime, provider_id: str) -> dict[str, Any]:
    """The `messages` row of a feedback event, from the send record (origin and step from the key itself)."""
    origin, origin_name, step, occurrence = message_key.split("#", 3)
    return {
        "message_key": message_key,
        "profile_id": record.get("profile_id"),
        "origin": origin,
        "origin_name": origin_name,
        "step": step,
        "occurrence": occurrence,
        **{column: record.get(column) for column in RECORD_COLUMNS},
        "event": event,
        "reason": reason,
        "at": at,
        "provider_message_id": provider_id,
    }


def apply_email_feedback(event: SesEvent, parts: FeedbackParts) -> FeedbackOutcome:
    """Apply one SES event: suppress, then (once per message and event) the `messages` row and the record's mark."""
    name = EVENTS.get(event.eventType)
    if name is None:
        return FeedbackOutcome(None)
    suppressed = _suppress(event, parts)
    profile_id, tag = event.mail.tag(PROFILE_TAG), event.mail.tag(MESSAGE_KEY_TAG)
    message_key = message_key_of_tag(tag) if tag else None
    send = (profile_id, message_key) if profile_id and message_key else None
    return record_feedback(parts, send, name, event.reason(), event.moment(), event.mail.messageId, suppressed)


def record_feedback(
    parts: FeedbackParts, send: tuple[str, str] | None, name: str, reason: str, at: datetime, provider_id: str,
    suppressed: int,
) -> FeedbackOutcome:
    """Once per message and event: the `messages` row, then the send record's `<name>_at` mark (`send`: the record's
    profile id and request key, None when the feedback names no send of ours)."""
    record = parts.records.get(*send) if send else None
    if send is None or record is None:
        return FeedbackOutcome(name, suppressed=suppressed, untracked=True)
    if record.get(f"{name}_at"):
        return FeedbackOutcome(name, suppressed=suppressed)
    profile_id, message_key = send
    parts.events.record([message_row({**record, "profile_id": profile_id}, message_key, name, reason, at, provider_id)])
    applied = parts.records.mark(profile_id, message_key, name, at, {f"{name}_reason": reason})
    return FeedbackOutcome(name, applied=applied, suppressed=suppressed)
