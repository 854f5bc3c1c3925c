"""The delivery channels behind the `Channel` port: email through SES v2 (raw MIME, a configuration set for
feedback events), SMS through SNS, app push through SNS mobile push, and a signed webhook (any provider, e.g.
WeChat or WeCom template messages through a relay). A provider's refusal becomes `ProviderError` with its code."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

from botocore.exceptions import ClientError

from cdp.adapters.clients import client
from cdp.messaging.ports import ProviderError, RenderedMessage

PASSING_ERRORS = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
                            "ServiceUnavailable", "InternalFailure", "KMSThrottlingException"})  # fmt: skip
# URLs in List-Unsubscribe must stay readable, not RFC 2047-encoded by folding (RFC 5322 allows 998 chars).
UNFOLDED_HEADERS = policy.SMTP.clone(max_line_length=998)
SIGNATURE_HEADER = "X-CDP-Signature"
TIMESTAMP_HEADER = "X-CDP-Timestamp"


@contextmanager
def provider_errors() -> Iterator[None]:
    """AWS errors as `ProviderError` (raised before anything was accepted, so nothing went out)."""
    try:
        yield
    except ClientError as error:
        code = error.response["Error"]["Code"]
        raise ProviderError(code, retryable=code in PASSING_ERRORS) from error


def email_message(sender: str, recipient: str, rendered: RenderedMessage) -> bytes:
    """Raw MIME, text and HTML alternatives; with an unsubscribe URL, the RFC 2369 List-Unsubscribe and RFC 8058
    one-click List-Unsubscribe-Post headers."""
    message = EmailMessage(policy=UNFOLDED_HEADERS)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if rendered.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes()


class SesEmail:
    """Email through SES v2 `SendEmail` with raw MIME (so the one-click unsubscribe headers are ours)."""

    def __init__(self, sender: str, configuration_set: str) -> None:
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, address: str, rendered: RenderedMessage) -> str:
        with provider_errors():
            response = client("sesv2").send_email(
                FromEmailAddress=self.sender,
                Destination={"ToAddresses": [address]},
                Content={"Raw": {"Data": email_message(self.sender, address, rendered)}},
                ConfigurationSetName=self.configuration_set,
            )
        return str(response["MessageId"])


class SnsSms:
    """SMS through SNS `Publish` to a phone number (SNS honours its opt-out list: STOP replies)."""

    def __init__(self, sms_type: str = "Promotional") -> None:
        self.sms_type = sms_type

    def send(self, address: str, rendered: RenderedMessage) -> str:
        with provider_errors():
            response = client("sns").publish(
                PhoneNumber=address,
                Message=rendered.text,
                MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": self.sms_type}},
            )
        return str(response["MessageId"])


class SnsPush:
    """App push through SNS mobile push: `Publish` to the person's platform endpoint ARN (APNs and FCM bodies)."""

    def send(self, address: str, rendered: RenderedMessage) -> str:
        notification = {"title": rendered.subject, "body": rendered.text}
        message = {
            "default": rendered.text,
            "APNS": json.dumps({"aps": {"alert": notification}}),
            "GCM": json.dumps({"notification": notification}),
        }
        with provider_errors():
            response = client("sns").publish(TargetArn=address, Message=json.dumps(message), MessageStructure="json")
        return str(response["MessageId"])


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 with the shared secret over `<timestamp>.<body>` (the receiver recomputes it and
    refuses old timestamps, so a captured call cannot be replayed later)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class SignedWebhook:
    """POSTs `{"message_id", "address", "subject", "text"}` as JSON to the shop's endpoint, signed with a secret read
    on each send through `secret` (cached by the caller, so a rotated secret is picked up)."""

    def __init__(self, url: str, secret: Callable[[], str], timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout_seconds = timeout_seconds

    def send(self, address: str, rendered: RenderedMessage) -> str:
        message_id = hashlib.sha256(f"{address}:{time.time_ns()}".encode()).hexdigest()[:32]
        body = json.dumps({"message_id": message_id, "address": address, "subject": rendered.subject,
                           "text": rendered.text}).encode()  # fmt: skip
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                     SIGNATURE_HEADER: webhook_signature(self.secret(), timestamp, body)},  # fmt: skip
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310 (https URL)
                response.read()
        except urllib.error.HTTPError as error:  # the receiver answered: it refused the message
            raise ProviderError(f"http_{error.code}", retryable=error.code == 429 or error.code >= 500) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):  # nothing reached the receiver
                raise ProviderError("unreachable", retryable=True) from error
            raise  # a timeout or a dropped connection: whether it arrived is unknown
        return message_id
