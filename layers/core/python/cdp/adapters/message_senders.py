"""Delivery adapters: email through SES (v2 API, raw MIME) and SMS through SNS."""

from __future__ import annotations

from cdp.adapters.clients import client


def send_email(sender: str, recipient: str, raw_mime: bytes) -> str:
    response = client("sesv2").send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": [recipient]},
        Content={"Raw": {"Data": raw_mime}},
    )
    return response["MessageId"]


def send_sms(phone_number: str, text: str) -> str:
    response = client("sns").publish(
        PhoneNumber=phone_number,
        Message=text,
        MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Promotional"}},
    )
    return response["MessageId"]
