"""SES feedback for the local stack: moto neither keeps a sent message's EmailTags and configuration set nor
publishes events, so this records both at SendEmail and emits, on request, the events SES would publish to the
configuration set's SNS destination (the shape of "Examples of event data that Amazon SES publishes to Amazon SNS").

The mailbox simulator decides what happens, as in SES: `bounce@simulator.amazonses.com` bounces (Permanent,
General), `suppressionlist@...` bounces (Permanent, OnAccountSuppressionList), `complaint@...` is delivered then
complained about, `ooto@...` and every other address are delivered (a `+label` in the local part is ignored).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from moto.sesv2.responses import SESV2Response

SIMULATOR_DOMAIN = "simulator.amazonses.com"
ACCOUNT_ID = "123456789012"


@dataclass
class SentEmail:
    """What SES knows of one SendEmail call: id, sender, recipients, tags and configuration set."""

    message_id: str
    source: str
    destination: list[str]
    tags: dict[str, list[str]]
    configuration_set: str | None
    sent_at: datetime
    events_emitted: bool = False


@dataclass
class SentEmails:
    emails: list[SentEmail] = field(default_factory=list)


@contextmanager
def recording_sent_emails(sink: SentEmails) -> Iterator[None]:
    """Keep every SESv2 SendEmail's tags and configuration set beside moto's own record of the message."""
    original = SESV2Response.send_email

    def send_email(response: SESV2Response) -> str:
        answer = original(response)
        params = json.loads(response.body)
        destination = params.get("Destination", {})
        sink.emails.append(
            SentEmail(
                message_id=json.loads(answer)["MessageId"],
                source=params.get("FromEmailAddress", ""),
                destination=[*destination.get("ToAddresses", []), *destination.get("CcAddresses", []),
                             *destination.get("BccAddresses", [])],
                tags={tag["Name"]: [tag["Value"]] for tag in params.get("EmailTags", [])},
                configuration_set=params.get("ConfigurationSetName"),
                sent_at=datetime.now(UTC),
            )
        )
        return answer

    with mock.patch.object(SESV2Response, "send_email", send_email):
        yield


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def mail_object(email: SentEmail, region: str) -> dict[str, Any]:
    """The `mail` object of every event of this message."""
    sender_domain = email.source.rsplit("@", 1)[-1]
    return {
        "timestamp": _time(email.sent_at),
        "source": email.source,
        "sourceArn": f"arn:aws:ses:{region}:{ACCOUNT_ID}:identity/{email.source}",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": email.message_id,
        "destination": email.destination,
        "headersTruncated": False,
        "headers": [{"name": "From", "value": email.source}, {"name": "To", "value": ", ".join(email.destination)}],
        "commonHeaders": {"from": [email.source], "to": email.destination, "messageId": email.message_id},
        "tags": {
            "ses:configuration-set": [email.configuration_set or ""],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": [sender_domain],
            "ses:caller-identity": ["local"],
            **email.tags,
        },
    }


def delivery_event(email: SentEmail, region: str, recipients: list[str], at: datetime) -> dict[str, Any]:
    return {
        "eventType": "Delivery",
        "mail": mail_object(email, region),
        "delivery": {"timestamp": _time(at), "processingTimeMillis": 1200, "recipients": recipients,
                     "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-70.smtp-out.amazonses.com"},
    }


def bounce_event(
    email: SentEmail, region: str, recipients: list[str], at: datetime, bounce_type: str = "Permanent",
    sub_type: str = "General",
) -> dict[str, Any]:
    status, code = ("5.1.1", "smtp; 550 5.1.1 user unknown") if bounce_type == "Permanent" else ("4.2.2", "smtp; 452 4.2.2 mailbox full")
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {"emailAddress": recipient, "action": "failed", "status": status, "diagnosticCode": code}
                for recipient in recipients
            ],
            "timestamp": _time(at),
            "feedbackId": f"{uuid.uuid4().hex}-000000",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": mail_object(email, region),
    }


def complaint_event(email: SentEmail, region: str, recipients: list[str], at: datetime) -> dict[str, Any]:
    return {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": recipient} for recipient in recipients],
            "timestamp": _time(at),
            "feedbackId": f"{uuid.uuid4().hex}-000000",
            "userAgent": "Mozilla/5.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": _time(at),
        },
        "mail": mail_object(email, region),
    }


def simulated_events(email: SentEmail, region: str) -> list[dict[str, Any]]:
    """The events SES's mailbox simulator produces for this message's recipients."""
    at = email.sent_at + timedelta(seconds=2)
    events: list[dict[str, Any]] = []
    for recipient in email.destination:
        local, _, domain = recipient.lower().rpartition("@")
        mailbox = local.split("+", 1)[0] if domain == SIMULATOR_DOMAIN else ""
        if mailbox == "bounce":
            events.append(bounce_event(email, region, [recipient], at))
        elif mailbox == "suppressionlist":
            events.append(bounce_event(email, region, [recipient], at, sub_type="OnAccountSuppressionList"))
        else:
            events.append(delivery_event(email, region, [recipient], at))
            if mailbox == "complaint":
                events.append(complaint_event(email, region, [recipient], at + timedelta(seconds=1)))
    return events
