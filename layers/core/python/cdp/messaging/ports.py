"""What messaging needs from AWS: a sender of raw MIME email and of SMS text, each returning the provider's id."""

from __future__ import annotations

from typing import Protocol


class MessageSender(Protocol):
    def send_email(self, sender: str, recipient: str, raw_mime: bytes) -> str: ...

    def send_sms(self, phone_number: str, text: str) -> str: ...
